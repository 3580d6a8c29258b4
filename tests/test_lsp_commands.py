"""The code-lens commands of ``task-runner lsp`` against the built-in emulator: "Test
request" returns the response as a document, with progress; "Dry run", "Show last
recording", "Compare with last recording"; and a secret's value never reaches the editor
(hover, completion, diagnostics, command results, progress)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_support import CANARY, SERVER, find, initialize, open_workflow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "workflows" / "procore_images.yaml"
INPUTS = {"company_id": 8089, "project_id": 777}


@pytest.fixture(autouse=True)
def _canary_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret the server's environment holds (the server inherits it)."""
    monkeypatch.setenv("LSP_CANARY_TOKEN", CANARY)
    monkeypatch.setenv("PROCORE_CLIENT_ID", "lsp-test-client-id")
    monkeypatch.setenv("PROCORE_CLIENT_SECRET", "lsp-test-client-secret")


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    received: list[str] = []
    structure = lsp_client.protocol.structure_message

    def recording(data: dict[str, Any]) -> Any:  # every message as it arrived, raw
        received.append(json.dumps(data))
        return structure(data)

    lsp_client.protocol.structure_message = recording  # type: ignore[method-assign]
    lsp_client.received = received  # type: ignore[attr-defined]
    await initialize(lsp_client, tmp_path, {"inputs": INPUTS, "emulator": True})
    yield
    await lsp_client.shutdown_session()


def _workflow(tmp_path: Path, extra_header: bool = False) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    if extra_header:  # a secret the request carries: the recording must mask it
        text = text.replace(
            "    auth:\n",
            '    headers: {X-Canary: "{{ secrets.LSP_CANARY_TOKEN }}"}\n    auth:\n',
            1,
        )
    path = tmp_path / "workflows" / "photos.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def _run(
    client: LanguageClient, command: str, path: Path, task: str = "list_images"
) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[path.as_uri(), task])
    )
    assert isinstance(result, dict), result
    return result


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_test_request_lens_returns_the_emulator_response_as_a_document(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = _workflow(tmp_path)
    await open_workflow(client, path)
    result = await _run(client, "task-runner.testRequest", path)
    assert result["status"] == "succeeded" and result["exit_code"] == 0
    assert result["http_status"] == 200
    recording = tmp_path / result["recording"]
    assert (
        recording.is_file()
        and recording.parent == tmp_path / "recordings" / "procore-daily-photos" / "list_images"
    )
    document = Path(result["uri"].removeprefix("file://"))
    assert document.read_text(encoding="utf-8") == result["text"]
    text = result["text"]
    assert text.startswith("# list_images: succeeded, HTTP 200")
    assert "GET http://127.0.0.1:" in text and "project_id=777" in text
    assert "| 1 | 200 OK |" in text and '"filename":' in text
    assert f"recorded: `{result['recording']}`" in text
    assert "emulator: Procore emulator on" in text  # the command line's notes
    assert [d.uri for d in client.shown_documents] == [result["uri"]]
    assert client.shown_documents[0].take_focus is False
    # work-done progress: begin, the notes as reports, end
    (reports,) = client.progress_reports.values()
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "Test request: list_images" and reports[0].cancellable
    assert any(isinstance(r, types.WorkDoneProgressReport) for r in reports)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)

    # the same recording, shown; then a second run compared with it
    shown = await _run(client, "task-runner.showLastRecording", path)
    assert shown["recording"] == str(tmp_path / result["recording"])
    assert "| 1 | 200 OK |" in shown["text"]
    compared = await _run(client, "task-runner.compareWithLastRecording", path)
    assert compared["status"] == "succeeded"
    assert "## Compared with the last recording" in compared["text"]
    drift = compared["text"].split("## Compared with the last recording", 1)[1]
    assert f"before: {tmp_path / result['recording']}" in drift  # the first run...
    assert f"after:  {tmp_path / compared['recording']}" in drift  # ...against this one
    assert "fields: the same" in drift and "no drift" in drift  # the emulator is stable


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_dry_run_and_missing_recording(client: LanguageClient, tmp_path: Path) -> None:
    path = _workflow(tmp_path)
    await open_workflow(client, path)
    none = await _run(client, "task-runner.showLastRecording", path)
    assert none["status"] == "none" and 'Run "Test request" first' in none["text"]
    dry = await _run(client, "task-runner.dryRun", path)
    assert dry["exit_code"] == 0
    assert dry["text"].startswith("# list_images: dry run (nothing was sent)")
    assert "Authorization: Bearer ***" in dry["text"] and "curl " in dry["text"]
    assert list((tmp_path / "recordings").rglob("*.json")) == []  # a dry run records nothing
    assert "unsaved changes" not in dry["text"]
    # an edited, unsaved buffer: the saved file runs, and the document says so
    await open_workflow(
        client, path, path.read_text(encoding="utf-8").replace("per_page: 100", "per_page: 50")
    )
    edited = await _run(client, "task-runner.dryRun", path)
    assert "photos.yaml has unsaved changes: this ran the file as saved" in edited["text"]
    assert "per_page=100" in edited["text"]


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_input_mistakes_come_back_as_a_document_not_a_request(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = _workflow(tmp_path)
    await open_workflow(client, path)
    result = await _run(client, "task-runner.testRequest", path, task="list_imagez")
    assert result["exit_code"] == 2
    assert result["text"].startswith("# list_imagez: not sent")
    assert "list_imagez" in result["text"] and "list_images" in result["text"]  # did you mean


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_a_secret_never_reaches_the_editor(client: LanguageClient, tmp_path: Path) -> None:
    path = _workflow(tmp_path, extra_header=True)
    text = path.read_text(encoding="utf-8")
    await open_workflow(client, path)
    # hover on the secret, on an env read of the same name, completion of secrets.
    tricky = text.replace(
        "sort: -created_at",
        'sort: "{{ env.LSP_CANARY_TOKEN }}"\n      per_page: "{{ secrets.LSP_CANARY_TOKEN }}"',
    ).replace("      per_page: 100\n", "")
    found = await open_workflow(client, path, tricky)
    assert any("is not an integer" in d.message for d in found)  # quotes the value: masked
    for needle in ("{{ env.LSP_CANARY_TOKEN }}", "{{ secrets.LSP_CANARY_TOKEN }}"):
        line, col = find(tricky, needle)
        await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
                position=types.Position(line=line, character=col + 4),
            )
        )
        await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
                position=types.Position(line=line, character=col + len("{{ secrets.")),
            )
        )
    await open_workflow(client, path, text)  # the saved file: the header carries the secret
    result = await _run(client, "task-runner.testRequest", path)
    assert result["status"] == "succeeded"
    assert "X-Canary" in Path(tmp_path / result["recording"]).read_text(encoding="utf-8")
    received = "\n".join(client.received)  # type: ignore[attr-defined]
    assert "LSP_CANARY_TOKEN" in received  # the name may be shown...
    assert CANARY not in received  # ...the value never
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert CANARY not in file.read_text(encoding="utf-8", errors="replace"), file


@pytest.mark.asyncio
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["progress", "request"])
async def test_a_running_test_request_can_be_cancelled(
    client: LanguageClient, tmp_path: Path, how: str
) -> None:
    """A server that accepts the connection and never answers: the run waits until the
    editor cancels it, through the progress it reports (``window/workDoneProgress/cancel``)
    or the request itself (``$/cancelRequest``); the command line stops (exit 130) and the
    document says so."""
    import asyncio
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        text = EXAMPLE.read_text(encoding="utf-8")
        text = text.replace("{{ env.PROCORE_BASE_URL | default('https://api.procore.com') }}", url)
        text = text.replace(
            "{{ env.PROCORE_TOKEN_URL | default('https://login.procore.com/oauth/token') }}",
            url + "/oauth/token",
        )
        path = tmp_path / "hanging.yaml"
        path.write_text(text, encoding="utf-8")
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"taskRunner": {"inputs": INPUTS}})
        )
        await open_workflow(client, path)
        params = types.ExecuteCommandParams(
            command="task-runner.testRequest", arguments=[path.as_uri(), "list_images"]
        )
        request = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="hanging-test-request"
            )
        )
        for _ in range(400):  # until the run has begun and said so
            await asyncio.sleep(0.05)
            if any(len(r) >= 1 for r in client.progress_reports.values()):
                break
        (token,) = client.progress_reports
        await asyncio.sleep(1.0)  # the child is waiting on the silent server by now
        document = tmp_path / "recordings" / "procore-daily-photos" / "list_images" / ".editor"
        if how == "progress":
            client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
            result = await asyncio.wait_for(request, 20)
            assert result["status"] == "cancelled" and result["exit_code"] == 130
            assert result["text"] == "# list_images: cancelled\n"
        else:
            client.protocol.notify(
                types.CANCEL_REQUEST, types.CancelParams(id="hanging-test-request")
            )
            with pytest.raises(Exception, match="cancel"):
                await asyncio.wait_for(request, 20)
            for _ in range(200):  # the child stops, then the document is written
                if (document / "test-request.md").is_file():
                    break
                await asyncio.sleep(0.05)
        assert (document / "test-request.md").read_text(
            encoding="utf-8"
        ) == "# list_images: cancelled\n"
        for _ in range(100):
            if isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd):
                break
            await asyncio.sleep(0.05)
        assert isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd)
        assert list((tmp_path / "recordings").rglob("*.json")) == []  # nothing half-recorded
    finally:
        silent.close()


@pytest.fixture
def payments(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Payments API double on loopback, in the environment the server inherits."""
    from tests.any_api_doubles import PAYMENTS_PASSWORD, PAYMENTS_USER, PaymentsApi, customers
    from tests.httpserver import TestServer

    with TestServer(PaymentsApi(customers(3))) as server:
        monkeypatch.setenv("PAYMENTS_BASE_URL", server.url)
        monkeypatch.setenv("PAYMENTS_USERNAME", PAYMENTS_USER)
        monkeypatch.setenv("PAYMENTS_PASSWORD", PAYMENTS_PASSWORD)
        yield server


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_a_write_is_sent_only_when_the_editor_confirms_it(
    payments: Any, client: LanguageClient, tmp_path: Path
) -> None:
    from task_runner.cli import main
    from tests.any_api_doubles import PAYMENTS_PASSWORD, PAYMENTS_USER

    path = tmp_path / "customers.yaml"
    assert main(["add-task", str(path), "--operation", "payments.create_customer"]) == 0
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"taskRunner": {"inputs": {"email": "ada@example.com"}}}
        )
    )
    await open_workflow(client, path)
    answers: list[str] = ["Cancel", "Send"]
    asked: list[str] = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
        asked.append(params.message)
        return types.MessageActionItem(title=answers.pop(0))

    refused = await _run(client, "task-runner.testRequest", path, task="create_customer")
    assert refused["status"] == "not sent" and "not confirmed" in refused["text"]
    assert payments.requests == []
    sent = await _run(client, "task-runner.testRequest", path, task="create_customer")
    assert sent["status"] == "succeeded", sent["text"]
    assert [r.method for r in payments.requests] == ["POST"]
    assert (
        asked
        == ["Task 'create_customer' sends POST, which changes data on the server. Send it?"] * 2
    )
    dry = await _run(client, "task-runner.dryRun", path, task="create_customer")
    assert dry["exit_code"] == 0 and len(asked) == 2  # a dry run sends nothing: no question
    received = "\n".join(client.received)  # type: ignore[attr-defined]
    assert PAYMENTS_PASSWORD not in received and PAYMENTS_USER not in received
