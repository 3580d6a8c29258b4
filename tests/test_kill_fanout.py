"""SIGKILL during a fan-out with file downloads and DuckDB merges, 20 times.

A real ``task-runner run`` process lists 150 photos from the emulator (merged into
DuckDB), downloads each file from the emulator's file host and merges the file records
too; it is killed at a random moment, 20 times over. After every kill: no partial file
at any final path (every file there is byte for byte the one served), the database opens,
replays its log, scans clean and holds no duplicate key. Then one more run with the same
run id completes the rest.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from task_runner.emulator import Emulator
from task_runner.emulator.files import file_bytes
from tests.runs_support import CONNECTION, write_workflow

IMAGES = 150
ROUNDS = 20

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(images=IMAGES, serve_files=True, latency=0.004) as em:
        yield em


def _workflow(folder: Path) -> Path:
    data = {
        "name": "kill-photos",
        "inputs": {"company_id": {"type": "integer"}, "project_id": {"type": "integer"}},
        "connections": {
            "procore": {**CONNECTION, "allowed_hosts": ["localhost"], "max_concurrency": 6}
        },
        "tasks": {
            "list_photos": {
                "operation": "procore.images.list",
                "connection": "procore",
                "params": {
                    "Procore-Company-Id": "{{ inputs.company_id }}",
                    "project_id": "{{ inputs.project_id }}",
                    "per_page": 25,
                },
                "paginate": "all",
                "output": {"duckdb": {"path": "procore.duckdb", "table": "images"}},
            },
            "download": {
                "for_each": {"items": "{{ tasks.list_photos.output.items }}", "concurrency": 6},
                "connection": "procore",
                "url": "{{ item.url }}",
                "output": {
                    "files": {"path": "photos/{{ item.id }}{{ item.filename | extension }}"},
                    "duckdb": {"path": "procore.duckdb", "table": "photo_files"},
                },
            },
        },
    }
    return write_workflow(folder / "wf.yaml", data)


def _start(
    folder: Path, workflow: Path, run_id: str, emulator: Emulator
) -> subprocess.Popen[bytes]:
    env = {**os.environ, **emulator.env(), "NO_COLOR": "1"}
    command = [
        sys.executable, "-m", "task_runner", "run", str(workflow),
        "--input", "company_id=8089", "--input", "project_id=777",
        "--run-id", run_id, "--state-dir", str(folder / "state"),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _check(folder: Path) -> dict[str, int]:
    """The invariants after a kill; the row counts."""
    photos = folder / "photos"
    for path in photos.iterdir() if photos.exists() else ():
        if path.name.startswith("."):
            continue  # a temp file: never at a final path
        image_id = int(path.stem)
        assert path.read_bytes() == file_bytes(image_id), f"partial or wrong file {path}"
    counts: dict[str, int] = {}
    db = folder / "procore.duckdb"
    if not db.exists():
        return counts
    con = duckdb.connect(str(db))  # read-write: replays the write-ahead log
    try:
        con.execute("CHECKPOINT")
        tables = [
            t for (t,) in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        for table in tables:
            rows, keys = con.execute(
                f'select count(*), count(distinct id) from "{table}"'
            ).fetchall()[0]
            assert rows == keys, f"duplicate keys in {table}"
            con.execute(f'select * from "{table}"').fetchall()  # every block readable
            counts[table] = rows
        for table, path_column in (("photo_files", "path"),):
            if table in tables:
                for (path,) in con.execute(f'select "{path_column}" from "{table}"').fetchall():
                    assert (folder / path).is_file(), f"{path} recorded but not on disk"
    finally:
        con.close()
    return counts


def test_sigkill_20_times_leaves_nothing_half_written_and_the_next_run_finishes(
    tmp_path: Path, emulator: Emulator
) -> None:
    workflow = _workflow(tmp_path)
    rng = random.Random(int(os.environ.get("KILL_SEED", "19")))
    # How long a whole run takes here (start-up included): kills land within it.
    started = time.monotonic()
    calibration = _start(tmp_path, workflow, "calibration", emulator)
    output, _ = calibration.communicate(timeout=120)
    assert calibration.returncode == 0, output.decode()
    whole = time.monotonic() - started
    _wipe(tmp_path)
    run_id, completed_early, killed, mid_fan_out = "kill-run-0", 0, 0, 0
    states: list[tuple[int, int, int]] = []
    for round_number in range(ROUNDS):
        process = _start(tmp_path, workflow, run_id, emulator)
        time.sleep(rng.uniform(0.2, 1.0) * whole)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        output, _ = process.communicate(timeout=60)
        if process.returncode == 0:
            completed_early += 1
        else:
            assert process.returncode == -signal.SIGKILL, output.decode()
        counts = _check(tmp_path)
        on_disk = len(list((tmp_path / "photos").glob("*.jpg")))
        mid_fan_out += 0 < on_disk < IMAGES
        states.append((counts.get("images", 0), counts.get("photo_files", 0), on_disk))
        if counts.get("photo_files") == IMAGES:
            # all done: the next round starts a new run from nothing, so that every
            # kill lands in a run with work left
            run_id = f"kill-run-{round_number + 1}"
            _wipe(tmp_path)
    print("after each round (images rows, photo_files rows, files):", states)
    assert killed >= ROUNDS // 2  # the kills landed while it worked
    assert completed_early < ROUNDS // 2
    assert mid_fan_out >= 3  # some while files were being downloaded
    final = _start(tmp_path, workflow, run_id, emulator)
    output, _ = final.communicate(timeout=120)
    assert final.returncode == 0, f"after {states}: {output.decode()}"
    counts = _check(tmp_path)
    assert counts == {"images": IMAGES, "photo_files": IMAGES}
    assert len([p for p in (tmp_path / "photos").iterdir() if not p.name.startswith(".")]) == IMAGES


def _wipe(folder: Path) -> None:
    """Start the next round from nothing, so that kills land in a run with work left."""
    import shutil

    for name in ("photos", "procore.duckdb", "procore.duckdb.wal"):
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


_MERGE_LOOP = """
import sys
from task_runner.sinks import SinkContext, make_sink
context = SinkContext(task="images", primary_key="id")
generation = 0
while True:
    generation += 1
    rows = [{"id": i, "generation": generation, "name": "x" * 40, "loc": {"n": i}}
            for i in range(generation * 1000, generation * 1000 + 60_000)]
    sink = make_sink("duckdb", {"path": sys.argv[1]}, context)
    sink.open()
    sink.write_all(rows)
    sink.commit()
    print(generation, flush=True)
"""


def test_sigkill_during_duckdb_merges_leaves_a_whole_database(tmp_path: Path) -> None:
    """Merges of 60,000 overlapping rows in a loop, killed at random 20 times: each time
    the database opens, scans clean, holds no duplicate key, and holds exactly what
    whole loads put there (a run of ids 1000 wide per committed load)."""
    db = tmp_path / "merge.duckdb"
    rng = random.Random(int(os.environ.get("KILL_SEED", "19")))
    committed_rounds = 0
    for round_number in range(ROUNDS):
        process = subprocess.Popen(
            [sys.executable, "-c", _MERGE_LOOP, str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        first = b""
        if round_number % 2 == 0:
            # every other kill lands after a load committed, however slow the machine
            assert process.stdout is not None
            first = process.stdout.readline()
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            time.sleep(rng.uniform(0.3, 2.5))  # anywhere: start-up, a load, a commit
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=60)
        committed_rounds += bool((first + output).strip())
        if not db.exists():
            continue
        con = duckdb.connect(str(db))
        try:
            con.execute("CHECKPOINT")
            rows, keys, low, high = con.execute(
                "select count(*), count(distinct id), min(id), max(id) from images"
            ).fetchall()[0]
            assert rows == keys  # no duplicate key
            assert rows == high - low + 1  # whole loads only: no gap, nothing half-merged
            (latest,) = con.execute("select max(generation) from images").fetchall()[0]
            assert high == latest * 1000 + 59_999
            con.execute("select * from images").fetchall()
        finally:
            con.close()
    assert committed_rounds >= ROUNDS // 2
