"""Emulator fault injection: the spec parser (with hypothesis) and every fault kind over
real loopback HTTP."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from task_runner.emulator import MAIN_COMPANY_ID, Emulator, FaultSpec, parse_faults
from task_runner.emulator.faults import FAULT_KINDS, FaultRule, Selector
from task_runner.errors import UsageError
from task_runner.http.clock import FakeClock
from tests.support import emulator_token, grant_token

IMAGES = "/rest/v1.0/images"


@pytest.fixture
def em() -> Iterator[Emulator]:
    with Emulator(seed=1, images=30, clock=FakeClock(1_750_000_000.0).time) as emulator:
        yield emulator


def get(em: Emulator, tok: str, session: Any = requests, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {tok}", "Procore-Company-Id": str(MAIN_COMPANY_ID)}
    kwargs.setdefault("timeout", 5)
    return session.get(  # type: ignore[no-any-return]
        em.base_url + IMAGES, params={"project_id": 777, "per_page": 10}, headers=headers, **kwargs
    )


# --- parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "index", "kind"),
    [
        ("503:retry-after=2@3", 3, "503"),
        ("503:retry-after=2@3", 2, None),
        ("reset@2-3", 3, "reset"),
        ("reset@2-3", 4, None),
        ("500@4-", 40, "500"),
        ("429@every=4", 8, "429"),
        ("429@every=4", 9, None),
        ("502@1,5", 5, "502"),
        ("invalid-json", 17, "invalid-json"),
        ("reset@1;504@1-2", 1, "reset"),
        ("reset@1;504@1-2", 2, "504"),
        ("500@p=1", 9, "500"),
        ("500@p=0", 9, None),
    ],
)
def test_spec_selection(spec: str, index: int, kind: str | None) -> None:
    rule = parse_faults(spec).pick(index)
    assert (rule.kind if rule else None) == kind


def test_params_are_kept() -> None:
    rule = parse_faults("redirect:to=http://elsewhere.test:9/x,status=307@2").rules[0]
    assert rule.param("to") == "http://elsewhere.test:9/x" and rule.number("status") == 307


def test_probability_is_deterministic_by_seed() -> None:
    spec = parse_faults("503@p=0.3")
    first = [spec.pick(i, seed=5) is not None for i in range(1, 200)]
    assert first == [spec.pick(i, seed=5) is not None for i in range(1, 200)]
    assert 20 < sum(first) < 100
    assert first != [spec.pick(i, seed=6) is not None for i in range(1, 200)]


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("418@1", "unknown fault '418'"),
        ("503@zero", "'zero' is not a request number"),
        ("503@5-2", "ends before it starts"),
        ("503@", "nothing after '@'"),
        ("slow:pause=3", "takes no parameter 'pause'"),
        ("slow:delay=-1", "delay='-1'"),
        ("503:retry-after", "not NAME=VALUE"),
        ("500@p=1.5", "not between 0 and 1"),
        ("reset@1;bogus", "'bogus'"),
        ("redirect:on=token", "cannot apply on=token"),
        ("500:on=elsewhere", "cannot apply on=elsewhere"),
    ],
)
def test_invalid_specs_name_the_bad_part(spec: str, bad: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_faults(spec)
    assert bad in str(info.value)


_selectors = st.one_of(
    st.just(Selector()),
    st.integers(1, 50).map(lambda n: Selector(first=n, last=n)),
    st.tuples(st.integers(1, 50), st.integers(0, 20)).map(
        lambda t: Selector(first=t[0], last=t[0] + t[1])
    ),
    st.integers(2, 50).map(lambda n: Selector(first=n)),
    st.integers(1, 9).map(lambda n: Selector(every=n)),
    st.frozensets(st.integers(1, 50), min_size=2, max_size=4).map(lambda s: Selector(indices=s)),
    st.sampled_from([0.0, 0.25, 0.5, 1.0]).map(lambda p: Selector(probability=p)),
)


@st.composite
def _rules(draw: st.DrawFn) -> FaultRule:
    kind = draw(st.sampled_from(sorted(k for k in FAULT_KINDS if k != "redirect")))
    names = (
        draw(st.lists(st.sampled_from(sorted(FAULT_KINDS[kind])), unique=True))
        if FAULT_KINDS[kind]
        else []
    )
    params = tuple((n, str(draw(st.integers(0, 99)))) for n in names)
    return FaultRule(kind, params, draw(_selectors))


@given(st.lists(_rules(), min_size=1, max_size=4))
def test_spec_text_round_trips(rules: list[FaultRule]) -> None:
    spec = FaultSpec(tuple(rules))
    again = parse_faults(str(spec))
    assert [str(r) for r in again.rules] == [str(r) for r in spec.rules]
    for index in range(1, 60):
        assert str(again.pick(index, seed=3)) == str(spec.pick(index, seed=3))


@given(st.text(max_size=40))
def test_parser_never_raises_anything_but_usage_error(text: str) -> None:
    try:
        parse_faults(text)
    except UsageError:
        pass


# --- each fault over HTTP -------------------------------------------------------------


def test_503_with_retry_after_on_the_third_request(em: Emulator) -> None:
    em.set_faults("503:retry-after=2@3")
    tok = emulator_token(em)
    statuses = [get(em, tok) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 503, 200]
    assert statuses[2].headers["Retry-After"] == "2"
    assert [r.fault for r in em.request_log if r.path == IMAGES][2] == "503:retry-after=2@3"


def test_429_with_only_rate_limit_reset(em: Emulator) -> None:
    em.set_faults("429:reset=7@1")
    r = get(em, emulator_token(em))
    assert r.status_code == 429 and r.headers["Content-Type"].startswith("text/plain")
    assert "Retry-After" not in r.headers
    assert r.headers["X-Rate-Limit-Remaining"] == "0"
    assert r.headers["X-Rate-Limit-Reset"] == str(int(em.clock() + 7))


def test_429_with_retry_after_as_http_date(em: Emulator) -> None:
    em.set_faults("429:retry-after-date=30@1")
    r = get(em, emulator_token(em))
    when = email.utils.parsedate_to_datetime(r.headers["Retry-After"])
    assert when.timestamp() == int(em.clock() + 30)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors(em: Emulator, status: int) -> None:
    em.set_faults(f"{status}@1")
    tok = emulator_token(em)
    assert get(em, tok).status_code == status
    assert get(em, tok).status_code == 200


def test_reset_closes_without_a_response_and_the_next_request_works(em: Emulator) -> None:
    em.set_faults("reset@1")
    tok = emulator_token(em)
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            get(em, tok, session)
        assert get(em, tok, session).status_code == 200
    assert [r.status for r in em.request_log if r.path == IMAGES] == [0, 200]


def test_slow_response_trips_a_read_timeout(em: Emulator) -> None:
    em.set_faults("slow:delay=3@1")
    with pytest.raises(requests.ReadTimeout):
        get(em, emulator_token(em), timeout=(2, 0.2))


def test_truncated_body_is_an_error_for_the_client(em: Emulator) -> None:
    em.set_faults("truncate@1")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(em, emulator_token(em))


def test_invalid_json_with_status_200(em: Emulator) -> None:
    em.set_faults("invalid-json@1")
    r = get(em, emulator_token(em))
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


def test_oversize_pads_a_valid_body(em: Emulator) -> None:
    em.set_faults("oversize:bytes=200000@1")
    r = get(em, emulator_token(em))
    assert len(r.content) == 200_000 and len(r.json()) == 10


def test_redirect_to_another_host_does_not_carry_the_token(em: Emulator) -> None:
    em.set_faults("redirect@1,2")
    tok = emulator_token(em)
    first = get(em, tok, allow_redirects=False)
    assert first.status_code == 302 and first.headers["Location"].startswith(
        f"http://localhost:{em.port}/"
    )
    followed = get(em, tok)  # requests drops Authorization when the host changes
    assert followed.status_code == 401
    log = [r for r in em.request_log if r.path == IMAGES]
    assert log[-1].authorized is False and log[-2].status == 302


def test_expire_token_mid_run(em: Emulator) -> None:
    em.set_faults("expire-token@2")
    tok = emulator_token(em)
    assert [get(em, tok).status_code for _ in range(3)] == [200, 401, 401]
    assert get(em, emulator_token(em)).status_code == 200


def test_set_faults_restarts_numbering_and_clears(em: Emulator) -> None:
    tok = emulator_token(em)
    get(em, tok)
    em.set_faults("500@1")
    assert get(em, tok).status_code == 500
    em.set_faults(None)
    assert get(em, tok).status_code == 200


def test_constructor_accepts_spec_text_and_rejects_bad_specs() -> None:
    with pytest.raises(UsageError):
        Emulator(faults="nonsense@1")
    assert str(Emulator(faults="reset@2").faults) == "reset@2"


def test_token_endpoint_faults_are_counted_separately(em: Emulator) -> None:
    em.set_faults("503:on=token,retry-after=4@1;reset:on=token@2;500@1")
    first = grant_token(em)
    assert first.status_code == 503 and first.headers["Retry-After"] == "4"
    with pytest.raises(requests.ConnectionError):
        grant_token(em)
    tok = grant_token(em).json()["access_token"]
    assert get(em, tok).status_code == 500  # the images counter starts on its own
    assert get(em, tok).status_code == 200
    assert em.stats.token_grants["client_credentials"] == 1
