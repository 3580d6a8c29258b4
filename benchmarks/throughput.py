"""throughput: a whole pull, side by side with a bare loop, an asyncio client and dlt.

Design: a loopback Procore-style API (:class:`~benchmarks._server.ItemServer`, in a
process of its own so this one stays small: a child's peak RSS counts the memory of the
parent it was forked from; pages of
100 image records of about 600 bytes, ``Total``/``Per-Page``/``Link`` headers, OAuth2
client credentials) serves three scenarios:

* ``latency``: 50 pages at 50 ms per response (network-bound);
* ``cpu``: 200 pages at 0 ms (CPU-bound: the client is the bottleneck);
* ``scale``: 1,000 pages = 100,000 items at 10 ms.

Every contender runs as its own process, the way a user runs it (started from a small
launcher, :func:`benchmarks._common.measure_process`, so its peak RSS is its own), and
lands every item somewhere durable: ``task-runner run`` (default settings, and ``max_concurrency: 10``
in ``scale``) writes JSONL; the contenders in :mod:`benchmarks._contenders` are a bare
``requests`` loop and an aiohttp client (both write JSONL with the standard ``json``)
and dlt's ``rest_api`` source (``HeaderLinkPaginator``, loaded into DuckDB). Each is
measured from ``os.wait4``: wall time, CPU time (user + system) and peak RSS. The
contenders run interleaved, round after round (a slow spell hits all of them alike),
and each figure is the median of its rounds. A contender whose library is not installed
is reported as skipped, never estimated.

Goals (issue 15): ``cpu`` at most 1.0x the bare loop and 1.3x the asyncio client;
``latency`` at most 1.1x the asyncio client at c10; ``scale`` at most 1.3x the asyncio
client at the runner's concurrency and peak RSS at most 1.2x that of a 1,000-item run
with the same page size; every scenario at least 3x faster than dlt.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import ROOT, Result, measure_process, write_file
from benchmarks._server import CLIENT_ID, CLIENT_SECRET, ChildItemServer

NAME, UNIT = "throughput", "x"
PER_PAGE = 100
#: The asyncio client's concurrency when it stands for "the limit".
LIMIT_CONCURRENCY = 10


@dataclass(frozen=True)
class Scenario:
    name: str
    pages: int
    latency: float
    repeats: int
    what: str


FULL = (
    Scenario("latency", 50, 0.050, 3, "50 pages at 50 ms"),
    Scenario("cpu", 200, 0.0, 3, "200 pages at 0 ms (CPU-bound)"),
    Scenario("scale", 1_000, 0.010, 2, "1,000 pages = 100k items at 10 ms"),
)
QUICK = (
    Scenario("latency", 4, 0.005, 1, "4 pages at 5 ms"),
    Scenario("cpu", 6, 0.0, 1, "6 pages at 0 ms"),
    Scenario("scale", 10, 0.001, 1, "10 pages at 1 ms"),
)


@dataclass
class Measure:
    """One process run: wall seconds, CPU seconds, peak RSS in MiB."""

    wall: float
    cpu: float
    rss: float


@dataclass
class Contender:
    """A command measured in a scenario; ``skipped`` says why it did not run."""

    label: str
    command: Callable[[str, Path], list[str]]
    count: Callable[[Path, str], int]
    skipped: str | None = None
    runs: list[Measure] = field(default_factory=list)

    def median(self) -> Measure | None:
        if not self.runs:
            return None
        return Measure(
            statistics.median(m.wall for m in self.runs),
            statistics.median(m.cpu for m in self.runs),
            statistics.median(m.rss for m in self.runs),
        )


def _runner_command() -> list[str]:
    script = shutil.which("task-runner", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "task_runner"]


def _workflow(path: Path, base_url: str, concurrency: int | None) -> Path:
    """The pull as a user writes it: OAuth2 connection, ``paginate: all``, JSONL out."""
    paginate = "all" if concurrency is None else f"{{pages: all, max_concurrency: {concurrency}}}"
    limit = "" if concurrency is None else f"    max_concurrency: {concurrency}\n"
    return write_file(
        path,
        f"""name: bench-throughput
connections:
  api:
    base_url: "{base_url}"
{limit}    auth:
      type: oauth2_client_credentials
      token_url: "{base_url}/oauth/token"
      client_id: "{{{{ secrets.BENCH_CLIENT_ID }}}}"
      client_secret: "{{{{ secrets.BENCH_CLIENT_SECRET }}}}"
tasks:
  images:
    connection: api
    request: {{method: GET, url: /items, query: {{per_page: {PER_PAGE}}}}}
    paginate: {paginate}
    output:
      jsonl: out/items.jsonl
""",
    )


def _jsonl_lines(directory: Path, stdout: str) -> int:
    with open(directory / "out" / "items.jsonl", "rb") as file:
        return sum(1 for _ in file)


def _printed(directory: Path, stdout: str) -> int:
    return int(stdout.strip().splitlines()[-1])


def _runner(label: str, concurrency: int | None) -> Contender:
    def command(base_url: str, directory: Path) -> list[str]:
        workflow = _workflow(directory / "pull.yaml", base_url, concurrency)
        return [*_runner_command(), "run", str(workflow), "--output", "json"]

    return Contender(label, command, _jsonl_lines)


def _script(label: str, kind: str, concurrency: int, needs: str | None) -> Contender:
    def command(base_url: str, directory: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "benchmarks._contenders",
            kind,
            base_url,
            str(directory),
            "--per-page",
            str(PER_PAGE),
            "--concurrency",
            str(concurrency),
        ]

    missing = needs is not None and importlib.util.find_spec(needs) is None
    reason = f"{needs} is not installed (pip install 'task-runner[bench]')" if missing else None
    return Contender(label, command, _printed, skipped=reason)


def _contenders(scenario: Scenario, quick: bool) -> list[Contender]:
    found = [_runner("task-runner (default)", None)]
    if scenario.name == "scale":
        found.append(_runner(f"task-runner (c{LIMIT_CONCURRENCY})", LIMIT_CONCURRENCY))
    found.append(_script("bare requests loop", "bare", 1, None))
    found.append(_script("aiohttp c4", "aiohttp", 4, "aiohttp"))
    found.append(_script(f"aiohttp c{LIMIT_CONCURRENCY}", "aiohttp", LIMIT_CONCURRENCY, "aiohttp"))
    dlt = _script("dlt rest_api -> duckdb", "dlt", 1, "dlt")
    if quick and dlt.skipped is None:
        dlt.skipped = "--quick: dlt's start-up alone takes seconds; measured in the full run"
    found.append(dlt)
    return found


def bytecode_env(cache: Path) -> dict[str, str]:
    """The environment of a measured process: byte-code compiled once into ``cache`` and
    reused, as an installed wheel has it (pip compiles at install time), even where
    ``PYTHONDONTWRITEBYTECODE`` is set: an editable checkout would otherwise compile
    every module of the runner from source on every start."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def _measure(command: list[str], directory: Path) -> tuple[Measure, str]:
    """Run ``command`` in ``directory``; its wall time, CPU time and peak RSS."""
    env = {
        **bytecode_env(directory.parent / "pycache"),
        "BENCH_CLIENT_ID": CLIENT_ID,
        "BENCH_CLIENT_SECRET": CLIENT_SECRET,
    }
    out_path, err_path = directory / "stdout.txt", directory / "stderr.txt"
    done = measure_process(command, cwd=directory, env=env, stdout=out_path, stderr=err_path)
    if done.code != 0:
        tail = err_path.read_text(errors="replace")[-800:]
        raise RuntimeError(f"{' '.join(command[:4])}... exited {done.code}: {tail}")
    measure = Measure(done.wall, done.cpu, done.rss / 1024 / 1024)
    return measure, out_path.read_text(errors="replace")


def _play(scenario: Scenario, contenders: list[Contender], base_url: str, tmp: Path) -> None:
    """``scenario.repeats`` rounds, every contender once per round, the order rotated."""
    active = [c for c in contenders if c.skipped is None]
    expected = scenario.pages * PER_PAGE
    for round_number in range(scenario.repeats):
        shift = round_number % len(active)
        for contender in active[shift:] + active[:shift]:
            directory = tmp / f"{scenario.name}-{round_number}-{active.index(contender)}"
            directory.mkdir(parents=True)
            measure, stdout = _measure(contender.command(base_url, directory), directory)
            got = contender.count(directory, stdout)
            if got != expected:
                raise RuntimeError(f"{contender.label}: {got} items landed, {expected} expected")
            contender.runs.append(measure)
            shutil.rmtree(directory, ignore_errors=True)


def _warm_up(tmp: Path) -> None:
    """One untimed run of every quick contender: byte-code written, files cached."""
    warm = Scenario("warm", 2, 0.0, 1, "")
    scripts = [c for c in _contenders(warm, quick=True) if c.skipped is None]
    with ChildItemServer(total=warm.pages * PER_PAGE, oauth=True) as base_url:
        _play(warm, scripts, base_url, tmp)


def _small_rss(scenario: Scenario, tmp: Path) -> float:
    """Peak RSS of the runner's default pull of 1,000 items (10 pages of 100)."""
    small = Scenario("small", 10, scenario.latency, 1, "")
    runner = _runner("task-runner 1k items", None)
    total = small.pages * PER_PAGE
    with ChildItemServer(total=total, latency=small.latency, oauth=True) as base_url:
        _play(small, [runner], base_url, tmp)
    median = runner.median()
    assert median is not None
    return median.rss


def _table(scenario: Scenario, contenders: list[Contender]) -> list[str]:
    ours = contenders[0].median()
    lines = [f"{scenario.name}: {scenario.what}, {PER_PAGE} items/page, OAuth2"]
    lines.append(
        f"  {'contender':26} {'wall':>8} {'CPU':>8} {'peak RSS':>10}  {'wall vs task-runner':>20}"
    )
    for contender in contenders:
        median = contender.median()
        if median is None:
            lines.append(f"  {contender.label:26} skipped: {contender.skipped}")
            continue
        ratio = f"{median.wall / ours.wall:.2f}x" if ours else "-"
        lines.append(
            f"  {contender.label:26} {median.wall:7.3f}s {median.cpu:7.3f}s "
            f"{median.rss:7.1f} MiB  {ratio:>20}"
        )
    return lines


def _by_label(contenders: list[Contender], prefix: str) -> Measure | None:
    for contender in contenders:
        if contender.label.startswith(prefix):
            return contender.median()
    return None


def _ratio_row(
    name: str,
    goal: str,
    limit: float,
    subject: Measure | None,
    baseline: Measure | None,
    baseline_label: str,
    quick: bool,
    detail: str,
    table: list[str],
) -> Result:
    if subject is None or baseline is None:
        reason = f"{baseline_label} not measured (not installed, or --quick)"
        return Result(name, None, UNIT, None, goal, None, detail=reason, skipped=reason)
    ratio = subject.wall / baseline.wall
    return Result(
        name,
        ratio,
        UNIT,
        baseline.wall,
        goal,
        None if quick else ratio <= limit,
        measured=subject.wall,
        detail=f"{detail}: task-runner {subject.wall:.3f}s, {baseline_label} {baseline.wall:.3f}s",
        extra={"table": table},
    )


def run(quick: bool) -> list[Result]:
    scenarios = QUICK if quick else FULL
    played: dict[str, list[Contender]] = {}
    tables: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp_name:
        tmp = Path(tmp_name)
        _warm_up(tmp)
        for scenario in scenarios:
            contenders = _contenders(scenario, quick)
            total = scenario.pages * PER_PAGE
            # The server runs in its own process: a child forked from a parent that
            # holds the page cache would report the parent's memory as its peak RSS.
            with ChildItemServer(total=total, latency=scenario.latency, oauth=True) as base_url:
                _play(scenario, contenders, base_url, tmp)
            played[scenario.name] = contenders
            tables += _table(scenario, contenders)
        small_rss = _small_rss(scenarios[-1], tmp)
    latency, cpu, scale = (played[s.name] for s in scenarios)
    ours = {name: group[0].median() for name, group in played.items()}
    c10 = f"aiohttp c{LIMIT_CONCURRENCY}"
    rows = [
        _ratio_row(
            "throughput-cpu-vs-bare",
            "<= 1.0x",
            1.0,
            ours["cpu"],
            _by_label(cpu, "bare"),
            "bare requests loop",
            quick,
            scenarios[1].what,
            tables,
        ),
        _ratio_row(
            "throughput-cpu-vs-asyncio",
            "<= 1.3x",
            1.3,
            ours["cpu"],
            _by_label(cpu, c10),
            c10,
            quick,
            scenarios[1].what,
            tables,
        ),
        _ratio_row(
            "throughput-latency-vs-asyncio",
            "<= 1.1x",
            1.1,
            ours["latency"],
            _by_label(latency, c10),
            c10,
            quick,
            scenarios[0].what,
            tables,
        ),
        _ratio_row(
            "throughput-scale-vs-asyncio",
            "<= 1.3x",
            1.3,
            ours["scale"],
            _by_label(scale, c10),
            c10,
            quick,
            scenarios[2].what,
            tables,
        ),
    ]
    scale_rss = ours["scale"].rss if ours["scale"] else 0.0
    rss_ratio = scale_rss / small_rss
    rows.append(
        Result(
            "throughput-scale-rss",
            rss_ratio,
            UNIT,
            small_rss,
            "<= 1.2x",
            None if quick else rss_ratio <= 1.2,
            measured=scale_rss,
            baseline_unit="MiB",
            detail=f"peak RSS: {scenarios[2].pages * PER_PAGE:,} items {scale_rss:.1f} MiB, "
            f"1,000 items {small_rss:.1f} MiB ({PER_PAGE} items/page)",
        )
    )
    rows.append(_dlt_row(scenarios, played, quick))
    return rows


def _dlt_row(
    scenarios: tuple[Scenario, ...], played: dict[str, list[Contender]], quick: bool
) -> Result:
    """The smallest speed-up over dlt across the scenarios (goal: at least 3x in each)."""
    name, goal = "throughput-vs-dlt", ">= 3x"
    speedups: list[tuple[float, str]] = []
    for scenario in scenarios:
        ours, dlt = played[scenario.name][0].median(), _by_label(played[scenario.name], "dlt")
        if ours is None or dlt is None:
            reason = next(c.skipped for c in played[scenario.name] if c.label.startswith("dlt"))
            return Result(name, None, "x faster", None, goal, None, detail=reason, skipped=reason)
        speedups.append((dlt.wall / ours.wall, scenario.name))
    worst, where = min(speedups)
    dlt_wall = _by_label(played[where], "dlt")
    return Result(
        name,
        worst,
        "x faster",
        dlt_wall.wall if dlt_wall else None,
        goal,
        None if quick else worst >= 3.0,
        detail="dlt wall / task-runner wall: "
        + ", ".join(f"{scenario} {speedup:.1f}x" for speedup, scenario in speedups)
        + f" (lowest: {where})",
    )


# --- the transport choice: CPU per request of each client library, interleaved ---------


def transport_table(requests_per_round: int = 200, rounds: int = 5) -> list[str]:
    """CPU milliseconds per request of each HTTP client, sequential GETs of one 60 kB page
    on one kept-alive connection, the clients interleaved round after round.

    ``RequestsTransport.send`` is the runner's transport (deadline, cap, redirects and
    all); the others are the bare library calls a transport would be built on.
    """
    import asyncio

    import requests

    from task_runner.http.transport import RequestsTransport
    from task_runner.model import Timeout

    headers = {"Authorization": "Bearer x", "Accept": "application/json"}
    with ChildItemServer(total=PER_PAGE * 10) as base_url:
        url = f"{base_url}/items?per_page={PER_PAGE}&page=1"
        ours = RequestsTransport(pool_size=1)
        session = requests.Session()
        session.trust_env = False

        def runner() -> None:
            for _ in range(requests_per_round):
                ours.send("GET", url, headers=headers, timeout=Timeout())

        def requests_session() -> None:
            for _ in range(requests_per_round):
                with session.get(url, headers=headers, stream=True, timeout=(10, 60)) as r:
                    b"".join(r.iter_content(65536))

        clients: dict[str, Callable[[], None]] = {
            "task-runner RequestsTransport.send": runner,
            "requests.Session.get (stream)": requests_session,
        }
        try:
            import urllib3

            pool = urllib3.connection_from_url(base_url, maxsize=1, retries=False)
            path = url[len(base_url) :]

            def urllib3_pool() -> None:
                for _ in range(requests_per_round):
                    r = pool.urlopen("GET", path, headers=headers, preload_content=False)
                    b"".join(r.stream(65536, decode_content=True))
                    r.release_conn()

            clients["urllib3 pool.urlopen"] = urllib3_pool
        except ImportError:
            pass
        if importlib.util.find_spec("httpx"):
            import httpx

            client = httpx.Client(trust_env=False)

            def httpx_client() -> None:
                for _ in range(requests_per_round):
                    with client.stream("GET", url, headers=headers) as r:
                        b"".join(r.iter_bytes(65536))

            clients["httpx.Client.stream"] = httpx_client
        if importlib.util.find_spec("aiohttp"):
            import aiohttp

            def aiohttp_client() -> None:
                async def main() -> None:
                    async with aiohttp.ClientSession() as s:
                        for _ in range(requests_per_round):
                            async with s.get(url, headers=headers) as r:
                                await r.read()

                asyncio.run(main())

            clients["aiohttp (asyncio, sequential)"] = aiohttp_client
        cpu: dict[str, list[float]] = {name: [] for name in clients}
        for call in clients.values():
            call()  # connections open, code warm
        for _ in range(rounds):
            for name, call in clients.items():
                started = time.process_time()
                call()
                cpu[name].append((time.process_time() - started) * 1000 / requests_per_round)
        ours.close()
    lines = [f"CPU per request, {PER_PAGE}-item page, median of {rounds} interleaved rounds"]
    base = statistics.median(cpu["requests.Session.get (stream)"])
    for name, times in cpu.items():
        median = statistics.median(times)
        lines.append(f"  {name:36} {median:6.3f} ms  ({median / base:.2f}x requests.Session)")
    return lines


if __name__ == "__main__":
    print("\n".join(transport_table()))
