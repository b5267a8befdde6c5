"""python -m sftstudio_trainer --config RUN_DIR/config.json [--watch-stdin]"""

import argparse
import os
import signal
import sys
import threading
import time
import traceback

from . import config, events
from .events import TrainerError, emit, log
from .loop import Cancelled, Control, run

OOM_HINT = "the GPU ran out of memory: lower batch_size or max_length, turn on gradient_checkpointing, or use QLoRA"


def _watch_stdin(control):
    """The host keeps our stdin open; when it goes away (even killed), stdin ends and so do we."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    try:
        control.cancel("the program that started the trainer went away")
    except Cancelled:
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_lease(control, path, seconds):
    """An editor that started the run touches the lease file; a window reload only pauses that
    for a moment, a closed editor stops it for good, and then the run stops cleanly."""
    while True:
        time.sleep(min(5.0, seconds / 4))
        try:
            age = time.time() - os.stat(path).st_mtime
        except OSError:
            age = float("inf")
        if age > seconds:
            try:
                control.cancel("the editor that started the run went away")
            except Cancelled:
                os.kill(os.getpid(), signal.SIGTERM)
            return


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sftstudio_trainer", description="SFT Studio's local trainer (events on stdout)")
    parser.add_argument("--config", required=True, help="run config (JSON)")
    parser.add_argument("--watch-stdin", action="store_true", help="stop cleanly when stdin closes (the host went away)")
    parser.add_argument("--events-file", help="also append every event to this file (the run's events.jsonl)")
    parser.add_argument("--lease-file", help="stop cleanly when this file has not been touched for --lease-seconds")
    parser.add_argument("--lease-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    control = Control()

    def on_signal(signum, _frame):
        control.cancel("cancelled (SIGTERM)" if signum == signal.SIGTERM else "interrupted (SIGINT)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.events_file:
        events.also_write_to(args.events_file)
    if args.watch_stdin:
        threading.Thread(target=_watch_stdin, args=(control,), daemon=True).start()
    if args.lease_file:
        threading.Thread(target=_watch_lease, args=(control, args.lease_file, args.lease_seconds), daemon=True).start()
    try:
        cfg = config.load(args.config)
        return run(cfg, control)
    except Cancelled as c:
        emit("finished", status="cancelled", adapter=None, reason=str(c))
        return 0
    except TrainerError as err:
        emit("error", message=err.message, hint=err.hint, kind=err.kind)
        emit("finished", status="failed", adapter=None)
        return 1
    except Exception as err:  # noqa: BLE001 - reported as an event, with the traceback on stderr
        log(traceback.format_exc())
        text = f"{type(err).__name__}: {err}"
        oom = "out of memory" in text.lower() or type(err).__name__ == "OutOfMemoryError"
        emit("error", message=text, hint=OOM_HINT if oom else "see the trainer log for the traceback", kind="out_of_memory" if oom else "crash")
        emit("finished", status="failed", adapter=None)
        return 1


if __name__ == "__main__":
    sys.exit(main())
