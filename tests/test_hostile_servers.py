"""Bounded and sealed: ``run`` and ``test-request`` against loopback servers that attack.

Each server misbehaves on purpose: it drips its headers or body one byte at a time
(never tripping a per-read timeout), sends an endless chunked body, announces a 2 GiB
``Content-Length``, answers a 4 MiB gzip or deflate body that expands to 4 GiB, or
nests JSON 100,000 levels deep. Every case runs the real CLI in a subprocess and checks
its exit code, its message (which names the limit and the key that raises it), how
long it took and its peak memory. The size cases use the default limits, so they also
prove that the defaults bound memory.

Peak memory is the child's own ``VmHWM``, read as it exits: ``ru_maxrss`` (from
``wait4`` or ``getrusage``) would not do, because Linux carries the high-water mark of
the address space a process had before ``exec`` into it, and ``subprocess`` forks with
``vfork``: the child would report the peak of the pytest process that started it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from task_runner.http import Client
from task_runner.http.faults import DeadlineExceeded, TokenDeadlineExceeded
from task_runner.http.json_depth import MAX_JSON_DEPTH, nesting_exceeds
from task_runner.http.transport import RequestsTransport
from task_runner.model import (
    AuthConfig,
    ConnectionConfig,
    Expect,
    PreparedRequest,
    RetryPolicy,
    Timeout,
)
from tests.support import PEAK_RSS_DRIVER as DRIVER

#: Peak resident memory allowed to ``task-runner run`` against any of these servers.
RSS_BUDGET_MB = 200
GIB = 1 << 30
MIB = 1 << 20
#: One byte every DRIP seconds: well inside the per-read timeout the workflows set.
DRIP = 0.25

Answer = Callable[[socket.socket, threading.Event], None]


# --- the servers -----------------------------------------------------------------------


@dataclass
class HostileServer:
    """A raw-socket HTTP/1.1 server on 127.0.0.1 that answers with ``answers``.

    On each connection the n-th request gets ``answers[n]`` (the connection closes
    after the last). Answers loop until the client goes away or the server stops.
    """

    answers: Sequence[Answer]
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            number = self.connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            conn.settimeout(30)
            buffered = b""
            for answer in self.answers:
                while b"\r\n\r\n" not in buffered:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                buffered = buffered[_content_length(head) :]  # small form bodies only
                self.requests.append((number, head.split(b"\r\n", 1)[0]))
                try:
                    answer(conn, self.stop)
                except OSError:  # the client hung up: that is the point
                    return


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _head(*headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def drip(data: bytes, *, first: bytes = b"") -> Answer:
    """Send ``first``, then ``data`` one byte every DRIP seconds."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(first)
        for byte in data:
            conn.sendall(bytes([byte]))
            if stop.wait(DRIP):
                return

    return answer


def send(data: bytes) -> Answer:
    return lambda conn, stop: conn.sendall(data)


def endless(head: bytes, chunk: bytes) -> Answer:
    """``head``, then ``chunk`` again and again until the client hangs up."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        while not stop.is_set():
            conn.sendall(chunk)

    return answer


def zeros_bomb(expanded: int, *, gzip: bool) -> bytes:
    """A valid gzip (or zlib, for ``Content-Encoding: deflate``) stream of ``expanded``
    zero bytes, about 1/1000 of that in size, built in well under a second or two.

    Each MiB of zeros is compressed after a full flush, which resets the compressor,
    so every MiB after the first compresses to the same bytes: one segment, repeated.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MIB)
    compressor.compress(zeros)
    compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = segment * (expanded // MIB) + compressor.flush()
    if not gzip:
        adler = ((expanded % 65521) << 16) | 1  # Adler-32 of n zero bytes
        return b"\x78\xda" + body + struct.pack(">I", adler)
    crc = 0
    for _ in range(expanded // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + body + struct.pack("<II", crc, expanded & 0xFFFFFFFF)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {
        "gzip": zeros_bomb(4 * GIB, gzip=True),
        "deflate": zeros_bomb(4 * GIB, gzip=False),
    }


def test_the_bombs_are_real(bombs: dict[str, bytes]) -> None:
    """4 MiB that inflate to 4 GiB: check the first 64 MiB and the sizes."""
    for name, wbits in (("gzip", 31), ("deflate", 15)):
        body = bombs[name]
        assert len(body) < 5 * MIB
        inflated = zlib.decompressobj(wbits).decompress(body[:100_000], 64 * MIB)
        assert len(inflated) == 64 * MIB and not any(inflated[:MIB])


# --- running the CLI -------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    elapsed: float
    peak_mb: float

    def task_error(self) -> str:
        return str(json.loads(self.stdout)["tasks"]["t"]["error"])


def cli(*args: str, cwd: Path, kill_after: float = 50.0) -> Outcome:
    """Run ``task-runner ARGS`` in a child process: exit code, output, wall time, peak RSS."""
    peak_file = cwd / "peak-rss.txt"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOSTILE_PEAK_FILE"] = str(peak_file)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=kill_after,
    )
    elapsed = time.monotonic() - started
    peak_kib = int(peak_file.read_text()) if peak_file.exists() else 0
    peak_file.unlink(missing_ok=True)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, elapsed, peak_kib / 1024)


def write_workflow(tmp_path: Path, base_url: str, task_extra: str = "", auth: str = "") -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(
        f"""\
name: hostile
connections:
  api:
    base_url: "{base_url}"
{auth}tasks:
  t:
    connection: api
    request: {{method: GET, url: /x}}
{task_extra}""",
        encoding="utf-8",
    )
    return path


ONE_TRY = "    retry: {max_attempts: 1}\n"
SHORT = "    timeout: {connect: 1s, read: 1s, total: 2s}\n"


@dataclass(frozen=True)
class Case:
    answers: Callable[[dict[str, bytes]], Sequence[Answer]]
    message: str
    max_seconds: float
    min_seconds: float = 0.0
    task_extra: str = ONE_TRY


CHUNK = b"%x\r\n" % 65536 + b"[" * 65536 + b"\r\n"
DEEP = b"[" * 100_000 + b"]" * 100_000

CASES = {
    "drip-body": Case(
        lambda _: [drip(b" " * 1000, first=_head("Content-Length: 1002") + b"[")],
        r"did not finish within the 2s total timeout, still reading the body "
        r"\(raise timeout.total",
        max_seconds=6,
        min_seconds=2,
        task_extra=ONE_TRY + SHORT,
    ),
    "drip-body-until-close": Case(
        # No length, no chunks: the cut looks like the end of the body, yet is no answer.
        lambda _: [drip(b" " * 1000, first=_head("Connection: close") + b"[")],
        r"did not finish within the 2s total timeout, still reading the body",
        max_seconds=6,
        min_seconds=2,
        task_extra=ONE_TRY + SHORT,
    ),
    "drip-headers": Case(
        lambda _: [drip(_head("X-Padding: " + "a" * 1000))],
        r"did not finish within the 2s total timeout, still waiting for the response "
        r"headers \(raise timeout.total",
        max_seconds=6,
        min_seconds=2,
        task_extra=ONE_TRY + SHORT,
    ),
    "endless-chunked": Case(
        lambda _: [endless(_head("Transfer-Encoding: chunked"), CHUNK)],
        r"the response body is larger than the max_body_bytes cap of 67108864 bytes "
        r"\(64 MiB\); stopped reading \(raise expect.max_body_bytes",
        max_seconds=10,
    ),
    "huge-content-length": Case(
        lambda _: [endless(_head("Content-Length: 2147483648"), b" " * 65536)],
        r"the response body \(2147483648 bytes\) is larger than the max_body_bytes cap of "
        r"67108864 bytes \(64 MiB\); not read \(raise expect.max_body_bytes",
        max_seconds=10,
    ),
    "gzip-bomb": Case(
        lambda bombs: [
            send(
                _head("Content-Encoding: gzip", f"Content-Length: {len(bombs['gzip'])}")
                + bombs["gzip"]
            )
        ],
        r"larger once decompressed \(gzip\) than the max_body_bytes cap of 67108864 bytes",
        max_seconds=10,
    ),
    "deflate-bomb": Case(
        lambda bombs: [
            send(
                _head("Content-Encoding: deflate", f"Content-Length: {len(bombs['deflate'])}")
                + bombs["deflate"]
            )
        ],
        r"larger once decompressed \(deflate\) than the max_body_bytes cap of 67108864 bytes",
        max_seconds=10,
    ),
    "deep-json-100000": Case(
        lambda _: [send(_head(f"Content-Length: {len(DEEP)}") + DEEP)],
        r"nests JSON arrays and objects more than 256 levels deep; not decoded",
        max_seconds=10,
    ),
    "deep-json-600": Case(
        lambda _: [send(_head("Content-Length: 1200") + b"[" * 600 + b"]" * 600)],
        r"nests JSON arrays and objects more than 256 levels deep; not decoded",
        max_seconds=10,
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_run_against_a_hostile_server(name: str, tmp_path: Path, bombs: dict[str, bytes]) -> None:
    case = CASES[name]
    with HostileServer(case.answers(bombs)) as server:
        workflow = write_workflow(tmp_path, server.url, case.task_extra)
        outcome = cli("run", str(workflow), "--output", "json", cwd=tmp_path)
    assert outcome.code == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr and "internal error" not in outcome.stdout
    assert re.search(case.message, outcome.task_error()), outcome.task_error()
    assert case.min_seconds <= outcome.elapsed < case.max_seconds, outcome.elapsed
    assert outcome.peak_mb < RSS_BUDGET_MB, f"{name}: peak RSS {outcome.peak_mb:.0f} MB"


@pytest.mark.timeout(60)
def test_a_drip_is_retried_once_then_the_task_fails_in_bounded_time(tmp_path: Path) -> None:
    """The default retry policy (5 attempts) gives a deadline fault one more try only."""
    with HostileServer([drip(b" " * 1000, first=_head("Content-Length: 1000"))]) as server:
        retry = "    retry: {initial_interval: 100ms, jitter: false}\n"
        workflow = write_workflow(tmp_path, server.url, retry + SHORT)
        outcome = cli("run", str(workflow), "--output", "json", cwd=tmp_path)
        tries = len(server.requests)
    assert outcome.code == 1
    assert "did not finish within the 2s total timeout" in outcome.task_error()
    assert tries == 2
    assert 4 <= outcome.elapsed < 9, outcome.elapsed


@pytest.mark.timeout(60)
@pytest.mark.parametrize("depth", [100_000, 600, MAX_JSON_DEPTH + 1], ids=str)
def test_test_request_refuses_deep_json_like_run(depth: int, tmp_path: Path) -> None:
    body = b"[" * depth + b"]" * depth
    with HostileServer([send(_head(f"Content-Length: {len(body)}") + body)] * 2) as server:
        workflow = write_workflow(tmp_path, server.url, ONE_TRY)
        shown = cli("test-request", str(workflow), "--task", "t", cwd=tmp_path)
        as_json = cli(
            "test-request", str(workflow), "--task", "t", "--output", "json", cwd=tmp_path
        )
    for outcome in (shown, as_json):
        assert outcome.code == 1, outcome.stderr
        assert "Traceback" not in outcome.stderr and "internal error" not in outcome.stderr
        assert f"more than {MAX_JSON_DEPTH} levels deep" in outcome.stdout + outcome.stderr
        assert outcome.peak_mb < RSS_BUDGET_MB


@pytest.mark.timeout(60)
def test_json_at_the_depth_limit_is_shown_recorded_and_run(tmp_path: Path) -> None:
    """The limit sits below what display, recordings and HAR files can walk."""
    body = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    with HostileServer([send(_head(f"Content-Length: {len(body)}") + body)] * 3) as server:
        workflow = write_workflow(tmp_path, server.url, ONE_TRY)
        har = str(tmp_path / "t.har")
        shown = cli(
            "test-request", str(workflow), "--task", "t", "--full", "--har", har, cwd=tmp_path
        )
        as_json = cli(
            "test-request", str(workflow), "--task", "t", "--output", "json", cwd=tmp_path
        )
        ran = cli("run", str(workflow), "--output", "json", cwd=tmp_path)
    for outcome in (shown, as_json, ran):
        assert outcome.code == 0, outcome.stderr
    assert json.loads(Path(har).read_text(encoding="utf-8"))["log"]["entries"]


# --- in process: the token endpoint and a reused connection -----------------------------


@pytest.mark.timeout(30)
def test_a_dripping_token_endpoint_ends_at_the_token_deadline() -> None:
    with HostileServer([drip(_head("Content-Length: 100") + b"{" * 100)]) as server:
        connection = ConnectionConfig(
            name="api",
            base_url=server.url,
            auth=AuthConfig(
                type="oauth2_client_credentials",
                token_url=server.url + "/oauth/token",
                client_id="id",
                client_secret="secret-never-shown",
            ),
        )
        started = time.monotonic()
        client = Client(connection, auth_timeout=Timeout(connect=1, read=1, total=1.5))
        with client, pytest.raises(TokenDeadlineExceeded) as caught:
            client.send(
                PreparedRequest("GET", server.url + "/x"),
                retry=RetryPolicy(initial_interval=0.05, jitter=False),
                timeout=Timeout(),
                expect=Expect(),
            )
        elapsed = time.monotonic() - started
        tries = len(server.requests)
    message = str(caught.value)
    assert "token endpoint" in message and "did not finish within the 1.5s total timeout" in message
    assert "auth_timeout" in message and "secret-never-shown" not in message
    assert tries == 2  # one more try, then the task fails
    assert 3 <= elapsed < 6


@pytest.mark.timeout(30)
def test_the_deadline_holds_on_a_reused_connection() -> None:
    """A pooled keep-alive connection is watched too (no new connect to hook)."""
    first = send(_head("Content-Length: 2") + b"[]")
    with HostileServer([first, drip(_head("X-Padding: " + "a" * 1000))]) as server:
        transport = RequestsTransport()
        timeout = Timeout(connect=1, read=1, total=1)
        try:
            assert transport.send("GET", server.url + "/a", timeout=timeout).json() == []
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded, match="still waiting for the response headers"):
                transport.send("GET", server.url + "/b", timeout=timeout)
            assert time.monotonic() - started < 3
            assert [number for number, _ in server.requests] == [1, 1]
            # The cut connection is not reused: the next request opens a new one.
            assert transport.send("GET", server.url + "/c", timeout=timeout).status == 200
            assert server.connections == 2
        finally:
            transport.close()


def test_a_fast_answer_is_untouched_by_the_watchdog() -> None:
    """Many short requests: no deadline fires, keep-alive holds, and the one watchdog
    thread of the transport ends when it is closed."""
    answers = [send(_head("Content-Length: 2") + b"[]")] * 50
    with HostileServer(answers) as server:
        transport = RequestsTransport()
        try:
            for _ in range(50):
                transport.send("GET", server.url, timeout=Timeout(total=5))
            watchdog = transport.watchdog._thread
            assert watchdog is not None and watchdog.is_alive()
        finally:
            transport.close()
    assert server.connections == 1
    watchdog.join(timeout=5)
    assert not watchdog.is_alive()


# --- the depth scan --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('["[[[[[[[[[[[[[[[["]', 1),
        ('["\\\\", [["\\"[[[["]]]', 3),
        ('{"a": {"b": [1, {"c": "}}}}]]]"}]}}', 4),
        ("[" * 300 + "]" * 300, 300),
        ('"' + "[" * 1000 + '"', 0),
        ("[[], [[]], {}, [[[]]]]", 4),
    ],
    ids=["brackets-in-a-string", "escaped-quotes", "objects", "300-deep", "a-string", "mixed"],
)
def test_nesting_is_measured_exactly(text: str, depth: int) -> None:
    for encoding in ("utf-8", "utf-16", "utf-32"):
        data = text.encode(encoding)
        assert nesting_exceeds(data, max(depth - 1, 0)) == (depth > 0)
        assert not nesting_exceeds(data, depth)
