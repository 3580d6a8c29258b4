"""The language server: pygls wiring of diagnostics, completion, hover, definition, code
lenses and commands, over stdio.

Diagnostics come from the buffer (``textDocument/didChange``), debounced
(``debounceMs``, default 200 ms), at once on open and save; only YAML buffers that look
like workflows (top-level ``tasks:``/``connections:``, or the editor schema line) are
checked. The catalogue is loaded once, at ``initialize`` (``definitions`` settings and
``TASK_RUNNER_DEFINITIONS`` add folders).

Secrets: every value a workflow reads as ``secrets.X`` is registered with the redactor
as soon as the buffer is analysed, and every message the server sends is redacted as
data before it is written (:class:`RedactingProtocol`), so no hover, completion,
diagnostic or command result can carry one.

Example::

    build_server().start_io()
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from task_runner import __version__
from task_runner.lsp import actions, analysis, completion, navigation
from task_runner.lsp.commands import COMMANDS, CommandRunner, Settings, code_lenses
from task_runner.lsp.document import referenced
from task_runner.redact import REDACTOR

__all__ = ["RedactingProtocol", "WorkflowServer", "build_server"]

logger = logging.getLogger(__name__)


class RedactingProtocol(LanguageServerProtocol):
    """Every outgoing message is masked as data (strings only, JSON kept valid) when any
    secret is registered."""

    def _send_data(self, data: Any) -> None:
        if data and REDACTOR:
            plain = json.loads(json.dumps(data, default=self._serialize_message))
            data = REDACTOR.redact_json_value(plain)
        super()._send_data(data)


class WorkflowServer(LanguageServer):
    """The server's state: settings, the catalogue, the latest snapshot of each buffer."""

    def __init__(self) -> None:
        super().__init__(
            "task-runner",
            __version__,
            protocol_cls=RedactingProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.settings = Settings()
        self._catalogue: Any = None
        self.snapshots: dict[str, analysis.Snapshot] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.running: set[asyncio.Future[None]] = set()  # analyses started by a timer
        # One analysis at a time, off the event loop: requests stay answered meanwhile.
        self.analyser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analyse")
        self.runner = CommandRunner(self, self.working_dir, self.buffer_text)

    @property
    def catalogue(self) -> Any:
        if self._catalogue is None:
            from task_runner.catalogue import Catalogue

            extra = list(self.settings.definitions)
            extra += [
                p for p in os.environ.get("TASK_RUNNER_DEFINITIONS", "").split(os.pathsep) if p
            ]
            self._catalogue = Catalogue.load(extra)
        return self._catalogue

    def buffer_text(self, path: Path) -> str | None:
        """The editor's text of ``path`` when it is open, else None."""
        document = self.workspace.text_documents.get(path.as_uri())
        return document.source if document is not None else None

    def working_dir(self, path: Path) -> Path:
        """Where commands run (recordings, ``.env``): the workspace folder holding ``path``,
        else the file's folder."""
        roots = [Path(to_fs_path(f.uri) or "") for f in self.workspace.folders.values()]
        if self.workspace.root_path:
            roots.append(Path(self.workspace.root_path))
        resolved = path.resolve()
        holding = [r for r in roots if str(r) and resolved.is_relative_to(r.resolve())]
        return max(holding, key=lambda r: len(r.parts)) if holding else path.parent

    # --- analysis ---------------------------------------------------------------------

    def analyse_now(self, uri: str) -> analysis.Snapshot | None:
        document = self.workspace.get_text_document(uri)
        if not analysis.is_workflow_text(document.source):
            self.snapshots.pop(uri, None)
            return None
        path = Path(to_fs_path(uri) or uri)
        snap = analysis.analyse(path, document.source, self.catalogue, inputs=self.settings.inputs)
        _register_secrets(snap, self.working_dir(path))
        self.snapshots[uri] = snap
        return snap

    async def publish(self, uri: str) -> None:
        """Analyse the buffer as it is now and publish its diagnostics."""
        loop = asyncio.get_running_loop()
        document = self.workspace.get_text_document(uri)
        version = document.version
        try:
            snap = await loop.run_in_executor(self.analyser, self.analyse_now, uri)
        except Exception as exc:  # a bug in task-runner: say so, keep serving
            logger.exception("checking %s failed", uri)
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Error,
                    message=f"task-runner: internal error while checking {uri}: "
                    f"{type(exc).__name__}: {exc}; please report it",
                )
            )
            return
        if self.workspace.get_text_document(uri).version != version:
            return  # typed on meanwhile: the next analysis publishes
        found = analysis.diagnostics(snap) if snap is not None else []
        codec = document.position_codec
        for diagnostic in found:
            diagnostic.range = codec.range_to_client_units(document.lines, diagnostic.range)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=version)
        )

    def schedule(self, uri: str) -> None:
        """Publish after ``debounceMs`` without another change."""
        if (handle := self.pending.pop(uri, None)) is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        delay = self.settings.debounce_ms / 1000

        def fire() -> None:
            self.pending.pop(uri, None)
            task = asyncio.ensure_future(self.publish(uri))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

        self.pending[uri] = loop.call_later(delay, fire)

    def snapshot(self, uri: str) -> analysis.Snapshot | None:
        """What completion, hover, definition and lenses read: the latest check of ``uri``
        when the buffer has not changed since, else the buffer read but not checked (the
        debounced check publishes diagnostics; a keystroke's completion does not wait)."""
        document = self.workspace.get_text_document(uri)
        snap = self.snapshots.get(uri)
        if snap is not None and snap.text == document.source:
            return snap
        if not analysis.is_workflow_text(document.source):
            return None
        return analysis.read(Path(to_fs_path(uri) or uri), document.source)

    def position(self, uri: str, position: types.Position) -> tuple[int, int]:
        """A client position as (line, code point column)."""
        document = self.workspace.get_text_document(uri)
        point = document.position_codec.position_from_client_units(document.lines, position)
        return point.line, point.character


def _register_secrets(snap: analysis.Snapshot, cwd: Path) -> None:
    """Register the values of the secrets ``snap`` reads, so that no message carries one."""
    from task_runner.workflow.templating import SecretsNamespace

    secrets = SecretsNamespace(dotenv=cwd / ".env")
    for name in referenced(snap.text, "secrets"):
        try:
            secrets[name]  # registers the value with the redactor
        except KeyError:
            continue


def build_server() -> WorkflowServer:
    """A server with every feature registered."""
    server = WorkflowServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: WorkflowServer, params: types.InitializeParams) -> None:
        ls.settings = Settings.from_json(params.initialization_options)

    @server.feature(types.INITIALIZED)
    def initialized(ls: WorkflowServer, params: types.InitializedParams) -> None:
        ls.catalogue  # noqa: B018 -- load it before the first buffer arrives

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def configuration(ls: WorkflowServer, params: types.DidChangeConfigurationParams) -> None:
        if isinstance(params.settings, dict) and params.settings:
            before = ls.settings.definitions
            ls.settings = Settings.from_json(params.settings)
            if ls.settings.definitions != before:
                ls._catalogue = None
            for uri in list(ls.snapshots):
                await ls.publish(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: WorkflowServer, params: types.DidOpenTextDocumentParams) -> None:
        await ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: WorkflowServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: WorkflowServer, params: types.DidSaveTextDocumentParams) -> None:
        await ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: WorkflowServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.snapshots.pop(uri, None)
        if (handle := ls.pending.pop(uri, None)) is not None:
            handle.cancel()
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", " ", "|"]),
    )
    def complete(ls: WorkflowServer, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        snap = ls.snapshot(uri)
        if snap is None:
            return types.CompletionList(is_incomplete=False, items=[])
        line, col = ls.position(uri, params.position)
        items, incomplete = completion.complete(snap, ls.catalogue, line, col)
        document = ls.workspace.get_text_document(uri)
        for item in items:
            if isinstance(item.text_edit, types.TextEdit):
                item.text_edit.range = document.position_codec.range_to_client_units(
                    document.lines, item.text_edit.range
                )
        return types.CompletionList(is_incomplete=incomplete, items=items)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: WorkflowServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        snap = ls.snapshot(uri)
        if snap is None:
            return None
        line, col = ls.position(uri, params.position)
        found = navigation.hover(snap, ls.catalogue, line, col, ls.settings.inputs)
        if found is not None and found.range is not None:
            document = ls.workspace.get_text_document(uri)
            found.range = document.position_codec.range_to_client_units(document.lines, found.range)
        return found

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: WorkflowServer, params: types.DefinitionParams) -> list[types.Location]:
        uri = params.text_document.uri
        snap = ls.snapshot(uri)
        if snap is None:
            return []
        line, col = ls.position(uri, params.position)
        return navigation.definition(snap, ls.catalogue, line, col)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def lenses(ls: WorkflowServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        snap = ls.snapshot(params.text_document.uri)
        return code_lenses(snap) if snap is not None else []

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def fixes(ls: WorkflowServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        snap = ls.snapshot(uri)
        if snap is None:
            return []
        document = ls.workspace.get_text_document(uri)
        codec, lines = document.position_codec, document.lines
        ours = [d for d in params.context.diagnostics if d.source == analysis.SOURCE]
        for diagnostic in ours:  # to code points, as the buffer is read
            found = codec.range_from_client_units(lines, diagnostic.range)
            diagnostic.range = types.Range(
                start=types.Position(line=found.start.line, character=found.start.character),
                end=types.Position(line=found.end.line, character=found.end.character),
            )
        fixed = actions.quick_fixes(snap, uri, ours)
        for action in fixed:
            for edit in (action.edit.changes or {}).get(uri, []) if action.edit else []:
                edit.range = codec.range_to_client_units(lines, edit.range)
            for diagnostic in action.diagnostics or []:
                diagnostic.range = codec.range_to_client_units(lines, diagnostic.range)
        return fixed

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def outline(
        ls: WorkflowServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        snap = ls.snapshot(params.text_document.uri)
        return actions.symbols(snap) if snap is not None else []

    for name in COMMANDS:
        _register_command(server, name)
    return server


def _register_command(server: WorkflowServer, name: str) -> None:
    @server.command(name)
    async def run(ls: WorkflowServer, uri: str, task: str) -> dict[str, Any]:
        """The saved file is what the command line runs: its name, inputs and methods count."""
        path = Path(to_fs_path(uri) or uri)
        snap = None
        try:
            saved = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            saved = None  # the command line says why
        if saved is not None:
            loop = asyncio.get_running_loop()
            snap = await loop.run_in_executor(
                ls.analyser, analysis.analyse, path, saved, ls.catalogue
            )
        return await ls.runner.run(name, snap, path, task, ls.settings)
