"""``task-runner lsp`` end to end over stdio, with a real LSP client (pytest-lsp):
diagnostics as ``validate`` reports them, from the unsaved buffer; completion; hover;
definition; code lenses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_support import SERVER, find, initialize, open_workflow, wait_diagnostics

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "workflows" / "procore_images.yaml"
VALIDATE = [sys.executable, "-m", "task_runner", "validate"]

PLANTED = """\
name: planted
descripton: a typo in a top-level key
schedule:
  cron: "61 6 * * *"
  timezone: Mars/Olympus
window:
  lag: soon
inputs:
  company_id: {type: integer}
  project_id: {type: integer, default: 777}
connections:
  procore:
    api: procore
    base_url: "{{ env.PROCORE_BASE_URL | default('https://api.procore.com') }}"
    auth:
      type: oauth2_client_credentials
      token_url: "{{ env.PROCORE_TOKEN_URL | default('https://login.procore.com/oauth/token') }}"
      client_id: "{{ secrets.PROCORE_CLIENT_ID }}"
      client_secret: "{{ secrets.PROCORE_CLIENT_SECRET }}"
tasks:
  list_images:
    operation: procore.images.list
    connection: procor
    params:
      Procore-Company-Id: "{{ inputs.company }}"
      project_id: "{{ inputs.project_id"
      filters[updated_at]: "{{ run.window_begin | iso_range(run.window_end) }}"
      sort: newest
      per_page: many
      per_pag: 100
    retries: 3
  more_images:
    operation: procore.images.lst
    connection: procore
    depends_on: [list_imagez]
    params:
      project_id: "{{ tasks.list_imagez.output.items }}"
"""

#: (text underlined, the start of its message) for each planted mistake.
EXPECTED = [
    ("descripton", "unknown key 'descripton'"),
    ('"61 6 * * *"', "'61 6 * * *' is not a valid cron expression"),
    ("Mars/Olympus", "unknown time zone"),
    ("soon", "'soon' is not valid here"),
    ("procor", "unknown connection 'procor'"),
    ('"{{ inputs.company }}"', "inputs.company is not declared"),
    ('"{{ inputs.project_id"', "template syntax error"),
    ('"{{ run.window_begin | iso_range(run.window_end) }}"', "run.window_begin is not"),
    ("newest", "'newest' is not one of the allowed values"),
    ("many", "'many' is not an integer"),
    ("per_pag", "unknown parameter 'per_pag'"),
    ("retries", "unknown key 'retries'"),
    ("procore.images.lst", "unknown operation 'procore.images.lst'"),
    ("list_imagez", "unknown task 'list_imagez'"),
    ('"{{ tasks.list_imagez.output.items }}"', "tasks.list_imagez is not a task"),
]


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    await initialize(lsp_client, tmp_path, {"inputs": {"company_id": 8089, "project_id": 777}})
    yield
    await lsp_client.shutdown_session()


def _text(lines: list[str], r: types.Range) -> str:
    assert r.start.line == r.end.line, r
    return lines[r.start.line][r.start.character : r.end.character]


def _validate_json(path: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "task_runner", "validate", str(path), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    return json.loads(done.stdout)


@pytest.mark.asyncio
async def test_diagnostics_are_what_validate_reports_with_exact_ranges(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "planted.yaml"
    path.write_text(PLANTED, encoding="utf-8")
    found = await open_workflow(client, path)
    reported = _validate_json(path)
    assert len(found) == len(reported) == len(EXPECTED)
    lines = PLANTED.splitlines()
    for diagnostic, error, (underlined, message) in zip(found, reported, EXPECTED, strict=True):
        assert (diagnostic.range.start.line + 1, diagnostic.range.start.character + 1) == (
            error["line"],
            error["column"],
        )
        assert diagnostic.message == error["message"]
        assert diagnostic.code == error["kind"]
        assert diagnostic.severity == types.DiagnosticSeverity.Error
        assert _text(lines, diagnostic.range) == underlined
        assert diagnostic.message.startswith(message)


@pytest.mark.asyncio
async def test_diagnostics_follow_the_unsaved_buffer(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "wf.yaml"
    shutil.copy(EXAMPLE, path)
    assert await open_workflow(client, path) == []
    text = path.read_text(encoding="utf-8")
    line, col = find(text, "per_page")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=line, character=col + 3),
                        end=types.Position(line=line, character=col + 4),
                    ),
                    text="-",
                )
            ],
        )
    )
    found = await wait_diagnostics(client, path.as_uri())
    assert [(d.range.start.line, d.code) for d in found] == [(line, "SchemaValidationError")]
    assert "unknown parameter 'per-page'" in found[0].message
    assert path.read_text(encoding="utf-8") == text  # the file on disk is untouched


@pytest.mark.asyncio
async def test_non_ascii_text_before_an_error_keeps_utf16_columns(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "wf.yaml"
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "sort: -created_at", 'sort: -created_at\n      "filters[😀x]": 1'
    )
    found = await open_workflow(client, path, text)
    assert len(found) == 1
    line, col = find(text, '"filters[😀x]"')
    assert found[0].range.start == types.Position(line=line, character=col)
    assert found[0].range.end.character == col + len('"filters[😀x]"') + 1  # 😀 is 2 UTF-16 units


@pytest.mark.asyncio
async def test_other_yaml_files_get_no_diagnostics(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    assert await open_workflow(client, path, "services:\n  web: {image: nginx}\n") == []


# --- completion ----------------------------------------------------------------------------


async def _complete(
    client: LanguageClient, path: Path, text: str, needle: str, shift: int = 0
) -> types.CompletionList:
    await open_workflow(client, path, text)
    line, col = find(text, needle)
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
            position=types.Position(line=line, character=col + len(needle) + shift),
        )
    )
    assert isinstance(result, types.CompletionList)
    return result


@pytest.mark.asyncio
async def test_completion_of_parameters_puts_required_first_and_leaves_out_present_ones(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("      per_page: 100\n", "      per\n")
    result = await _complete(client, tmp_path / "wf.yaml", text, "      per")
    labels = [i.label for i in sorted(result.items, key=lambda i: i.sort_text or "")]
    assert "per_page" in labels and "page" in labels
    assert "project_id" not in labels and "sort" not in labels  # already there
    per_page = next(i for i in result.items if i.label == "per_page")
    assert per_page.detail == "integer, in query, optional"
    assert isinstance(per_page.text_edit, types.TextEdit)
    assert per_page.text_edit.new_text == "per_page: "
    # in a fresh task, the required ones come first
    fresh = text.replace('      Procore-Company-Id: "{{ inputs.company_id }}"\n', "").replace(
        '      project_id: "{{ inputs.project_id }}"\n', ""
    )
    result = await _complete(client, tmp_path / "fresh.yaml", fresh, "      per")
    ordered = [i.label for i in sorted(result.items, key=lambda i: i.sort_text or "")]
    assert ordered[:2] == ["Procore-Company-Id", "project_id"]
    assert next(i for i in result.items if i.label == "Procore-Company-Id").detail == (
        "integer, in header, required"
    )


@pytest.mark.asyncio
async def test_completion_of_operation_ids_enum_values_and_connections(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "wf.yaml"
    ops = await _complete(
        client,
        path,
        text.replace("procore.images.list     #", "procore.ima     #"),
        "operation: procore.ima",
    )
    images = next(i for i in ops.items if i.label == "procore.images.list")
    assert images.detail == "GET /rest/v1.0/images"
    assert "Images" in str(images.documentation)
    assert {i.label for i in ops.items} <= {"procore.images.list"}
    assert ops.is_incomplete  # narrowed by what was typed: ask again as typing goes on
    # a word that is no id's part searches the catalogue, as `apis search` does
    searched = await _complete(
        client, path, text.replace("procore.images.list     #", "photos     #"), "operation: photos"
    )
    found = next(i for i in searched.items if i.label == "procore.images.list")
    assert found.filter_text == "photos procore.images.list"
    assert isinstance(found.text_edit, types.TextEdit)
    assert found.text_edit.new_text == "procore.images.list"
    sort = await _complete(client, path, text.replace("sort: -created_at", "sort: "), "sort: ")
    assert {"created_at", "taken_at", "most_recent"} <= {i.label for i in sort.items}
    conn = await _complete(
        client, path, text.replace("connection: procore", "connection: "), "connection: "
    )
    assert [i.label for i in conn.items] == ["procore"]


@pytest.mark.asyncio
async def test_completion_inside_templates(client: LanguageClient, tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "wf.yaml"

    async def labels(old: str, new: str, needle: str) -> set[str]:
        changed = text.replace(old, new)
        return {i.label for i in (await _complete(client, path, changed, needle)).items}

    project = '"{{ inputs.project_id }}"'
    assert await labels(project, '"{{ inputs. }}"', "{{ inputs.") == {"company_id", "project_id"}
    assert await labels(project, '"{{ run. }}"', "{{ run.") >= {"window_start", "window_end", "id"}
    assert await labels(project, '"{{ tasks. }}"', "{{ tasks.") == {"list_images"}
    assert await labels(project, '"{{ tasks.list_images.output. }}"', "output.") >= {
        "items",
        "item_count",
    }
    assert await labels(project, '"{{ in }}"', "{{ in") >= {
        "inputs",
        "env",
        "secrets",
        "tasks",
        "run",
    }
    filters = await labels(project, '"{{ run.window_start | is }}"', "| is")
    assert {"iso", "iso_range", "iso_date", "shift", "default"} <= filters
    secrets = await labels(project, '"{{ secrets. }}"', "{{ secrets.")
    assert {"PROCORE_CLIENT_ID", "PROCORE_CLIENT_SECRET"} <= secrets


@pytest.mark.asyncio
async def test_completion_of_durations_and_cron(client: LanguageClient, tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "wf.yaml"
    lag = await _complete(client, path, text.replace("lag: 60s", "lag: "), "lag: ")
    assert {"30s", "5m", "1h", "1d"} <= {i.label for i in lag.items}
    cron = await _complete(client, path, text.replace('cron: "0 6 * * *"', "cron: "), "cron: ")
    daily = next(i for i in cron.items if i.label == '"0 6 * * *"')
    assert daily.insert_text_format == types.InsertTextFormat.Snippet
    assert "every day at 06:00" in str(daily.detail)


# --- hover and definition -----------------------------------------------------------------


async def _hover(client: LanguageClient, path: Path, text: str, needle: str, shift: int = 1) -> str:
    await open_workflow(client, path, text)
    line, col = find(text, needle)
    found = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
            position=types.Position(line=line, character=col + shift),
        )
    )
    assert found is not None and isinstance(found.contents, types.MarkupContent)
    return found.contents.value


@pytest.mark.asyncio
async def test_hover_shows_the_reference_and_rendered_templates(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "wf.yaml"
    operation = await _hover(client, path, text, "procore.images.list")
    assert (
        "`GET /rest/v1.0/images`" in operation
        and "| `project_id` | query | integer | yes |" in operation
    )
    param = await _hover(client, path, text, "sort:")
    assert "**sort** of `procore.images.list`: string, in query, optional" in param
    assert '`"created_at"`' in param  # the enum
    company = await _hover(client, path, text, '"{{ inputs.company_id }}"', 5)
    assert "renders to `8089` (int)" in company  # the editor's inputs
    undeclared = text.replace("{{ inputs.project_id }}", "{{ inputs.site_id }}")
    site = await _hover(client, path, undeclared, '"{{ inputs.site_id }}"', 5)
    assert "does not render now" in site and "taskRunner.inputs" in site
    secret = await _hover(client, path, text, '"{{ secrets.PROCORE_CLIENT_ID }}"', 5)
    assert 'renders to `"***"`' in secret


@pytest.mark.asyncio
async def test_definition_of_operations_connections_and_tasks(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8") + (
        "  again:\n    operation: procore.images.list\n    connection: procore\n"
        '    params: {project_id: "{{ tasks.list_images.output.item_count }}"}\n'
    )
    path = tmp_path / "wf.yaml"
    await open_workflow(client, path, text)

    async def where(needle: str, nth: int = 0, shift: int = 1) -> list[types.Location]:
        line, col = find(text, needle, nth)
        found = await client.text_document_definition_async(
            types.DefinitionParams(
                text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
                position=types.Position(line=line, character=col + shift),
            )
        )
        assert isinstance(found, list)
        return found  # type: ignore[return-value]

    files = [Path(loc.uri.removeprefix("file://")) for loc in await where("procore.images.list")]
    assert files[0] == ROOT / "task_definitions" / "procore" / "procore.images.list.json"
    assert files[1].parent.name == "reference" and files[1].is_file()
    connection = await where("connection: procore", 0, len("connection: p"))
    assert connection[0].uri == path.as_uri()
    assert connection[0].range.start == types.Position(
        line=find(text, "  procore:")[0], character=2
    )
    task = await where("tasks.list_images", 0, len("tasks.li"))
    assert task[0].range.start == types.Position(line=find(text, "  list_images:")[0], character=2)


@pytest.mark.asyncio
async def test_code_lenses_above_each_task(client: LanguageClient, tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "wf.yaml"
    await open_workflow(client, path, text)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=path.as_uri()))
    )
    assert lenses is not None
    line = find(text, "  list_images:")[0]
    assert [(lens.range.start.line, lens.command.title) for lens in lenses if lens.command] == [
        (line, "Test request"),
        (line, "Dry run"),
        (line, "Show last recording"),
        (line, "Compare with last recording"),
    ]
    assert [list(lens.command.arguments or []) for lens in lenses if lens.command] == [
        [path.as_uri(), "list_images"]
    ] * 4


@pytest.mark.asyncio
async def test_completion_of_workflow_keys_and_their_values(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "wf.yaml"
    keys = await _complete(
        client, path, text.replace("    timeout: {connect: 5s, read: 30s}\n", "    ti\n"), "    ti"
    )
    labels = [i.label for i in keys.items]
    assert "timeout" in labels and "expect" in labels and "depends_on" in labels
    assert "retry" not in labels and "operation" not in labels  # already there
    top = await _complete(
        client, path, text.replace("window:\n", "defaults: {}\nwindo\n", 1), "windo"
    )
    assert [i.label for i in top.items] == ["window"]  # the other top-level keys are there
    auth = await _complete(
        client, path, text.replace("type: oauth2_client_credentials", "type: "), "      type: "
    )
    assert {"bearer", "oauth2_client_credentials", "none"} <= {i.label for i in auth.items}
    mismatch = await _complete(
        client, path, text.replace("on_mismatch: fail", "on_mismatch: "), "on_mismatch: "
    )
    assert {i.label for i in mismatch.items} == {"warn", "fail"}


@pytest.mark.asyncio
async def test_editor_inputs_check_the_workflows_that_take_them(
    client: LanguageClient, tmp_path: Path
) -> None:
    """The editor's inputs (company_id=8089, project_id=777) are checked as `validate -i`
    checks them, in a workflow that takes them all; a workflow with other inputs, or one
    the settings do not give, is checked without them."""
    tickets = tmp_path / "tickets.yaml"
    shutil.copy(ROOT / "examples" / "workflows" / "tickets_updated.yaml", tickets)
    assert await open_workflow(client, tickets) == []
    text = EXAMPLE.read_text(encoding="utf-8")
    more = text.replace("inputs:\n", "inputs:\n  trade_id: {type: integer}\n", 1)
    assert await open_workflow(client, tmp_path / "more.yaml", more) == []
    capped = text.replace(
        "company_id: {type: integer,", "company_id: {type: integer, maximum: 100,"
    )
    path = tmp_path / "capped.yaml"
    path.write_text(capped, encoding="utf-8")
    found = await open_workflow(client, path)
    done = subprocess.run(
        [*VALIDATE, str(path), "--output", "json", "-i", "company_id=8089", "-i", "project_id=777"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    reported = json.loads(done.stdout)
    assert [d.message for d in found] == [e["message"] for e in reported]
    assert len(found) == 1 and "8089 is greater than the maximum of 100" in found[0].message


@pytest.mark.asyncio
async def test_quick_fixes_put_the_suggested_name_in_place(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "planted.yaml"
    path.write_text(PLANTED, encoding="utf-8")
    found = await open_workflow(client, path)
    fixes = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
            range=types.Range(
                start=types.Position(line=0, character=0), end=types.Position(line=40, character=0)
            ),
            context=types.CodeActionContext(diagnostics=found),
        )
    )
    assert fixes is not None
    lines = PLANTED.splitlines()
    changed = {}
    for action in fixes:
        assert isinstance(action, types.CodeAction) and action.edit and action.edit.changes
        (edit,) = action.edit.changes[path.as_uri()]
        line = lines[edit.range.start.line]
        old = line[edit.range.start.character : edit.range.end.character]
        changed[old] = edit.new_text
        assert action.title == f"Change to '{edit.new_text}'"
    assert changed == {
        "descripton": "description",
        "procor": "procore",
        "window_begin": "window_end",
        "per_pag": "per_page",
        "retries": "retry",
        "procore.images.lst": "procore.images.list",
        "list_imagez": "list_images",
    }


@pytest.mark.asyncio
async def test_outline_lists_inputs_connections_and_tasks(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "wf.yaml"
    text = EXAMPLE.read_text(encoding="utf-8")
    await open_workflow(client, path, text)
    found = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=path.as_uri()))
    )
    assert found is not None
    outline = {
        s.name: [(c.name, c.detail) for c in s.children or []]
        for s in found
        if isinstance(s, types.DocumentSymbol)
    }
    assert outline == {
        "inputs": [("company_id", None), ("project_id", None)],
        "connections": [("procore", None)],
        "tasks": [("list_images", "procore.images.list")],
    }


@pytest.mark.asyncio
async def test_typing_is_checked_once_it_pauses_and_closing_clears(
    client: LanguageClient, tmp_path: Path
) -> None:
    import asyncio

    path = tmp_path / "wf.yaml"
    text = EXAMPLE.read_text(encoding="utf-8")
    await open_workflow(client, path, text)
    published: list[int | None] = []
    structure = client.protocol.structure_message

    def counting(data: dict[str, Any]) -> Any:  # every publishDiagnostics, as it arrives
        if data.get("method") == types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
            published.append(data["params"].get("version"))
        return structure(data)

    client.protocol.structure_message = counting  # type: ignore[method-assign]

    line, col = find(text, "per_page: 100")
    for version, char in enumerate("abcde", start=2):  # five keystrokes, 50 ms debounce
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=path.as_uri(), version=version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=col + version - 2),
                            end=types.Position(line=line, character=col + version - 2),
                        ),
                        text=char,
                    )
                ],
            )
        )
    for _ in range(100):
        if published:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # no later check comes
    assert published == [6]
    assert next(d.message for d in client.diagnostics[path.as_uri()]).startswith(
        "unknown parameter 'abcdeper_page'"
    )
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri())
        )
    )
    for _ in range(100):
        if len(published) > 1:
            break
        await asyncio.sleep(0.05)
    assert list(client.diagnostics[path.as_uri()]) == []
