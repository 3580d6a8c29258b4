"""Shared test helpers: the Procore connection of a test workflow, the emulator's OAuth
token, and a loopback server that records what reaches it.

Example::

    text = procore_workflow_yaml("images", TASKS)  # inputs company_id/project_id, env URLs
    execute(load_workflow(write(text)), INPUTS, options=ExecutionOptions(environ=em.env()))

    text = WORKFLOW.format(connections=emulator_connection_yaml(em))  # literal URLs, no env
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from task_runner.emulator import Emulator

__all__ = [
    "COMPANY_PROJECT_INPUTS_YAML",
    "RecordingServer",
    "emulator_connection_yaml",
    "emulator_token",
    "grant_token",
    "oauth2_client_credentials",
    "procore_connection_yaml",
    "procore_workflow_yaml",
]

#: The inputs every images workflow takes (no defaults: each test passes its own).
COMPANY_PROJECT_INPUTS_YAML = """\
inputs:
  company_id: {type: integer}
  project_id: {type: integer}
"""


def oauth2_client_credentials(
    token_url: str = "{{ env.PROCORE_TOKEN_URL }}",
    client_id: str = "{{ secrets.PROCORE_CLIENT_ID }}",
    client_secret: str = "{{ secrets.PROCORE_CLIENT_SECRET }}",
) -> dict[str, str]:
    """A connection's ``auth``; by default the token URL comes from the environment and the
    credentials from ``secrets`` (so ``Emulator.env()`` points it at an emulator)."""
    return {
        "type": "oauth2_client_credentials",
        "token_url": token_url,
        "client_id": client_id,
        "client_secret": client_secret,
    }


def procore_connection_yaml(
    *,
    base_url: str = "{{ env.PROCORE_BASE_URL }}",
    auth: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """The ``connections:`` block of a workflow, as YAML text: one connection ``procore``
    (the procore API) with ``auth`` (default :func:`oauth2_client_credentials`) and optional
    extra ``headers``. Values are written as quoted strings, templates untouched."""
    lines = ["connections:", "  procore:", "    api: procore", f"    base_url: {_quoted(base_url)}"]
    lines += _mapping_lines("auth", auth or oauth2_client_credentials())
    if headers:
        lines += _mapping_lines("headers", headers)
    return "\n".join(lines) + "\n"


def emulator_connection_yaml(em: Emulator) -> str:
    """:func:`procore_connection_yaml` with the emulator's URLs and credentials written in,
    for workflows run where the ``PROCORE_*`` environment cannot be passed."""
    auth = oauth2_client_credentials(em.token_url, em.client_id, em.client_secret)
    return procore_connection_yaml(base_url=em.base_url, auth=auth)


def procore_workflow_yaml(name: str, tasks_yaml: str, *, connections: str | None = None) -> str:
    """A whole workflow as YAML text: ``name``, :data:`COMPANY_PROJECT_INPUTS_YAML`,
    ``connections`` (default :func:`procore_connection_yaml`) and ``tasks_yaml`` (the text
    of the ``tasks:`` block)."""
    return (
        f"name: {name}\n"
        + COMPANY_PROJECT_INPUTS_YAML
        + (connections if connections is not None else procore_connection_yaml())
        + tasks_yaml
    )


def _quoted(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _mapping_lines(key: str, values: Mapping[str, str]) -> list[str]:
    return [f"    {key}:"] + [f"      {name}: {_quoted(value)}" for name, value in values.items()]


def grant_token(em: Emulator, **extra: str) -> requests.Response:
    """POST a client-credentials grant to the emulator's token endpoint; ``extra`` form
    fields override the defaults (a wrong secret, another grant type)."""
    data = {
        "grant_type": "client_credentials",
        "client_id": em.client_id,
        "client_secret": em.client_secret,
    }
    data.update(extra)
    return requests.post(em.token_url, data=data, timeout=5)


def emulator_token(em: Emulator) -> str:
    """A fresh access token from the emulator."""
    return str(grant_token(em).json()["access_token"])


class RecordingServer:
    """A loopback server on ``host`` (port 0) that records the path and headers of every
    GET and answers an empty JSON list; use another loopback address such as 127.0.0.2
    to stand for "another host" next to servers on 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []  # names in lower case
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                recorder.paths.append(self.path)
                recorder.headers.append({k.lower(): v for k, v in self.headers.items()})
                body = b"[]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.host = host
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def clear(self) -> None:
        """Forget what was recorded (a server shared by several tests)."""
        self.paths.clear()
        self.headers.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


#: Runs the CLI, then writes the process's peak RSS (VmHWM, KiB) to $HOSTILE_PEAK_FILE.
PEAK_RSS_DRIVER = """\
import atexit, os, sys

def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["HOSTILE_PEAK_FILE"], "w") as out:
        out.write(peak)

atexit.register(report)
sys.argv[0] = "task-runner"
from task_runner.cli import run_main
run_main()
"""
