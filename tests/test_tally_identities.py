"""The exactly-once tally's identity set: exact like a ``set``, compact for integer ids."""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from task_runner.http.tally import IdentitySet, Tally

identities = st.one_of(
    st.integers(),  # within and beyond 64 bits
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=0, max_value=10_000),
    st.text(max_size=8),
    st.tuples(st.just("float"), st.floats(allow_nan=False)),
)


@given(st.lists(identities, max_size=300))
def test_identity_set_behaves_exactly_like_a_set(values: list[object]) -> None:
    seen = IdentitySet()
    reference: set[object] = set()
    for value in values:
        assert seen.add(value) is (value not in reference)
        reference.add(value)
        assert value in seen
    assert len(seen) == len(reference)


def test_int_and_str_and_boundaries_stay_apart() -> None:
    seen = IdentitySet()
    for value in (5, "5", 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0, -1):
        assert seen.add(value)
    for value in (5, "5", 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0, -1):
        assert not seen.add(value)
    assert 6 not in seen and "6" not in seen and 2**64 not in seen
    assert len(seen) == 8


def test_colliding_low_bits_are_told_apart() -> None:
    seen = IdentitySet()
    same_shard = [n * IdentitySet.SHARDS + 7 for n in range(500)]
    for value in reversed(same_shard):
        assert seen.add(value)
    assert all(value in seen for value in same_shard)
    assert all(value + 1 not in seen for value in same_shard)


def test_100k_integer_ids_cost_about_9_bytes_each() -> None:
    ids = [int(str(n)) for n in range(10**9, 10**9 + 100_000)]  # fresh int objects
    tracemalloc.start()
    try:
        seen = IdentitySet()
        for value in ids:
            seen.add(value)
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seen) == 100_000
    assert size < 2_000_000  # a set of the same ints: about 4 MB of table alone


def test_tally_drops_repeats_of_integer_and_string_ids() -> None:
    tally = Tally(key="id")
    first = tally.admit(1, [{"id": 1}, {"id": "1"}, {"id": 2**70}], {})
    again = tally.admit(2, [{"id": 1}, {"id": "1"}, {"id": 2**70}, {"id": 3}], {})
    assert len(first) == 3 and again == [{"id": 3}]
    assert tally.duplicates_dropped == 3
    assert tally.knows({"id": 3}) and not tally.knows({"id": 4})
