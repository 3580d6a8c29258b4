"""Secrets are masked in the strings of JSONL items, never in the JSON text.

Masking the serialised text missed secrets holding ``"`` or ``\\`` (they appear escaped)
and, for a short secret such as ``4032``, turned ``"size": 4032`` into invalid JSON in a
run that still exited 0. Every line written must parse, equal the item with secrets in
its strings replaced by ``***``, and keep numbers, booleans and ``null`` as they were.
"""

from __future__ import annotations

import itertools
import json
import logging
import string
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task_runner.http.sink import JsonlSink
from task_runner.redact import MASK, SAFE_SECRET_LENGTH, Redactor


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == logging.WARNING]


@pytest.fixture
def redact_log() -> Iterator[Records]:
    """Warnings of ``task_runner.redact``, caught on the logger itself: the CLI turns
    propagation off on ``task_runner``, which would hide them from ``caplog``."""
    logger = logging.getLogger("task_runner.redact")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
    return dict(pairs)


def write(path: Path, redactor: Redactor, items: list[Any]) -> tuple[str, list[Any]]:
    """Write ``items`` through a sink; the file's text and every line, parsed."""
    with JsonlSink(path, redactor=redactor) as sink:
        sink.write_all(items)
    text = path.read_text(encoding="utf-8")
    # split("\n"), not splitlines(): U+2028 and friends are left raw inside strings.
    lines = text.split("\n")
    assert lines[-1] == ""
    return text, [json.loads(line, object_pairs_hook=no_duplicate_keys) for line in lines[:-1]]


@pytest.mark.parametrize(
    "secret", ['ab"cd"ef', "C:\\path\\secret", "tab\there\nnewline"], ids=["quote", "bs", "ctl"]
)
def test_secret_that_json_escapes_is_masked_and_the_line_stays_valid(
    tmp_path: Path, secret: str
) -> None:
    redactor = Redactor([secret])
    text, [line] = write(tmp_path / "o.jsonl", redactor, [{"note": f"x {secret} y", "n": 7}])
    assert line == {"note": f"x {MASK} y", "n": 7}
    assert json.dumps(secret)[1:-1] not in text


def test_short_secret_masks_strings_only_and_is_warned_about(
    tmp_path: Path, redact_log: Records
) -> None:
    redactor = Redactor()
    redactor.add("4032", source="auth.client_secret")
    items = [{"id": 4032, "size": 4032, "name": "IMG_4032.jpg", "ok": True, "x": None}] * 3
    _, lines = write(tmp_path / "o.jsonl", redactor, items)
    assert lines == [{"id": 4032, "size": 4032, "name": "IMG_***.jpg", "ok": True, "x": None}] * 3
    assert all(type(line["id"]) is int for line in lines)
    [warning] = redact_log.warnings
    assert "4 characters" in warning and "auth.client_secret" in warning
    assert str(SAFE_SECRET_LENGTH) in warning
    assert "4032" not in warning
    redactor.add("4032", source="auth.client_secret")
    assert len(redact_log.warnings) == 1, "warned once per value"


def test_long_secret_draws_no_warning(redact_log: Records) -> None:
    Redactor().add("x" * SAFE_SECRET_LENGTH)
    assert redact_log.warnings == []


def test_secret_too_short_to_mask_is_warned_about_once(redact_log: Records) -> None:
    redactor = Redactor()
    redactor.add("abc", source="secrets.PIN")
    redactor.add("abc", source="secrets.PIN")
    [warning] = redact_log.warnings
    assert "too short to mask" in warning and "secrets.PIN" in warning
    assert "abc" not in warning
    assert "abc" not in redactor


def test_secret_spanning_json_syntax_leaves_it_alone(tmp_path: Path) -> None:
    items = [{"a": 1, "b": 2}, {"a": "1", "b": [1, "b"]}]
    _, lines = write(tmp_path / "o.jsonl", Redactor(['1,"b', "1},{"]), items)
    assert lines == items


def test_secret_equal_to_a_key_name_masks_the_key(tmp_path: Path) -> None:
    _, [line] = write(tmp_path / "o.jsonl", Redactor(["password"]), [{"password": "x", "n": 1}])
    assert line == {MASK: "x", "n": 1}


@pytest.mark.parametrize(
    "item, expected, collides",
    [
        ({"k-SECRET1": 1, "***": 2}, {"k-***": 1, "***": 2}, False),
        ({"SECRET1": 1, "***": 2}, {"***#2": 1, "***": 2}, True),
        ({"***": 2, "SECRET1": 1}, {"***": 2, "***#2": 1}, True),
        ({"SECRET1": 1, "SECRET2": 2, "***#2": 3}, {"***": 1, "***#3": 2, "***#2": 3}, True),
    ],
    ids=["no-collision", "masked-first", "masked-last", "chain"],
)
def test_keys_that_masking_makes_equal_are_all_kept(
    tmp_path: Path,
    redact_log: Records,
    item: dict[str, int],
    expected: dict[str, int],
    collides: bool,
) -> None:
    redactor = Redactor(["SECRET1", "SECRET2"])
    _, [line] = write(tmp_path / "o.jsonl", redactor, [item])
    assert list(line.items()) == list(expected.items())
    assert any("keys" in w for w in redact_log.warnings) is collides


def test_nested_strings_are_masked(tmp_path: Path) -> None:
    secret = "nested-secret-9"
    item = {
        "a": [{"b": [f"x {secret}", 5, 5.5]}, secret],
        "c": {"d": {"e": secret, secret: [secret]}},
    }
    text, [line] = write(tmp_path / "o.jsonl", Redactor([secret]), [item])
    assert line == {"a": [{"b": ["x ***", 5, 5.5]}, MASK], "c": {"d": {"e": MASK, MASK: [MASK]}}}
    assert secret not in text


def test_unicode_secret_is_masked_and_other_text_stays_unescaped(tmp_path: Path) -> None:
    secret = "pässwörd1"
    text, [line] = write(
        tmp_path / "o.jsonl", Redactor([secret]), [{"note": f"pw={secret}", "city": "Zürich"}]
    )
    assert line == {"note": "pw=***", "city": "Zürich"}
    assert "Zürich" in text  # ensure_ascii=False: written as it is


def test_escaped_forms_are_found_with_ensure_ascii_on_too() -> None:
    redactor = Redactor(["pässwörd1"])
    assert redactor.json_secret_offsets(json.dumps({"k": "pässwörd1"}, ensure_ascii=True))
    assert redactor.json_secret_offsets(json.dumps({"k": "pässwörd1"}, ensure_ascii=False))
    assert not redactor.json_secret_offsets(json.dumps({"k": "passwoerd1"}))


def test_masking_repeats_until_no_secret_is_left() -> None:
    # "x" + "abcd" masks to "x***", itself a secret.
    redactor = Redactor(["abcd", "x***"])
    assert redactor.redact_json_value({"k": "xabcd"}) == {"k": MASK}


def test_redact_obj_leaves_numbers_and_number_keys_alone() -> None:
    redactor = Redactor(["4032"])
    data = {4032: 4032, "n": "4032", "f": 4032.0, "t": (4032, "a4032")}
    assert redactor.redact_obj(data) == {4032: 4032, "n": MASK, "f": 4032.0, "t": [4032, "a***"]}


def test_write_write_page_and_write_all_agree(tmp_path: Path) -> None:
    redactor = Redactor(["agree-secret"])
    items = [{"i": i, "s": "agree-secret" if i % 3 else "plain"} for i in range(7)]
    texts = []
    for name, how in [
        ("write", lambda sink: [sink.write(item) for item in items]),
        (
            "page",
            lambda sink: (
                sink.write_page(items[:3]),
                sink.write_page([]),
                sink.write_page(items[3:]),
            ),
        ),
        ("all", lambda sink: sink.write_all(iter(items))),
    ]:
        with JsonlSink(tmp_path / f"{name}.jsonl", redactor=redactor) as sink:
            how(sink)
        assert sink.count == len(items)
        texts.append((tmp_path / f"{name}.jsonl").read_text(encoding="utf-8"))
    assert texts[0] == texts[1] == texts[2]
    assert texts[0].count("\n") == 7 and texts[0].count(MASK) == 4


def test_write_all_batches_a_long_iterable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("task_runner.http.sink.BATCH_SIZE", 4)
    redactor = Redactor(["batch-secret"])
    items = ({"i": i, "s": f"{i} batch-secret"} for i in range(10))
    _, lines = write(tmp_path / "o.jsonl", redactor, list(items))
    assert lines == [{"i": i, "s": f"{i} ***"} for i in range(10)]


def test_secrets_added_from_other_threads_while_pages_are_written(tmp_path: Path) -> None:
    # Switch threads as often as possible, so that two ``add`` calls interleave.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    redactor = Redactor(["first-secret-0001"])
    later = [[f"later-{t}-secret-{i:04d}" for i in range(1000)] for t in range(3)]

    def add_all(values: list[str]) -> None:
        for value in values:
            redactor.add(value)

    adders = [threading.Thread(target=add_all, args=(values,)) for values in later]
    item = {"note": f"first-secret-0001 {later[0][-1]} {later[1][-1]} {later[2][-1]}"}
    try:
        for adder in adders:
            adder.start()
        with JsonlSink(tmp_path / "o.jsonl", redactor=redactor) as sink:
            while any(adder.is_alive() for adder in adders):
                sink.write_page([item] * 20)
            sink.write_page([item])
    finally:
        for adder in adders:
            adder.join()
        sys.setswitchinterval(interval)
    # No registration lost to a concurrent one, and every page consistent.
    assert all(value in redactor for values in later for value in values)
    text = (tmp_path / "o.jsonl").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(line["note"].startswith(f"{MASK} ") for line in lines)
    assert lines[-1]["note"] == " ".join([MASK] * 4)  # written after the last add


# Property: any JSON-like item, any secrets. Strings are often built around a secret,
# numbers often equal a secret made of digits, keys often collide once masked.
SECRETS = st.lists(
    st.text(min_size=4, max_size=12)
    | st.integers(1000, 10**6).map(str)
    | st.text(alphabet='"\\\n\x00é,:{}[]* ' + string.ascii_letters, min_size=4, max_size=8),
    min_size=1,
    max_size=3,
)


def json_items(secrets: list[str]) -> st.SearchStrategy[Any]:
    around = st.builds(
        lambda a, s, b: a + s + b,
        st.text(max_size=5),
        st.sampled_from(secrets),
        st.text(max_size=5),
    )
    texts = st.text(max_size=20) | around | st.sampled_from([MASK, f"{MASK}#2"])
    numbers = [int(s) for s in secrets if s.isascii() and s.isdigit()]
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | texts
        | (st.sampled_from(numbers) if numbers else st.nothing())
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=12,
    )


def assert_masked(redactor: Redactor, original: Any, written: Any) -> None:
    if isinstance(original, dict):
        assert isinstance(written, dict) and len(written) == len(original)
        for (key, value), (out_key, out_value) in zip(
            original.items(), written.items(), strict=True
        ):
            assert_masked_string(redactor, key, out_key, renamed=True)
            assert_masked(redactor, value, out_value)
    elif isinstance(original, list):
        assert isinstance(written, list) and len(written) == len(original)
        for value, out_value in zip(original, written, strict=True):
            assert_masked(redactor, value, out_value)
    elif isinstance(original, str):
        assert_masked_string(redactor, original, written, renamed=False)
    else:
        assert type(written) is type(original) and written == original


def assert_masked_string(redactor: Redactor, original: str, written: str, *, renamed: bool) -> None:
    assert isinstance(written, str)
    assert not redactor.contains_secret(written), (original, written)
    if not redactor.contains_secret(original):
        assert written == original
    elif not renamed:
        assert MASK in written


counter = itertools.count()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), secrets=SECRETS)
def test_any_item_any_secret_writes_valid_json_with_strings_masked(
    tmp_path: Path, data: st.DataObject, secrets: list[str]
) -> None:
    items = data.draw(st.lists(json_items(secrets), max_size=5))
    redactor = Redactor(secrets)
    _, lines = write(tmp_path / f"{next(counter)}.jsonl", redactor, items)
    assert len(lines) == len(items)
    for item, line in zip(items, lines, strict=True):
        assert_masked(redactor, item, line)
        for text in strings(line):
            assert not any(secret in text for secret in secrets), text


def strings(value: Any) -> Iterator[str]:
    """Every decoded string in ``value``, keys too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_dumps_masks_strings_never_the_json_text() -> None:
    """What ``--output json``, the history, recordings and HAR files are written with."""
    redactor = Redactor(["4032", 'q"u\\ote'])
    text = redactor.dumps({"id": 4032, "name": "IMG_4032.jpg", "note": 'a q"u\\ote b'}, indent=2)
    assert json.loads(text) == {"id": 4032, "name": "IMG_***.jpg", "note": "a *** b"}
    assert redactor.dumps(ValueError("token 4032 refused")) == '"token *** refused"'


def test_sinks_are_registered_by_name(tmp_path: Path) -> None:
    from task_runner.errors import OutputError
    from task_runner.http.sink import SINKS, make_sink

    sink = make_sink("jsonl", str(tmp_path / "x.jsonl")).open()
    sink.write_all([{"id": 1}])
    sink.commit()
    assert (tmp_path / "x.jsonl").read_text() == '{"id":1}\n'
    assert "jsonl" in SINKS
    with pytest.raises(OutputError, match=r"unknown output kind 'nosuchkind'.*jsonl"):
        make_sink("nosuchkind", "x")  # (parquet is a kind now: task_runner/sinks/parquet.py)
