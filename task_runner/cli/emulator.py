"""``task-runner emulator``: run the local Procore emulator until SIGINT or SIGTERM.

Prints the base URL, the token URL, the (public, fixture) credentials and the
environment variables that point a workflow's Procore connection at it, on stderr.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "emulator",
        help="run a local Procore-compatible API server (OAuth + GET /rest/v1.0/images)",
        description="Run a local Procore-compatible API server for offline use and tests, "
        "until Ctrl-C or SIGTERM. It prints its URLs, its (public, test-only) credentials "
        "and the environment variables that point a workflow's Procore connection at it. "
        "Fault spec examples: '503:retry-after=2@3' (the 3rd request answers 503 with "
        "Retry-After: 2), 'reset@2-3;429:reset=1@every=5', '500@p=0.2' (see "
        "task_runner.emulator.faults).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8765, metavar="N", help="port (default 8765; 0: any free port)"
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the made-up photos (default 0)"
    )
    p.add_argument(
        "--images", type=int, default=250, metavar="N", help="images in project 777 (default 250)"
    )
    p.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="answer some requests with faults (errors, resets, delays): see the examples above",
    )
    p.add_argument(
        "--token-ttl",
        type=int,
        default=5400,
        metavar="S",
        help="access token lifetime in seconds (default 5400, as Procore's)",
    )
    p.add_argument(
        "--pagination",
        choices=("total", "link", "next-only"),
        default="total",
        help="total: Total + Per-Page + Link headers (default); link: only Link; "
        "next-only: only Link without rel=last",
    )
    p.add_argument(
        "--hourly-limit",
        type=int,
        default=3600,
        metavar="N",
        help="requests per hour before 429 (default 3600)",
    )
    p.add_argument(
        "--spike-limit",
        type=int,
        default=None,
        metavar="N",
        help="requests per 10 s window before 429 (default: no limit)",
    )
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds added to each images request (default 0)",
    )
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    import signal
    import time

    from task_runner.cli.common import err
    from task_runner.emulator import Emulator
    from task_runner.errors import UsageError

    if args.images < 0 or args.token_ttl < 1 or args.latency < 0:
        raise UsageError("--images, --token-ttl and --latency must not be negative")
    emulator = Emulator(
        host=args.host,
        port=args.port,
        seed=args.seed,
        images=args.images,
        faults=args.faults,
        token_ttl=args.token_ttl,
        pagination_headers=args.pagination,
        hourly_limit=args.hourly_limit,
        spike_limit=args.spike_limit,
        latency=args.latency,
        dataset_end=time.time(),  # photos dated up to now, so window filters find some
    )
    try:
        emulator.start()
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from exc

    def stop(signum: int, frame: object) -> None:
        emulator.request_stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # Emulator credentials are public fixtures, not secrets: printing them is intended.
    err(
        f"Procore emulator listening on {emulator.base_url} (seed {args.seed}, {args.images} images)"
    )
    err(f"  token URL:     {emulator.token_url}")
    err(f"  client id:     {emulator.client_id}")
    err(f"  client secret: {emulator.client_secret}")
    err(f"  company {emulator.company_id}, projects {', '.join(map(str, emulator.project_ids))}")
    if emulator.faults:
        err(f"  faults:        {emulator.faults}")
    err("Export these to point workflows here:")
    for name, value in emulator.env().items():
        err(f"  export {name}={value}")
    err("Press Ctrl-C to stop.")
    try:
        emulator.serve_until_stopped()
    finally:
        emulator.stop()
    err("emulator stopped")
    return 0
