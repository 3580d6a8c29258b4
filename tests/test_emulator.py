"""The Procore emulator over real loopback HTTP: OAuth, errors, every images parameter,
pagination headers, rate limits, determinism, and the CLI."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from task_runner.emulator import (
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    MAIN_COMPANY_ID,
    MAIN_PROJECT_ID,
    OTHER_COMPANY_ID,
    OTHER_PROJECT_ID,
    Emulator,
)
from task_runner.http.clock import FakeClock
from tests.support import emulator_token, grant_token

IMAGES = "/rest/v1.0/images"


START = 1_750_000_000.0  # the emulator's "now" in the tests that inject a clock


@pytest.fixture
def em() -> Iterator[Emulator]:
    with Emulator(seed=3, images=120) as emulator:
        yield emulator


def get(
    em: Emulator, tok: str | None = None, company: Any = MAIN_COMPANY_ID, **params: Any
) -> requests.Response:
    headers = {}
    if tok is not None:
        headers["Authorization"] = f"Bearer {tok}"
    if company is not None:
        headers["Procore-Company-Id"] = str(company)
    params.setdefault("project_id", MAIN_PROJECT_ID)
    return requests.get(em.base_url + IMAGES, params=params, headers=headers, timeout=5)


def ids(em: Emulator, tok: str, **params: Any) -> list[int]:
    params.setdefault("per_page", 1000)
    r = get(em, tok, serializer_view="ids_only", **params)
    assert r.status_code == 200, r.text
    return list(r.json())


# --- OAuth ----------------------------------------------------------------------------


def test_client_credentials_form_and_json_bodies(em: Emulator) -> None:
    form = grant_token(em)
    as_json = requests.post(
        em.token_url,
        json={
            "grant_type": "client_credentials",
            "client_id": EMULATOR_CLIENT_ID,
            "client_secret": EMULATOR_CLIENT_SECRET,
        },
        timeout=5,
    )
    for r in (form, as_json):
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 5400
        assert isinstance(body["created_at"], int) and "refresh_token" not in body
    assert form.json()["access_token"] != as_json.json()["access_token"]
    assert em.stats.token_grants["client_credentials"] == 2


def test_client_credentials_with_basic_auth(em: Emulator) -> None:
    r = requests.post(
        em.token_url,
        data={"grant_type": "client_credentials"},
        auth=(em.client_id, em.client_secret),
        timeout=5,
    )
    assert r.status_code == 200 and r.json()["access_token"]


@pytest.mark.parametrize(
    ("extra", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "made-up"}, 400, "invalid_grant"),
    ],
    ids=["bad-secret", "bad-client", "bad-grant", "bad-refresh"],
)
def test_token_errors_are_oauth_json(
    em: Emulator, extra: dict[str, str], status: int, error: str
) -> None:
    r = grant_token(em, **extra)
    assert r.status_code == status
    assert r.json()["error"] == error


def test_refresh_tokens_rotate_and_are_single_use(em: Emulator) -> None:
    first = em.issue_refresh_token()
    r = grant_token(em, grant_type="refresh_token", refresh_token=first)
    assert r.status_code == 200
    body = r.json()
    second = body["refresh_token"]
    assert second != first and body["access_token"]
    assert get(em, body["access_token"]).status_code == 200
    # the spent one is dead even though the client might never have seen the answer
    again = grant_token(em, grant_type="refresh_token", refresh_token=first)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert grant_token(em, grant_type="refresh_token", refresh_token=second).status_code == 200
    assert em.stats.token_grants["refresh_token"] == 2


def test_token_expires_after_ttl_with_injected_clock() -> None:
    clock = FakeClock(START)
    with Emulator(images=5, token_ttl=60, clock=clock.time) as em:
        tok = emulator_token(em)
        assert get(em, tok).status_code == 200
        clock.advance(61)
        r = get(em, tok)
        assert r.status_code == 401
        assert "expired" in r.json()["errors"]
        assert "invalid_token" in r.headers["WWW-Authenticate"]


def test_expire_tokens_kills_every_current_token(em: Emulator) -> None:
    a, b = emulator_token(em), emulator_token(em)
    assert em.expire_tokens() == 2
    assert get(em, a).status_code == 401 and get(em, b).status_code == 401
    assert get(em, emulator_token(em)).status_code == 200


def test_token_info_and_revoke(em: Emulator) -> None:
    tok = emulator_token(em)
    info = requests.get(
        em.base_url + "/oauth/token/info", headers={"Authorization": f"Bearer {tok}"}, timeout=5
    )
    assert info.status_code == 200 and info.json()["application"]["uid"] == em.client_id
    requests.post(em.base_url + "/oauth/revoke", data={"token": tok}, timeout=5)
    assert get(em, tok).status_code == 401


# --- access errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("no-token", 401, "No access token"),
        ("bad-token", 401, "invalid"),
        ("no-company", 400, "Missing Procore-Company-Id header!"),
        ("other-company", 403, "App is not connected to this company"),
        ("other-company-project", 403, "App is not connected to this company"),
        ("unknown-company", 404, "Company not found"),
        ("unknown-project", 404, "Project not found"),
        ("no-project", 400, "project_id"),
    ],
)
def test_access_errors(em: Emulator, case: str, status: int, message: str) -> None:
    tok = emulator_token(em)
    kwargs: dict[str, Any] = {
        "no-token": {"tok": None},
        "bad-token": {"tok": "nope"},
        "no-company": {"company": None},
        "other-company": {"company": OTHER_COMPANY_ID},
        "other-company-project": {"project_id": OTHER_PROJECT_ID},
        "unknown-company": {"company": 1},
        "unknown-project": {"project_id": 123456},
        "no-project": {"project_id": ""},
    }[case]
    kwargs.setdefault("tok", tok)
    r = get(em, **kwargs)
    assert r.status_code == status
    assert message in r.json()["errors"]


@pytest.mark.parametrize(
    "params",
    [
        {"filters[created_at]": "2024-05-02...2024-05-01"},
        {"filters[created_at]": "2024-05-01"},
        {"filters[updated_at]": "2024-05-01...2024-05-02T00:00:00Z"},
        {"filters[log_date]": "2024-05-01T00:00:00Z...2024-05-02T00:00:00Z"},
        {"filters[id][]": "abc"},
        {"filters[trade_ids][]": "1,2"},
        {"filters[location_id][]": "x...y"},
        {"filters[starred]": "yes"},
        {"sort": "filename"},
        {"serializer_view": "compact"},
        {"page": "0"},
        {"per_page": "many"},
        {"image_category_id": "photos"},
    ],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()),
)
def test_bad_filter_values_are_422_with_json(em: Emulator, params: dict[str, str]) -> None:
    r = get(em, emulator_token(em), **params)
    assert r.status_code == 422, r.text
    assert next(iter(params)).split("[]")[0] in r.json()["errors"]


# --- filters and sort -----------------------------------------------------------------


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_created_at_ranges_in_all_three_forms(em: Emulator) -> None:
    tok = emulator_token(em)
    everything = em.images_for(MAIN_PROJECT_ID)
    lo = _ts(everything[30]["created_at"])
    hi = _ts(everything[60]["created_at"])
    expected = [i["id"] for i in everything if lo <= _ts(i["created_at"]) <= hi]
    z_range = f"{lo:%Y-%m-%dT%H:%M:%S}Z...{hi:%Y-%m-%dT%H:%M:%S}Z"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    offset_range = f"{lo.astimezone(plus2).isoformat()}...{hi.astimezone(plus2).isoformat()}"
    assert ids(em, tok, **{"filters[created_at]": z_range}) == expected
    assert ids(em, tok, **{"filters[created_at]": offset_range}) == expected
    assert 0 < len(expected) < len(everything)
    day = everything[40]["created_at"][:10]
    by_day = [i["id"] for i in everything if i["created_at"][:10] == day]
    assert ids(em, tok, **{"filters[created_at]": f"{day}...{day}"}) == by_day


def test_updated_at_and_touch_images_for_incremental_windows() -> None:
    clock = FakeClock(1_760_000_000.0)
    with Emulator(images=50, clock=clock.time) as em:
        tok = emulator_token(em)
        since = "2025-10-09T00:00:00Z...2030-01-01T00:00:00Z"
        assert ids(em, tok, **{"filters[updated_at]": since}) == []
        touched = em.touch_images(3)
        added = em.add_images(2)
        got = ids(em, tok, **{"filters[updated_at]": since})
        assert got == touched + added
        assert len(em.images_for()) == 52
        assert em.images_for()[-1]["created_at"] == "2025-10-09T08:53:20Z"


def test_log_date_single_day_and_range(em: Emulator) -> None:
    tok = emulator_token(em)
    mobile = em.images_for(MAIN_PROJECT_ID, view="mobile")
    day = mobile[10]["log_date"]
    assert ids(em, tok, **{"filters[log_date]": day}) == [
        i["id"] for i in mobile if i["log_date"] == day
    ]
    end = mobile[50]["log_date"]
    expected = [i["id"] for i in mobile if day <= i["log_date"] <= end]
    assert ids(em, tok, **{"filters[log_date]": f"{day}...{end}"}) == expected


def test_bracket_arrays_and_repeated_plain_keys(em: Emulator) -> None:
    tok = emulator_token(em)
    everything = em.images_for()
    wanted = {101, 103}
    expected = [i["id"] for i in everything if wanted & {t["id"] for t in i["trades"]}]
    assert ids(em, tok, **{"filters[trade_ids][]": ["101", "103"]}) == expected
    # without [] a repeated key is read as its last value only
    last_only = [i["id"] for i in everything if 103 in {t["id"] for t in i["trades"]}]
    assert ids(em, tok, **{"filters[trade_ids]": ["101", "103"]}) == last_only
    some = [everything[5]["id"], everything[9]["id"]]
    assert ids(em, tok, **{"filters[id][]": [str(i) for i in some]}) == some


def test_location_filter_with_and_without_sublocations(em: Emulator) -> None:
    tok = emulator_token(em)
    everything = em.images_for()
    building = next(i["location"] for i in everything if i["location"]["parent_id"] is None)["id"]
    exact = [i["id"] for i in everything if i["location"]["id"] == building]
    assert ids(em, tok, **{"filters[location_id][]": str(building)}) == exact
    below = ids(
        em,
        tok,
        **{"filters[location_id][]": str(building), "filters[include_sublocations]": "true"},
    )
    assert set(exact) < set(below)
    names = {i["id"]: i["location"]["node_name"] for i in everything}
    prefix = next(i["location"]["name"] for i in everything if i["location"]["id"] == building)
    assert all(names[i].startswith(prefix) for i in below)
    ranged = ids(em, tok, **{"filters[location_id][]": f"{building}...{building + 2}"})
    assert set(exact) <= set(ranged)


@pytest.mark.parametrize("flag", ["starred", "private"])
def test_boolean_filters(em: Emulator, flag: str) -> None:
    tok = emulator_token(em)
    everything = em.images_for()
    expected = [i["id"] for i in everything if i[flag]]
    assert 0 < len(expected) < len(everything)
    assert ids(em, tok, **{f"filters[{flag}]": "true"}) == expected
    assert len(ids(em, tok, **{f"filters[{flag}]": "false"})) == len(everything)


def test_query_and_category_filters(em: Emulator) -> None:
    tok = emulator_token(em)
    everything = em.images_for()
    expected = [
        i["id"] for i in everything if "rebar" in (i["filename"] + i["description"]).lower()
    ]
    assert expected and ids(em, tok, **{"filters[query]": "REBAR"}) == expected
    cat = everything[0]["image_category_id"]
    assert ids(em, tok, image_category_id=cat) == [
        i["id"] for i in everything if i["image_category_id"] == cat
    ]


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("created_at", lambda i: (i["created_at"], i["id"])),
        ("-created_at", lambda i: (_neg(i["created_at"]), i["id"])),
        ("taken_at", lambda i: (i["taken_at"], i["id"])),
        ("-exposure_date", lambda i: (_neg(i["taken_at"]), i["id"])),
        ("most_recent", lambda i: (_neg(i["created_at"]), i["id"])),
        ("-id", lambda i: -i["id"]),
        ("updated_at,-taken_at", lambda i: (i["updated_at"], _neg(i["taken_at"]), i["id"])),
    ],
)
def test_sort(em: Emulator, sort: str, key: Any) -> None:
    expected = [i["id"] for i in sorted(em.images_for(), key=key)]
    assert ids(em, emulator_token(em), sort=sort) == expected


def _neg(ts: str) -> float:
    return -_ts(ts).timestamp()


@pytest.mark.parametrize(
    ("view", "present", "absent"),
    [
        ("normal", {"links", "comments_count", "trades"}, {"comments", "log_date"}),
        ("android", {"trades", "comments"}, {"links", "log_date"}),
        ("mobile", {"trades", "comments", "log_date"}, {"links"}),
        ("mobile_feed", {"comments"}, {"trades", "links"}),
        ("prostore_file", {"images"}, {"trades", "comments"}),
    ],
)
def test_serializer_views(em: Emulator, view: str, present: set[str], absent: set[str]) -> None:
    r = get(em, emulator_token(em), serializer_view=view, per_page=3)
    item = r.json()[0]
    assert present <= set(item) and not absent & set(item)
    for field in (
        "id",
        "url",
        "filename",
        "location",
        "uploader",
        "created_at",
        "gps_lat",
        "daily_log_segment",
    ):
        assert field in item


def test_ids_only_is_a_bare_array_of_integers(em: Emulator) -> None:
    body = get(em, emulator_token(em), serializer_view="ids_only", per_page=5).json()
    assert body == [i["id"] for i in em.images_for()[:5]]


# --- pagination -----------------------------------------------------------------------


def walk(em: Emulator, tok: str, **params: Any) -> tuple[list[int], list[requests.Response]]:
    r = get(em, tok, **params)
    pages = [r]
    while "next" in r.links:
        r = requests.get(r.links["next"]["url"], headers=r.request.headers, timeout=5)
        pages.append(r)
    return [i["id"] for p in pages for i in p.json()], pages


def test_link_walk_returns_every_image_once_with_total_headers(em: Emulator) -> None:
    got, pages = walk(em, emulator_token(em), per_page=25, **{"filters[starred]": "false"})
    assert got == [i["id"] for i in em.images_for()]
    assert len(pages) == 5
    first = pages[0]
    assert first.headers["Total"] == "120" and first.headers["Per-Page"] == "25"
    assert set(first.links) == {"first", "next", "last"}
    assert set(pages[2].links) == {"first", "prev", "next", "last"}
    assert "next" not in pages[-1].links
    assert "filters%5Bstarred%5D=false" in pages[1].url  # other parameters are kept


def test_default_per_page_cap_and_pages_past_the_end(em: Emulator) -> None:
    tok = emulator_token(em)
    r = get(em, tok)
    assert r.headers["Per-Page"] == "100" and len(r.json()) == 100
    assert get(em, tok, per_page=50_000).headers["Per-Page"] == "10000"
    past = get(em, tok, page=99)
    assert past.status_code == 200 and past.json() == []
    empty = get(em, tok, project_id=779)
    assert empty.json() == [] and empty.headers["Total"] == "0" and "next" not in empty.links


@pytest.mark.parametrize(("mode", "has_last"), [("link", True), ("next-only", False)])
def test_link_only_modes(mode: str, has_last: bool) -> None:
    with Emulator(images=30, pagination_headers=mode) as em:
        got, pages = walk(em, emulator_token(em), per_page=7)
        assert got == [i["id"] for i in em.images_for()]
        assert "Total" not in pages[0].headers and "Per-Page" not in pages[0].headers
        assert ("last" in pages[0].links) is has_last


def test_keep_alive_serves_several_requests_on_one_connection(em: Emulator) -> None:
    tok = emulator_token(em)
    conn = http.client.HTTPConnection("127.0.0.1", em.port, timeout=5)
    headers = {"Authorization": f"Bearer {tok}", "Procore-Company-Id": str(MAIN_COMPANY_ID)}
    for page in (1, 2, 3):
        conn.request("GET", f"{IMAGES}?project_id=777&per_page=2&page={page}", headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200 and len(resp.read()) == int(resp.headers["Content-Length"])
    conn.close()


# --- rate limits ----------------------------------------------------------------------


def test_rate_limit_headers_count_down_then_429_plain_text() -> None:
    clock = FakeClock(START)
    with Emulator(images=5, hourly_limit=3, clock=clock.time) as em:
        tok = emulator_token(em)
        remaining = [get(em, tok).headers["X-Rate-Limit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        r = get(em, tok)
        assert r.status_code == 429
        assert r.headers["Content-Type"].startswith("text/plain") and "Rate limit" in r.text
        assert r.headers["X-Rate-Limit-Limit"] == "3"
        assert int(r.headers["X-Rate-Limit-Reset"]) == int(clock.time() + 3600)
        assert r.headers["Retry-After"] == "3600"
        # another company is another budget; a new hour is a new budget
        assert get(em, tok, company=OTHER_COMPANY_ID).headers["X-Rate-Limit-Remaining"] == "2"
        clock.advance(3600)
        assert get(em, tok).status_code == 200


def test_spike_window_is_reported_when_closer() -> None:
    clock = FakeClock(START)
    with Emulator(
        images=5,
        hourly_limit=100,
        spike_limit=2,
        spike_window=10,
        clock=clock.time,
        retry_after=False,
    ) as em:
        tok = emulator_token(em)
        r = get(em, tok)
        assert r.headers["X-Rate-Limit-Limit"] == "2" and r.headers["X-Rate-Limit-Remaining"] == "1"
        get(em, tok)
        blocked = get(em, tok)
        assert blocked.status_code == 429 and "Retry-After" not in blocked.headers
        assert blocked.headers["X-Rate-Limit-Reset"] == str(int(clock.time() + 10))
        clock.advance(10)
        again = get(em, tok)
        assert again.status_code == 200 and again.headers["X-Rate-Limit-Remaining"] == "1"


def test_rate_limit_headers_can_be_switched_off() -> None:
    with Emulator(images=5, rate_limit_headers=False) as em:
        assert not any(
            h.lower().startswith("x-rate-limit") for h in get(em, emulator_token(em)).headers
        )


def test_request_log_and_max_requests_in_window() -> None:
    clock = FakeClock(START)
    with Emulator(images=5, clock=clock.time) as em:
        tok = emulator_token(em)
        for gap in (0, 1, 1, 13, 1):  # requests at START + 0, 1, 2, 15 and 16 s
            clock.advance(gap)
            get(em, tok)
        assert em.max_requests_in_window(10, use_clock=True) == 3
        assert em.max_requests_in_window(100, use_clock=True) == 5
        log = em.request_log
        assert [r.status for r in log if r.path == IMAGES] == [200] * 5
        assert {r.token_id for r in log if r.path == IMAGES} == {"t1"}
        assert tok not in repr(log)
        assert em.stats.requests_by_path[IMAGES] == 5


# --- determinism ----------------------------------------------------------------------


def test_same_seed_same_data_other_seed_other_data() -> None:
    with (
        Emulator(seed=7, images=40) as a,
        Emulator(seed=7, images=40) as b,
        Emulator(seed=8, images=40) as c,
    ):
        assert a.images_for() == b.images_for()
        assert a.images_for() != c.images_for()
        served = get(a, emulator_token(a), per_page=40).json()
        assert served == b.images_for()


def test_other_projects_exist_and_large_datasets_are_cheap() -> None:
    with Emulator(images=100_000) as em:
        assert em.project_ids[0] == MAIN_PROJECT_ID and len(em.project_ids) >= 3
        tok = emulator_token(em)
        r = get(em, tok, page=999, per_page=100)
        assert r.headers["Total"] == "100000" and len(r.json()) == 100
        assert len(get(em, tok, project_id=778).json()) > 0


# --- CLI ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_prints_connection_details_and_stops_on_signal(sig: int) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "task_runner",
            "emulator",
            "--port",
            "0",
            "--images",
            "10",
            "--pagination",
            "link",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        base = next(line.split("=", 1)[1].strip() for line in lines if "PROCORE_BASE_URL=" in line)
        assert f"PROCORE_CLIENT_ID={EMULATOR_CLIENT_ID}" in text
        assert "PROCORE_TOKEN_URL=" in text and "PROCORE_CLIENT_SECRET=" in text
        r = requests.post(
            base + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": EMULATOR_CLIENT_ID,
                "client_secret": EMULATOR_CLIENT_SECRET,
            },
            timeout=5,
        )
        assert r.status_code == 200
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_a_bad_fault_spec() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "task_runner", "emulator", "--port", "0", "--faults", "503@zero"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    assert "503@zero" in proc.stderr
