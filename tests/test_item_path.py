"""The item path: JSON in and JSON lines out, with orjson or without, byte for byte.

orjson is installed in the test environment; every output is compared with the standard
library's (:func:`task_runner.jsonfast.std_line`), and the same checks run again with
the fallback forced (the module's ``_orjson`` set to ``None``) and, in a child process,
with ``import orjson`` failing. Secrets written through the sink are masked either way.
"""

from __future__ import annotations

import enum
import json
import math
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task_runner import jsonfast
from task_runner.http.sink import JsonlSink
from task_runner.redact import MASK, Redactor

ROOT = Path(__file__).resolve().parent.parent

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(params=["orjson", "json"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test with orjson and again with the standard-library fallback forced."""
    if request.param == "json":
        monkeypatch.setattr(jsonfast, "_orjson", None)
    yield request.param


def test_orjson_is_what_the_fast_path_uses() -> None:
    pytest.importorskip("orjson")
    assert jsonfast.BACKEND == "orjson"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_lines_are_byte_identical_to_the_standard_library(value: Any) -> None:
    expected = jsonfast.std_line(value)
    assert jsonfast.dumps_line(value) == expected
    assert jsonfast.lines([value, value]) == [expected, expected]
    # Every line is one line of valid JSON (RFC 8259: no NaN; UTF-8).
    assert expected.endswith(b"\n") and b"\n" not in expected[:-1]
    json.loads(expected.decode("utf-8"), parse_constant=_refuse_constant)


@settings(max_examples=300)
@given(value=json_values)
def test_loads_agrees_with_the_standard_library(value: Any) -> None:
    for ensure_ascii in (True, False):
        text = json.dumps(value, ensure_ascii=ensure_ascii)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: only the str form exists
            data = None
        for source in (text, data):
            if source is None:
                continue
            assert _same(jsonfast.loads(source), json.loads(source))


@pytest.mark.parametrize(
    "value, line",
    [
        (1e-05, b"1e-05\n"),
        (1.5e-7, b"1.5e-07\n"),
        (0.0001, b"0.0001\n"),
        (1e16, b"1e+16\n"),
        (-0.0, b"-0.0\n"),
        (float("nan"), b"null\n"),
        ({"x": float("-inf")}, b'{"x":null}\n'),
        (2**64, b"18446744073709551616\n"),
        ({1: "a", None: "b"}, b'{"1":"a","null":"b"}\n'),
        ("caf\u00e9 \u2028 \U0001f600", '"caf\u00e9 \u2028 \U0001f600"\n'.encode()),
        ("\x00\x1f\x7f", b'"\\u0000\\u001f\x7f"\n'),
        ("lone \ud800 surrogate", b'"lone \\ud800 surrogate"\n'),
        ({"text": "0.00001 e-mail"}, b'{"text":"0.00001 e-mail"}\n'),
        (uuid.UUID(int=1), b'"00000000-0000-0000-0000-000000000001"\n'),
        ((1, 2), b"[1,2]\n"),
    ],
    ids=[
        "small-float",
        "smaller-float",
        "1e-4",
        "big-float",
        "negative-zero",
        "nan",
        "infinity",
        "big-int",
        "non-string-keys",
        "unicode",
        "control-characters",
        "lone-surrogate",
        "float-lookalike-in-a-string",
        "uuid",
        "tuple",
    ],
)
def test_awkward_values(backend: str, value: Any, line: bytes) -> None:
    assert jsonfast.dumps_line(value) == line
    assert jsonfast.lines([value]) == [line]


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


def test_enums_are_written_by_value(backend: str) -> None:
    assert jsonfast.lines([{"c": Colour.RED, "s": Size.BIG}]) == [b'{"c":"red","s":3}\n']


@pytest.mark.parametrize("value", [object(), {"when": __import__("datetime").date(2024, 5, 1)}])
def test_values_json_cannot_hold_are_refused_either_way(backend: str, value: Any) -> None:
    with pytest.raises(TypeError):
        jsonfast.lines([value])


def test_bodies_orjson_refuses_are_decoded_as_json_would(backend: str) -> None:
    assert jsonfast.loads(b"[18446744073709551616]") == [2**64]
    assert math.isnan(jsonfast.loads(b"[NaN]")[0])
    assert jsonfast.loads("\ufeff[1]".encode("utf-8-sig")[3:]) == [1]
    assert jsonfast.loads('[1, "\u00e9"]'.encode("utf-16")) == [1, "\u00e9"]
    with pytest.raises(ValueError, match="Expecting value"):
        jsonfast.loads(b"[1,")


def test_without_orjson_installed_the_output_is_the_same(tmp_path: Path) -> None:
    """A child process in which ``import orjson`` fails writes the same bytes."""
    items = [{"id": n, "f": n / 7, "tiny": 1e-7 * n, "name": f"caf\u00e9 {n}"} for n in range(50)]
    script = (
        "import sys, json; sys.modules['orjson'] = None\n"
        "from task_runner import jsonfast\n"
        "assert jsonfast.BACKEND == 'json', jsonfast.BACKEND\n"
        "items = json.loads(sys.stdin.read())\n"
        "sys.stdout.buffer.write(b''.join(jsonfast.lines(items)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(items).encode(),
        capture_output=True,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout == b"".join(jsonfast.lines(json.loads(json.dumps(items))))


# --- the sink: one encoding per page, secrets masked where they appear ---------------

CANARY = 'item-canary-"q\\9f2e'  # escapes in JSON: the scan must look for its escaped form


def _written(tmp_path: Path, items: list[Any], redactor: Redactor) -> bytes:
    path = tmp_path / "out.jsonl"
    with JsonlSink(path, redactor=redactor) as sink:
        sink.write_page(items)
    return path.read_bytes()


def test_a_page_without_secrets_is_the_plain_encoding(backend: str, tmp_path: Path) -> None:
    items = [{"id": n, "name": f"IMG_{n}.jpg", "lat": 37.77 + n / 1e6} for n in range(100)]
    written = _written(tmp_path, items, Redactor([CANARY]))
    assert written == b"".join(jsonfast.std_line(item) for item in items)


def test_canary_is_masked_only_in_the_items_that_hold_it(backend: str, tmp_path: Path) -> None:
    items: list[Any] = [{"id": n, "note": "plain"} for n in range(10)]
    items[3] = {"id": 3, "note": f"token {CANARY} here", "nested": [{"deep": CANARY}]}
    items[7] = {"id": 7, CANARY: "a key"}
    written = _written(tmp_path, items, Redactor([CANARY])).decode("utf-8")
    assert CANARY not in written and json.dumps(CANARY)[1:-1] not in written
    lines = [json.loads(line) for line in written.splitlines()]
    assert lines[3] == {"id": 3, "note": f"token {MASK} here", "nested": [{"deep": MASK}]}
    assert lines[7] == {"id": 7, MASK: "a key"}
    untouched = [i for i in range(10) if i not in (3, 7)]
    assert [lines[i] for i in untouched] == [items[i] for i in untouched]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(json_values, max_size=6),
    secret=st.text(min_size=8, max_size=16).filter(lambda s: s.strip() == s and "\n" not in s),
)
def test_any_page_with_any_secret_never_leaks_it(
    tmp_path_factory: pytest.TempPathFactory, items: list[Any], secret: str
) -> None:
    planted = [*items, {"hidden": f"x{secret}y"}, [secret]]
    written = _written(tmp_path_factory.mktemp("sink"), planted, Redactor([secret]))
    text = written.decode("utf-8")
    # JSON Lines ends lines with \n only; U+0085 and U+2028 stay inside strings.
    for line in text.split("\n")[:-1]:
        # Numbers are never masked (a secret "4032" would eat the width of every photo).
        assert not [s for s in _strings(json.loads(line)) if secret in s]


def _strings(value: Any) -> Iterator[str]:
    """Every string in decoded JSON: values and keys."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


def _refuse_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and -0.0 told from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and repr(a) == repr(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
