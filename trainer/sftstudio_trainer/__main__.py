"""python -m sftstudio_trainer --config RUN_DIR/config.json [--watch-stdin]"""

import argparse
import os
import signal
import sys
import threading
import traceback

from . import config
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sftstudio_trainer", description="SFT Studio's local trainer (events on stdout)")
    parser.add_argument("--config", required=True, help="run config (JSON)")
    parser.add_argument("--watch-stdin", action="store_true", help="stop cleanly when stdin closes (the host went away)")
    args = parser.parse_args(argv)
    control = Control()

    def on_signal(signum, _frame):
        control.cancel("cancelled (SIGTERM)" if signum == signal.SIGTERM else "interrupted (SIGINT)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.watch_stdin:
        threading.Thread(target=_watch_stdin, args=(control,), daemon=True).start()
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
