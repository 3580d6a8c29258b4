"""``task-runner studio [PATH]``: the local web app for the three steps.

Add an HTTP task, find the API and prepare the request from its reference, test the
request and see the response -- over the workflow files under PATH, in the browser.
"""

from __future__ import annotations

import argparse

from task_runner.cli.common import add_definitions_option, definitions_dirs, err

#: Hosts that keep the studio on this machine.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "studio",
        help="the web studio, in the browser: add a task, find the API and prepare the "
        "request, test it",
        description="Serve a local web app over the workflow files under PATH (default: "
        "the current folder) and open it in the browser. The URL it prints holds a "
        "random access token that every request needs; only files under PATH are read "
        "or written (recordings go to PATH/recordings). Needs the [studio] extra.",
    )
    parser.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="the folder of workflow files"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port", type=_port, default=0, metavar="N", help="the port (default: a free one)"
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="send Procore requests to the built-in emulator (offline, no credentials)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL; do not open a browser"
    )
    add_definitions_option(parser)
    parser.set_defaults(func=handle)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 to 65535")
    return value


def handle(args: argparse.Namespace) -> int:
    import contextlib
    import secrets
    import socket
    import threading
    import webbrowser
    from pathlib import Path

    from task_runner.errors import UsageError

    try:
        import uvicorn

        from task_runner.studio.app import StudioConfig, create_app, wait_for_jobs
    except ImportError as exc:
        raise UsageError(
            f"the studio needs the [studio] extra ({exc.name} is missing)",
            hint="pip install 'task-runner[studio]'",
        ) from None
    from task_runner.catalogue import Catalogue

    root = Path(args.path)
    if not root.is_dir():
        raise UsageError(f"{args.path} is not a folder", hint="give the folder of your workflows")
    if args.host not in LOOPBACK_HOSTS:
        err(
            f"warning: --host {args.host} makes the studio reachable from other machines; "
            "anyone who has the URL with its token can read and change the workflows under "
            f"{args.path} and send requests with your credentials"
        )
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(128)  # connections wait in the backlog until the server takes them
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            hint="choose another --port (0 picks a free one)",
        ) from None
    port = sock.getsockname()[1]
    stack = contextlib.ExitStack()
    emulator = None
    if args.emulator:  # the emulator test-request --emulator starts, for the studio's life
        from task_runner.runner.emulated import start_emulator

        emulator = stack.enter_context(start_emulator())
    config = StudioConfig(
        root=root.resolve(),
        token=secrets.token_urlsafe(32),
        catalogue=Catalogue.load(definitions_dirs(args)),
        host=args.host,
        port=port,
        emulator=emulator,
    )
    app = create_app(config)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/?token={config.token}"
    err(f"studio: serving {config.root} at")
    err(f"    {url}")
    err("open that URL (it holds the access token); Ctrl-C stops the studio")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    if not args.no_browser:
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    try:
        server.run(sockets=[sock])
    finally:
        wait_for_jobs(app)
        stack.close()
        sock.close()
    return 0
