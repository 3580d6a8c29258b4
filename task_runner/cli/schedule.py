"""``task-runner schedule PATH...``: the embedded scheduler, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from task_runner.cli.common import add_definitions_option, add_input_option, definitions_dirs

if TYPE_CHECKING:
    from task_runner.scheduling import WorkflowScheduler


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from task_runner.cli.run import add_emulator_option, add_state_dir_option

    parser = sub.add_parser(
        "schedule",
        help="the embedded scheduler: runs workflows by their schedule:",
        description="Run every workflow file that has a schedule: (cron with a time zone, or "
        "every: 15m) until SIGTERM or SIGINT. At most one run per workflow at a time (a run "
        "due while the previous one runs is skipped and logged); late runs within "
        "misfire_grace run once; files are reloaded when they change. On SIGTERM/SIGINT, "
        "running runs get --grace seconds to finish, the rest are recorded as interrupted; "
        "exit 0.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="workflow files, or folders of *.yaml files"
    )
    add_input_option(parser)
    add_state_dir_option(parser)
    add_definitions_option(parser)
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM/SIGINT, seconds running runs get to finish (default 30)",
    )
    parser.add_argument(
        "--via",
        choices=("process", "celery"),
        default="process",
        help="run in this process (default) or enqueue each run for Celery workers",
    )
    add_emulator_option(parser)
    parser.add_argument(
        "--max-concurrent-runs",
        type=int,
        default=20,
        metavar="N",
        help="runs of different workflows at once (default 20)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="S",
        help="how often to look for changed workflow files (default 2 s)",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    import contextlib
    import logging

    from task_runner.cli.common import parse_inputs
    from task_runner.errors import UsageError
    from task_runner.scheduling import SchedulerConfig, WorkflowScheduler

    if args.via == "celery" and args.emulator:
        raise UsageError(
            "--emulator works with --via process only",
            hint="point the workers at an emulator with PROCORE_BASE_URL instead",
        )
    if args.grace < 0:
        raise UsageError("--grace must be 0 or more seconds")
    if logging.getLogger("task_runner").level > logging.INFO:
        logging.getLogger("task_runner.scheduling").setLevel(logging.INFO)  # one line per run
    # APScheduler's own warnings (missed runs, max instances) are logged by our listeners.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    config = SchedulerConfig(
        paths=list(args.paths),
        inputs=parse_inputs(args.inputs),
        state_dir=args.state_dir,
        definitions=definitions_dirs(args),
        grace=args.grace,
        poll_interval=max(0.1, args.poll_interval),
        max_concurrent_runs=args.max_concurrent_runs,
    )
    with contextlib.ExitStack() as stack:
        emulator = None
        if args.emulator:
            from task_runner.emulator import Emulator

            emulator = stack.enter_context(Emulator())
            logging.getLogger("task_runner.scheduling").info(
                "emulator: Procore emulator on %s", emulator.base_url
            )
        enqueue = None
        if args.via == "celery":
            from task_runner.distributed.dispatch import enqueue_scheduled_run

            enqueue = enqueue_scheduled_run
        scheduler = WorkflowScheduler(config, emulator=emulator, enqueue=enqueue)
        interrupted = _run_until_signalled(scheduler)
    if interrupted:
        _exit_now()
    return 0


def _run_until_signalled(scheduler: WorkflowScheduler) -> int:
    """Run until SIGTERM/SIGINT; return how many runs had to be recorded as interrupted."""
    import logging
    import signal
    import threading

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        log = logging.getLogger("task_runner.scheduling")
        log.info("scheduler started; stop it with SIGTERM or Ctrl-C")
        while not stop.wait(0.5):
            pass
        log.info(
            "%s received: no new runs; waiting up to %gs for %d running run(s)",
            received[0],
            scheduler.config.grace,
            len(scheduler.active_runs()),
        )
        interrupted = scheduler.shutdown()
        log.info("scheduler stopped (%d run(s) recorded as interrupted)", interrupted)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return interrupted


def _exit_now() -> None:
    """Exit at once: a cancelled run is stuck in I/O, and its record is already final."""
    import logging
    import os
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # A normal exit would join the worker threads (concurrent.futures does, even for
    # daemon threads) and wait for the stuck request; the history already records the
    # run as interrupted, so nothing is lost by not waiting.
    os._exit(0)
