"""Code lenses above each task and the commands they run.

"Test request", "Dry run" and "Compare with last recording" run ``task-runner
test-request`` itself (``--output json``; ``--dry-run``; ``--compare``) as a child process
with the editor's settings (inputs, ``--emulator``, pages, recordings folder): the same
code as the command line, a crash or a hang that cannot take the server down, and a real
cancel (SIGINT, which the command line answers by stopping and exiting 130). Its stderr
lines are reported as LSP work-done progress (``$/progress``). "Show last recording"
reads the task's latest recording in the server.

Each command writes its result as a Markdown document beside the task's recordings
(``<recordings>/<workflow>/<task>/.editor/<kind>.md``, replaced atomically; the
recordings commands ignore it), asks the editor to show it (``window/showDocument``,
LSP 3.16) and returns ``{uri, title, status, exit_code, http_status, recording, text, shown}``:
a client without ``showDocument`` (``shown`` false) opens ``uri`` or shows ``text`` itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from task_runner.lsp import report
from task_runner.redact import REDACTOR

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from task_runner.lsp.analysis import Snapshot

__all__ = ["COMMANDS", "CommandRunner", "Settings", "code_lenses"]

#: command id -> (lens title, kind)
COMMANDS: dict[str, tuple[str, str]] = {
    "task-runner.testRequest": ("Test request", "test-request"),
    "task-runner.dryRun": ("Dry run", "dry-run"),
    "task-runner.showLastRecording": ("Show last recording", "last-recording"),
    "task-runner.compareWithLastRecording": ("Compare with last recording", "compare"),
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # RFC 9110 section 9.2.1
#: How long a cancelled run has to stop after SIGINT before it is killed.
STOP_GRACE_S = 5.0


@dataclass
class Settings:
    """The editor's settings (``initializationOptions`` or the ``taskRunner`` section of
    ``workspace/didChangeConfiguration``): ``inputs`` (name -> value, as ``--input``),
    ``emulator`` (``--emulator``), ``pages`` (``--pages``), ``recordDir``
    (``--record-dir``), ``definitions`` (``--definitions``), ``debounceMs`` (diagnostics
    after typing stops, default 200)."""

    inputs: dict[str, Any] = field(default_factory=dict)
    emulator: bool = False
    pages: int = 1
    record_dir: str | None = None
    definitions: list[str] = field(default_factory=list)
    debounce_ms: int = 200

    @classmethod
    def from_json(cls, raw: Any) -> Settings:
        raw = raw.get("taskRunner", raw) if isinstance(raw, Mapping) else {}
        raw = raw if isinstance(raw, Mapping) else {}
        inputs = raw.get("inputs")
        definitions = raw.get("definitions")
        return cls(
            inputs=dict(inputs) if isinstance(inputs, Mapping) else {},
            emulator=bool(raw.get("emulator", False)),
            pages=max(1, _whole(raw.get("pages"), 1)),
            record_dir=str(raw["recordDir"]) if raw.get("recordDir") else None,
            definitions=[str(d) for d in definitions] if isinstance(definitions, list) else [],
            debounce_ms=max(0, _whole(raw.get("debounceMs"), 200)),
        )

    def cli_args(self, declared: Iterable[str] | None = None) -> list[str]:
        """The options ``test-request`` gets from these settings: ``--input`` for each input
        the workflow ``declared`` (all, when unknown), and the others."""
        args: list[str] = []
        wanted = set(declared) if declared is not None else set(self.inputs)
        for name, value in self.inputs.items():
            if name not in wanted:
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            args += ["--input", f"{name}={text}"]
        if self.emulator:
            args.append("--emulator")
        if self.record_dir:
            args += ["--record-dir", self.record_dir]
        for folder in self.definitions:
            args += ["--definitions", folder]
        return args


def _whole(value: Any, default: int) -> int:
    """A setting read as a whole number; the default for anything else (a setting typed
    wrong must not stop the server)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return default
    try:
        return int(value)
    except (ValueError, OverflowError):  # "many", or an infinite float
        return default


def code_lenses(snap: Snapshot) -> list[types.CodeLens]:
    """Four lenses on the line of each task's name."""
    from task_runner.lsp.document import find_key

    lenses: list[types.CodeLens] = []
    uri = snap.path.as_uri()
    for task in snap.names("tasks"):
        line, indent = find_key(snap.lines, ("tasks", task))
        if line < 0:
            continue
        point = types.Range(
            start=types.Position(line=line, character=indent),
            end=types.Position(line=line, character=indent + len(task)),
        )
        for command, (title, _) in COMMANDS.items():
            lenses.append(
                types.CodeLens(
                    range=point,
                    command=types.Command(title=title, command=command, arguments=[uri, task]),
                )
            )
    return lenses


class CommandRunner:
    """Runs the code-lens commands for one server."""

    def __init__(
        self,
        server: LanguageServer,
        root: Callable[[Path], Path],
        buffer_text: Callable[[Path], str | None],
    ) -> None:
        self.server = server
        self.root = root  # the working directory for a workflow file
        self.buffer_text = buffer_text  # the editor's text of a file, when it is open

    async def run(
        self, command: str, snap: Snapshot | None, path: Path, task: str, settings: Settings
    ) -> dict[str, Any]:
        """Run ``command`` for ``task`` of the workflow at ``path``; return the result."""
        title, kind = COMMANDS[command]
        cwd = self.root(path)
        workflow = snap.name if snap is not None else path.stem
        if kind == "last-recording":
            result = self._last_recording(cwd, workflow, task, settings)
        else:
            result = await self._run_cli(kind, snap, path, task, settings, cwd)
        text = REDACTOR.redact(result.pop("text_raw"))
        uri = self._write(cwd, settings, workflow, task, kind, text)
        shown = await self._show(uri)
        return {"uri": uri, "title": f"{title}: {task}", "text": text, "shown": shown, **result}

    # --- the child process ----------------------------------------------------------

    async def _run_cli(
        self,
        kind: str,
        snap: Snapshot | None,
        path: Path,
        task: str,
        settings: Settings,
        cwd: Path,
    ) -> dict[str, Any]:
        args = ["test-request", str(path), "--task", task, "--output", "json"]
        declared = list(snap.mapping("inputs")) if snap is not None and snap.data else None
        args += settings.cli_args(declared)
        if kind == "dry-run":
            args.append("--dry-run")
        else:
            args += ["--pages", str(settings.pages)]
            if kind == "compare":
                args.append("--compare")
            method = _task_method(snap, task)
            if method is not None and method not in SAFE_METHODS:
                if not await self._confirm_write(task, method):
                    text = f"# {task}: not sent\n\nThe write was not confirmed.\n"
                    return {"status": "not sent", "exit_code": 2, "text_raw": text}
                args.append("--yes")  # confirmed; unknown methods get no --yes: refused
        notes: list[str] = list(self.unsaved_note(snap, path))
        async with _Progress(self.server, f"{COMMANDS_BY_KIND[kind]}: {task}") as progress:
            code, stdout = await _child(args, cwd, notes, progress)
        if code == 130 or progress.cancelled.is_set():
            return {"status": "cancelled", "exit_code": 130, "text_raw": f"# {task}: cancelled\n"}
        try:
            data = json.loads(stdout)
        except ValueError:
            text = f"# {task}: task-runner failed (exit {code})\n\n" + "\n".join(notes) + "\n"
            return {"status": "failed", "exit_code": code, "text_raw": text}
        if isinstance(data, dict) and not data.get("task"):
            data["task"] = task  # input errors do not name it
        if kind == "dry-run":
            text = report.dry_run_report(data, notes)
        else:
            text = report.outcome_report(data, notes)
            if kind == "compare" and data.get("recording"):
                text += _drift_text(cwd, settings, data["recording"])
        return {
            "status": data.get("status", "succeeded"),
            "exit_code": code,
            "http_status": data.get("http_status"),
            "recording": data.get("recording"),
            "text_raw": text,
        }

    def unsaved_note(self, snap: Snapshot | None, path: Path) -> list[str]:
        """A note when the editor's buffer of ``path`` differs from the saved file."""
        buffer = self.buffer_text(path)
        if snap is None or buffer is None or buffer == snap.text:
            return []
        return [f"{path.name} has unsaved changes: this ran the file as saved"]

    async def _confirm_write(self, task: str, method: str) -> bool:
        """A write changes data on the server: ask, as the command line asks on a terminal."""
        try:
            answer = await self.server.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Warning,
                    message=f"Task {task!r} sends {method}, which changes data on the server. "
                    "Send it?",
                    actions=[
                        types.MessageActionItem(title="Send"),
                        types.MessageActionItem(title="Cancel"),
                    ],
                )
            )
        except Exception:  # the editor could not ask: not confirmed
            return False
        return answer is not None and answer.title == "Send"

    # --- recordings -------------------------------------------------------------------

    def _last_recording(
        self, cwd: Path, workflow: str, task: str, settings: Settings
    ) -> dict[str, Any]:
        from task_runner.contract import recording_json
        from task_runner.errors import TaskRunnerError

        try:
            data = recording_json(_store(cwd, settings), f"{workflow}/{task}")
        except TaskRunnerError as exc:
            text = f'# {task}: no recording\n\n{exc.format()}\n\nRun "Test request" first.\n'
            return {"status": "none", "exit_code": 2, "text_raw": text}
        text = report.recording_report(data, f"{task}: last recording")
        return {"status": "shown", "exit_code": 0, "recording": data.get("path"), "text_raw": text}

    def _write(
        self, cwd: Path, settings: Settings, workflow: str, task: str, kind: str, text: str
    ) -> str:
        from task_runner.recording.store import atomic_write_text, safe_name

        folder = _store(cwd, settings).root / safe_name(workflow) / safe_name(task) / ".editor"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{kind}.md"
        atomic_write_text(target, text)
        return target.resolve().as_uri()

    async def _show(self, uri: str) -> bool:
        """Ask the editor to show ``uri`` (LSP 3.16 ``window/showDocument``); True when it
        did. A client without it (Neovim 0.7) opens ``uri`` from the command's result."""
        if not _supports(self.server, "window", "show_document"):
            return False
        try:
            answer = await asyncio.wait_for(
                self.server.window_show_document_async(
                    types.ShowDocumentParams(uri=uri, take_focus=False)
                ),
                timeout=10,
            )
        except Exception:  # refused or no answer: the document is written either way
            return False
        return bool(getattr(answer, "success", False))


COMMANDS_BY_KIND = {kind: title for title, kind in COMMANDS.values()}


def _store(cwd: Path, settings: Settings) -> Any:
    from task_runner.recording.store import DEFAULT_ROOT, RecordingStore

    return RecordingStore(cwd / (settings.record_dir or DEFAULT_ROOT))


def _drift_text(cwd: Path, settings: Settings, recording: str) -> str:
    from task_runner.contract import drift_between
    from task_runner.errors import TaskRunnerError

    try:
        drift = drift_between(_store(cwd, settings), cwd / recording)
    except TaskRunnerError as exc:
        return f"\n## Compared with the last recording\n\n{exc.format()}\n"
    return "\n## Compared with the last recording\n\n" + "\n".join(drift.lines()) + "\n"


def _task_method(snap: Snapshot | None, task: str) -> str | None:
    """The method ``task`` of the saved file sends; None when the file does not load (the
    command line then reports why, and refuses a write without ``--yes``)."""
    if snap is None or snap.workflow is None or task not in snap.workflow.tasks:
        return None
    from task_runner.cli.test_request import task_method

    return task_method(snap.workflow, task)


def _supports(server: LanguageServer, *path: str) -> bool:
    node: Any = server.client_capabilities
    for part in path:
        node = getattr(node, part, None)
    if path[-1] == "show_document":
        return bool(getattr(node, "support", False))
    return node is not None


async def _child(
    args: list[str], cwd: Path, notes: list[str], progress: _Progress
) -> tuple[int, str]:
    """Run ``python -m task_runner ARGS`` in ``cwd``; stderr lines go to ``notes`` and to
    progress; SIGINT on cancel, then kill after :data:`STOP_GRACE_S`."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "task_runner", *args,
        cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None

    async def read_notes() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = REDACTOR.redact(raw.decode("utf-8", "replace").rstrip())
            notes.append(line)
            progress.report(line)

    reader = asyncio.ensure_future(read_notes())
    output = asyncio.ensure_future(proc.stdout.read())
    waiting = asyncio.ensure_future(proc.wait())
    cancel = asyncio.ensure_future(progress.cancelled.wait())
    try:
        await asyncio.wait({waiting, cancel}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(asyncio.shield(waiting), STOP_GRACE_S)
            except asyncio.TimeoutError:
                proc.kill()
        await waiting
        await reader
        return proc.returncode or 0, (await output).decode("utf-8", "replace")
    finally:
        cancel.cancel()
        if proc.returncode is None:  # the server is going away: do not leave it running
            proc.kill()


class _Progress:
    """LSP work-done progress (``window/workDoneProgress/create`` + ``$/progress``) for one
    command, and its cancellation: by ``window/workDoneProgress/cancel`` or by
    ``$/cancelRequest`` of the ``workspace/executeCommand`` request."""

    def __init__(self, server: LanguageServer, title: str) -> None:
        self.server = server
        self.title = title
        self.token: str | None = None
        self.cancelled = asyncio.Event()

    async def __aenter__(self) -> _Progress:
        loop = asyncio.get_running_loop()
        # pygls keeps each request's future by id; cancelling executeCommand cancels it.
        request = getattr(self.server.protocol, "_request_futures", {}).get(
            self.server.protocol.msg_id
        )
        if request is not None:
            request.add_done_callback(
                lambda f: f.cancelled() and loop.call_soon_threadsafe(self.cancelled.set)
            )
        window = getattr(self.server.client_capabilities, "window", None)
        if window is not None and getattr(window, "work_done_progress", False):
            token = f"task-runner-{uuid.uuid4().hex}"
            try:
                await asyncio.wait_for(self.server.work_done_progress.create_async(token), 10)
            except Exception:  # the client refused or did not answer: run without progress
                return self
            self.token = token
            self.server.work_done_progress.tokens[token].add_done_callback(
                lambda f: f.cancelled() and loop.call_soon_threadsafe(self.cancelled.set)
            )
            self.server.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title=self.title, cancellable=True)
            )
        return self

    def report(self, message: str) -> None:
        if self.token is not None and message:
            self.server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message[:200])
            )

    async def __aexit__(self, *exc: object) -> None:
        if self.token is not None:
            self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd())
            self.server.work_done_progress.tokens.pop(self.token, None)
