"""Neovim (Debian's 0.7, headless) as a real editor: it opens a copy of
``examples/workflows/procore_images.yaml`` with a planted typo, starts ``task-runner lsp``
the way the README's 0.7 snippet does (``vim.lsp.start_client`` + ``buf_attach_client``),
waits for the diagnostics, asks for completion at a parameter position and runs the "Test
request" command against the built-in emulator."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp_support import find

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "workflows" / "procore_images.yaml"
NVIM = shutil.which("nvim")

#: Runs inside Neovim after the README's snippet; writes what it saw as JSON to vim.g.result.
SCRIPT = r"""
local file, out = vim.g.workflow, vim.g.result
vim.cmd('edit ' .. file)
local buf = vim.api.nvim_get_current_buf()
local result = { diagnostics = {}, completion = {}, filetype = vim.bo.filetype }
vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
for _, d in ipairs(vim.diagnostic.get(buf)) do
  table.insert(result.diagnostics, { lnum = d.lnum, col = d.col, message = d.message })
end
local params = {
  textDocument = { uri = vim.uri_from_bufnr(buf) },
  position = { line = vim.g.line, character = vim.g.col },
}
local answers = vim.lsp.buf_request_sync(buf, 'textDocument/completion', params, 20000) or {}
for _, answer in pairs(answers) do
  local items = (answer.result or {}).items or answer.result or {}
  for _, item in ipairs(items) do table.insert(result.completion, item.label) end
end
-- fix the typo, save, wait for the diagnostics to clear
vim.api.nvim_buf_set_lines(buf, vim.g.typo_line, vim.g.typo_line + 1, false, { vim.g.fixed })
vim.cmd('write')
result.cleared = vim.wait(30000, function() return #vim.diagnostic.get(buf) == 0 end, 50)
-- the lenses of the task's line; run "Test request" as a user picks it
vim.lsp.codelens.refresh()
vim.wait(20000, function() return #vim.lsp.codelens.get(buf) > 0 end, 50)
result.lenses = {}
for _, lens in ipairs(vim.lsp.codelens.get(buf)) do
  table.insert(result.lenses, { line = lens.range.start.line, title = lens.command.title })
end
vim.ui.select = function(items, opts, on_choice)
  for i, item in ipairs(items) do
    if opts.format_item(item) == 'Test request' then return on_choice(item, i) end
  end
end
vim.api.nvim_win_set_cursor(0, { vim.g.task_line + 1, 2 })
vim.lsp.codelens.run()
local function opened()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    local name = vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win))
    if name:match('test%-request%.md$') then return name end
  end
end
vim.wait(60000, function() return opened() ~= nil end, 100)
result.opened = opened() or vim.NIL
result.focus_stayed = vim.api.nvim_get_current_buf() == buf
local handle = io.open(out, 'w')
handle:write(vim.fn.json_encode(result))
handle:close()
vim.cmd('qa!')
"""


def readme_snippet() -> str:
    """The README's Neovim 0.7 snippet, with the server started by this Python."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Neovim") :]
    blocks = re.findall(r"```lua\n(.*?)```", section, re.DOTALL)
    snippet = next(b for b in blocks if "vim.lsp.start_client" in b)
    server = "cmd = { 'task-runner', 'lsp' }"
    assert server in snippet
    return snippet.replace(server, "cmd = { vim.g.python, '-m', 'task_runner', 'lsp' }")


@pytest.mark.skipif(NVIM is None, reason="needs nvim (apt-get install -y neovim)")
@pytest.mark.timeout(180)
def test_neovim_shows_the_typo_completes_parameters_and_runs_the_test_request(
    tmp_path: Path,
) -> None:
    assert NVIM is not None
    text = EXAMPLE.read_text(encoding="utf-8")
    planted = text.replace("connection: procore", "connection: procor")
    planted = planted.replace("      per_page: 100\n", "      per_page: 100\n      \n")
    workflow = tmp_path / "procore_images.yaml"
    workflow.write_text(planted, encoding="utf-8")
    snippet = tmp_path / "init.lua"
    snippet.write_text(readme_snippet(), encoding="utf-8")
    script = tmp_path / "smoke.lua"
    script.write_text(SCRIPT, encoding="utf-8")
    result = tmp_path / "result.json"
    typo_line, _ = find(planted, "connection: procor")
    line, col = find(planted, "      \n")
    fixed = planted.splitlines()[typo_line].replace("procor", "procore")
    done = subprocess.run(
        [
            NVIM,
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "-n",
            "--cmd",
            f"let g:workflow = {json.dumps(str(workflow))}",
            "--cmd",
            f"let g:result = {json.dumps(str(result))}",
            "--cmd",
            f"let g:python = {json.dumps(sys.executable)}",
            "--cmd",
            f"let g:line = {line}",
            "--cmd",
            f"let g:col = {col + len('      ')}",
            "--cmd",
            f"let g:typo_line = {typo_line}",
            "--cmd",
            f"let g:fixed = {json.dumps(fixed)}",
            "--cmd",
            "filetype on",
            "--cmd",
            f"luafile {snippet}",
            "--cmd",
            f"let g:task_line = {find(planted, '  list_images:')[0]}",
            "-c",
            f"luafile {script}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.is_file(), done.stderr[-2000:] + done.stdout[-2000:]
    seen = json.loads(result.read_text(encoding="utf-8"))
    assert seen["filetype"] == "yaml", seen
    by_line = {d["lnum"]: d["message"] for d in seen["diagnostics"]}
    assert "unknown connection 'procor'" in by_line[typo_line]
    assert seen["diagnostics"][0]["col"] == len("    connection: ")
    assert "page" in seen["completion"] and "per_page" not in seen["completion"]  # present
    assert seen["cleared"] is True
    task_line = find(planted, "  list_images:")[0]
    titles = [lens["title"] for lens in seen["lenses"] if lens["line"] == task_line]
    assert titles == [
        "Test request",
        "Dry run",
        "Show last recording",
        "Compare with last recording",
    ], seen
    opened = Path(seen["opened"])
    assert (
        opened.parent
        == tmp_path / "recordings" / "procore-daily-photos" / "list_images" / ".editor"
    )
    report = opened.read_text(encoding="utf-8")
    assert report.startswith("# list_images: succeeded, HTTP 200"), report
    assert "| 1 | 200 OK |" in report
    assert seen["focus_stayed"] is True  # the response opens beside; the cursor stays
