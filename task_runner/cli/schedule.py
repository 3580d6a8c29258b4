"""``task-runner schedule PATH...``: the embedded scheduler, until SIGTERM or SIGINT.

``--list`` prints each workflow's schedule and its next five fire times instead; SIGHUP
reloads the workflow files at once (they are also polled for changes).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from task_runner.cli.common import (
    add_definitions_option,
    add_input_option,
    add_output_option,
    definitions_dirs,
)

if TYPE_CHECKING:
    from task_runner.scheduling import WorkflowScheduler


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from task_runner.cli.run import add_emulator_option, add_state_dir_option

    parser = sub.add_parser(
        "schedule",
        help="run workflows on their schedules (cron or every) until stopped",
        description="Run every workflow file that has an enabled schedule (schedule.cron with "
        "schedule.timezone, or schedule.every such as 15m) until SIGTERM or SIGINT. At most one run per workflow at a time (a run "
        "due while the previous one runs is skipped and logged); late runs within "
        "misfire_grace run once; runs missed while the scheduler was down follow the "
        "workflow's misfire policy; files are reloaded when they change and on SIGHUP. "
        "Several schedulers may share one state directory: each run is executed by one of "
        "them, the others stand by. Two scheduled files with the same workflow name are "
        "refused (exit 2; on a reload the previous set keeps running). On SIGTERM/SIGINT, running runs get --grace seconds to "
        "finish, the rest are recorded as interrupted; exit 0.",
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
        "--list",
        action="store_true",
        help="print each workflow's schedule and its next five fire times (in the "
        "workflow's time zone), then exit",
    )
    add_output_option(parser)
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

    if args.list:
        return _list(args)
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
            from task_runner.runner.emulated import start_emulator

            # The same emulator as `run --emulator` (photos dated up to now), so windowed
            # runs find the items they would find there.
            emulator = stack.enter_context(start_emulator())
        enqueue = None
        if args.via == "celery":
            from task_runner.distributed.dispatch import enqueue_scheduled_run

            enqueue = enqueue_scheduled_run
        scheduler = WorkflowScheduler(config, emulator=emulator, enqueue=enqueue)
        interrupted = _run_until_signalled(scheduler)
    if interrupted:
        _exit_now()
    return 0


def _list(args: argparse.Namespace) -> int:
    """``schedule --list``: every workflow's schedule and next fire times; exit 2 when a
    file does not load (its errors printed), 0 otherwise."""
    import datetime as dt
    import logging
    from typing import Any

    from task_runner.catalogue import Catalogue
    from task_runner.cli.common import dump_json, err, out
    from task_runner.errors import InputError, InputErrors
    from task_runner.scheduling import discover
    from task_runner.scheduling.files import duplicate_names
    from task_runner.scheduling.listing import describe_schedule, format_entry
    from task_runner.workflow import load_workflow

    catalogue = Catalogue.load(definitions_dirs(args))
    now = dt.datetime.now(dt.timezone.utc)
    entries: list[dict[str, Any]] = []
    errors: list[InputError] = []
    unscheduled: list[str] = []
    scheduled = []
    for path in discover(list(args.paths)):
        try:
            workflow = load_workflow(path, catalogue=catalogue)
        except (InputError, InputErrors) as exc:
            errors.extend(exc.errors if isinstance(exc, InputErrors) else [exc])
            continue
        entry = describe_schedule(workflow, now)
        if entry is None:
            unscheduled.append(str(path))
        else:
            entries.append(entry)
            scheduled.append((path, workflow))
    errors.extend(duplicate_names(scheduled))
    if args.output == "json":
        out(
            dump_json(
                {
                    "schedules": entries,
                    "unscheduled": unscheduled,
                    "errors": [e.to_dict() for e in errors],
                }
            )
        )
    else:
        for entry in entries:
            out("\n".join(format_entry(entry)))
        for name in unscheduled:
            out(f"{name}: no enabled schedule; not run by the scheduler")
        for error in errors:
            err(error.format(), level=logging.ERROR)
    return 2 if errors else 0


def _run_until_signalled(scheduler: WorkflowScheduler) -> int:
    """Run until SIGTERM/SIGINT (SIGHUP reloads); return how many runs had to be
    recorded as interrupted."""
    import logging
    import signal
    import threading

    stop = threading.Event()
    reload = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    def on_hangup(_signum: int, _frame: object) -> None:
        reload.set()  # reloaded by the loop below, not inside the signal handler

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)
    try:
        scheduler.start()
        log = logging.getLogger("task_runner.scheduling")
        log.info("scheduler started; stop it with SIGTERM or Ctrl-C, reload with SIGHUP")
        while not stop.wait(0.2):
            if reload.is_set():
                reload.clear()
                log.info("SIGHUP received: reloading the workflow files")
                scheduler.reload(force=True)
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
