"""Sinks through the registry: DuckDB (append, replace, merge, new columns, nested JSON,
one transaction), Parquet, CSV and dlt's duckdb destination; secrets masked in every
one; the README example's merge over overlapping windows, on the emulator."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from task_runner.emulator import Emulator
from task_runner.errors import OutputError
from task_runner.http.sink import SINKS
from task_runner.http.sink import make_sink as registry_make_sink
from task_runner.redact import REDACTOR
from task_runner.runner import ExecutionOptions, execute
from task_runner.runner.emulated import emulated_connections
from task_runner.schema_fragments import fragments
from task_runner.sinks import KINDS, SinkContext, SinkKind, make_sink, register
from task_runner.workflow import load_workflow

CONTEXT = SinkContext(task="images", run_id="r1", primary_key="id")
EXAMPLE = Path(__file__).parent.parent / "examples" / "workflows" / "procore_photos_to_duckdb.yaml"


def load(path: Path, rows: list[Any], context: SinkContext = CONTEXT, **settings: Any) -> None:
    sink = make_sink(settings.pop("kind", "duckdb"), {"path": str(path), **settings}, context)
    sink.open()
    sink.write_all(rows)
    sink.commit()


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_kind_is_in_the_one_registry() -> None:
    for name in ("jsonl", "duckdb", "parquet", "csv", "dlt"):
        registry_make_sink("jsonl", "x.jsonl")  # loads the kinds on first use
        assert name in SINKS


def test_merge_upserts_on_the_key_and_never_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    load(db, [{"id": i, "name": f"a{i}"} for i in range(5)])
    load(db, [{"id": i, "name": f"b{i}"} for i in range(3, 8)] + [{"id": 7, "name": "last"}])
    rows = query(db, "select id, name from images order by id")
    assert rows == [
        (0, "a0"),
        (1, "a1"),
        (2, "a2"),
        (3, "b3"),
        (4, "b4"),
        (5, "b5"),
        (6, "b6"),
        (7, "last"),
    ]


@pytest.mark.parametrize("repeats", [False, True], ids=["distinct-keys", "a-key-repeats"])
def test_a_merge_says_how_many_rows_it_inserted_and_updated(tmp_path: Path, repeats: bool) -> None:
    from task_runner.sinks.outputs import TaskOutputs

    db = tmp_path / "p.duckdb"
    load(db, [{"id": i} for i in range(5)])
    rows = [{"id": i, "v": 1} for i in range(3, 8)] + ([{"id": 7, "v": 2}] if repeats else [])
    outputs = TaskOutputs.open(jsonl=None, sinks={"duckdb": {"path": str(db)}}, context=CONTEXT)
    outputs.write_all(rows)
    outputs.commit()
    assert outputs.summary() == {
        "duckdb": {
            "path": str(db),
            "table": "images",
            "write": "merge",
            "rows": len(rows),
            "inserted": len(rows) - 2,  # 3 and 4 were there
            "updated": 2,
        }
    }
    assert query(db, "select count(*) from images") == [(8,)]


def test_sinks_without_their_own_summary_say_path_and_rows(tmp_path: Path) -> None:
    from task_runner.sinks.outputs import TaskOutputs

    target = tmp_path / "out.csv"
    outputs = TaskOutputs.open(
        jsonl=str(tmp_path / "o.jsonl"), sinks={"csv": str(target)}, context=CONTEXT
    )
    outputs.write_all([{"id": 1}, {"id": 2}])
    outputs.commit()
    assert outputs.summary() == {
        "jsonl": {"path": str(tmp_path / "o.jsonl"), "rows": 2},
        "csv": {"path": str(target), "rows": 2},
    }


def test_append_and_replace(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    load(db, [{"id": 1}], write="append")
    load(db, [{"id": 1}], write="append")
    assert query(db, "select count(*) from images") == [(2,)]
    load(db, [{"id": 9}], write="replace")
    assert query(db, "select id from images") == [(9,)]


def test_new_fields_add_columns_and_nested_values_are_json(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    load(db, [{"id": 1, "location": {"id": 5, "name": "East"}, "trades": [{"id": 2}]}])
    load(db, [{"id": 2, "starred": True, "size": 1.5}])
    columns = dict(query(db, "select column_name, data_type from information_schema.columns"))
    assert columns["location"] == "JSON" and columns["trades"] == "JSON"
    assert columns["starred"] == "BOOLEAN" and columns["size"] == "DOUBLE"
    assert query(db, "select location->>'$.name' from images where id = 1") == [("East",)]


def test_a_failed_load_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    load(db, [{"id": 1, "n": 10}])
    with pytest.raises(OutputError, match="nothing was written"):
        load(db, [{"id": 2, "n": 11, "new": "x"}, {"id": 3, "n": "not a number", "new": "y"}])
    assert query(db, "select id, n from images") == [(1, 10)]
    columns = [c for (c,) in query(db, "select column_name from information_schema.columns")]
    assert "new" not in columns  # the ALTER TABLE was rolled back with the rest
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging gone


def test_merge_without_the_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    with pytest.raises(OutputError, match="no field 'id' to merge on") as caught:
        load(db, [{"name": "no id"}])
    assert "primary_key" in (caught.value.hint or "")
    with pytest.raises(OutputError, match="have no 'id'"):
        load(db, [{"id": 1}, {"id": None}])


def test_the_item_schema_gives_column_types(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "taken_at": {"type": "string", "format": "date-time"},
            "width": {"type": ["integer", "null"]},
        },
    }
    context = SinkContext(task="images", primary_key="id", schema=schema)
    load(db, [{"id": 1, "taken_at": "2026-11-29T10:00:00Z"}], context)
    columns = dict(query(db, "select column_name, data_type from information_schema.columns"))
    assert columns == {"id": "BIGINT", "taken_at": "TIMESTAMP WITH TIME ZONE", "width": "BIGINT"}


def test_parquet_and_csv(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "name": "Café", "loc": {"a": 1}, "ok": True},
        {"id": 2, "name": '=HYPERLINK("x")', "extra": 2.5},
    ]
    load(tmp_path / "o.parquet", rows, kind="parquet")
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.column_names == ["id", "name", "loc", "ok", "extra"]
    assert table.column("loc").to_pylist() == ['{"a":1}', None]
    assert str(table.schema.field("id").type) == "int64"
    load(tmp_path / "o.csv", rows, kind="csv")
    raw = (tmp_path / "o.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 with its BOM
    with open(tmp_path / "o.csv", encoding="utf-8-sig", newline="") as stream:
        got = list(csv.reader(stream))
    assert got[0] == ["id", "name", "loc", "ok", "extra"]
    assert got[1] == ["1", "Café", '{"a":1}', "true", ""]
    assert got[2][1] == '\'=HYPERLINK("x")'  # not run as a formula


def test_secrets_never_land_in_a_table_or_file(tmp_path: Path) -> None:
    canary = "sink-canary-3f9a0c51e2"
    REDACTOR.add(canary, source="test")
    rows = [{"id": 1, "note": f"token {canary} leaked", "nested": {"k": canary}}]
    load(tmp_path / "p.duckdb", rows)
    load(tmp_path / "o.parquet", rows, kind="parquet")
    load(tmp_path / "o.csv", rows, kind="csv")
    dumped = json.dumps(query(tmp_path / "p.duckdb", "select * from images"), default=str)
    assert canary not in dumped and "***" in dumped
    assert canary.encode() not in (tmp_path / "p.duckdb").read_bytes()
    assert canary not in json.dumps(pq.read_table(tmp_path / "o.parquet").to_pylist())
    assert canary not in (tmp_path / "o.csv").read_text(encoding="utf-8-sig")


def test_dlt_loads_into_its_duckdb_destination(tmp_path: Path) -> None:
    pytest.importorskip("dlt")
    target = tmp_path / "dlt.duckdb"
    settings: dict[str, Any] = {
        "destination": "duckdb",
        "credentials": str(target),
        "dataset": "procore",
        "write": "merge",
        "pipelines_dir": str(tmp_path / "pipelines"),
    }
    load(
        tmp_path / "unused",
        [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        kind="dlt",
        **settings,
    )
    load(
        tmp_path / "unused",
        [{"id": 2, "name": "B"}, {"id": 3, "name": "c"}],
        kind="dlt",
        **settings,
    )
    rows = query(target, "select id, name from procore.images order by id")
    assert rows == [(1, "a"), (2, "B"), (3, "c")]


def test_a_new_kind_reaches_the_workflow_schema(tmp_path: Path) -> None:
    kind = SinkKind(
        name="test_only_kind",
        build=lambda target, settings, context: make_sink("csv", {"path": target}, context),
        options={"flavour": {"type": "string"}},
    )
    register(kind)
    try:
        output = fragments(apis=[])["output"]
        assert output["properties"]["test_only_kind"]["properties"]["flavour"]
        assert {"duckdb", "parquet", "csv", "dlt", "files", "jsonl"} <= set(output["properties"])
    finally:
        KINDS.pop("test_only_kind")
        SINKS.pop("test_only_kind")


@pytest.fixture
def photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.chdir(tmp_path)
    with Emulator(images=60, serve_files=True) as em:
        yield em


def test_the_readme_example_merges_overlapping_windows(tmp_path: Path, photos: Emulator) -> None:
    workflow = load_workflow(shutil.copy(EXAMPLE, tmp_path / "example.yaml"))
    options = ExecutionOptions(connection_overrides=emulated_connections(workflow, photos))
    from task_runner.workflow.prepare import RunContext

    def window(days: float, lookback_days: float) -> RunContext:
        import datetime as dt

        end = dt.datetime.fromtimestamp(photos.data.end, dt.timezone.utc) - dt.timedelta(days=days)
        start = end - dt.timedelta(days=lookback_days)
        return RunContext(id=f"r{days}", workflow=workflow.name, window_start=start, window_end=end)

    inputs = {"company_id": 8089, "project_id": 777}
    first = execute(workflow, inputs, run=window(0, 60), options=options)
    assert first.status == "succeeded", first.error
    count = query(Path("procore.duckdb"), "select count(*), count(distinct id) from images")
    assert count[0][0] == count[0][1] == first.tasks["list_photos"].item_count > 0
    again = execute(workflow, inputs, run=window(0, 30), options=options)  # inside the first
    assert again.status == "succeeded", again.error
    assert query(Path("procore.duckdb"), "select count(*) from images") == [(count[0][0],)]
    files = query(Path("procore.duckdb"), "select count(*), count(distinct id) from photo_files")
    assert files[0][0] == files[0][1] == count[0][0]
    assert len(list(Path("photos").iterdir())) == count[0][0]


def test_output_mistakes_are_reported_where_they_are(tmp_path: Path) -> None:
    from task_runner.errors import InputErrors

    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"
        "connections:\n"
        "  api: {base_url: 'https://example.com'}\n"
        "tasks:\n"
        "  a:\n"
        "    connection: api\n"
        "    request: {url: /x}\n"
        "    output:\n"
        "      duckdbb: x.duckdb\n"
        "      duckdb: {path: x.duckdb, write: upsert}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputErrors) as caught:
        load_workflow(path)
    text = caught.value.format()
    assert "bad.yaml:9:7: a.output.duckdbb: unknown key 'duckdbb' (did you mean 'duckdb'?)" in text
    assert "bad.yaml:10:" in text and "a.output.duckdb.write: 'upsert' is not one of" in text


def test_a_secret_in_a_field_name_is_masked_and_its_value_kept(tmp_path: Path) -> None:
    """Columns are read from the rows as masked: the column is `***` and holds the value."""
    import csv as csv_module

    from task_runner.redact import Redactor
    from task_runner.sinks import SinkContext, make_sink

    secret = "s3cr3t-field-7c1d"
    context = SinkContext(task="t", redactor=Redactor([secret]))
    target = tmp_path / "rows.csv"
    sink = make_sink("csv", {"path": str(target)}, context)
    sink.open()
    sink.write_all([{"id": 1, secret: "kept"}])
    sink.commit()
    text = target.read_text(encoding="utf-8-sig")
    assert secret not in text
    [row] = list(csv_module.DictReader(text.splitlines()))
    assert row["***"] == "kept"
