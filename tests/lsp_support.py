"""Shared helpers of the language-server tests: a workspace with a workflow, a real LSP
client (pytest-lsp) talking to ``task-runner lsp`` over stdio, and positions by text.

Example::

    uri = await open_workflow(client, path)          # waits for its diagnostics
    line, col = find(path.read_text(), "per_page")   # 0-based, of the first match
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

__all__ = ["CANARY", "SERVER", "find", "initialize", "open_workflow", "wait_diagnostics"]

#: The server as an editor starts it.
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "task_runner", "lsp"])
#: A secret's value that must never appear in anything the server sends.
CANARY = "lsp-canary-secret-5d1e9a7b3c"


def find(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """The 0-based line and column of the ``nth`` occurrence of ``needle`` in ``text``."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset)
    return line, offset - (text.rfind("\n", 0, offset) + 1)


async def initialize(
    client: LanguageClient, root: Path, options: dict[str, Any] | None = None
) -> None:
    """The ``initialize`` handshake as VS Code does it, with ``options`` as the settings."""
    from pytest_lsp import client_capabilities

    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"debounceMs": 50, **(options or {})},
        )
    )


async def wait_diagnostics(
    client: LanguageClient, uri: str, timeout: float = 20
) -> list[types.Diagnostic]:
    """Wait for the next ``publishDiagnostics`` of ``uri``."""

    async def next_for_uri() -> None:
        while True:
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            if uri in client.diagnostics:
                return

    client.diagnostics.pop(uri, None)
    await asyncio.wait_for(next_for_uri(), timeout)
    return list(client.diagnostics[uri])


async def open_workflow(
    client: LanguageClient, path: Path, text: str | None = None
) -> list[types.Diagnostic]:
    """Open ``path`` (with ``text``, else its content) and return its first diagnostics."""
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    waiting = asyncio.ensure_future(wait_diagnostics(client, uri))
    await asyncio.sleep(0)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri,
                language_id="yaml",
                version=1,
                text=path.read_text(encoding="utf-8") if text is None else text,
            )
        )
    )
    return await waiting
