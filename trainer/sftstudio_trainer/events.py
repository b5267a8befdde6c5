"""The event protocol: one JSON object per line on stdout, nothing else on stdout."""

import datetime
import json
import math
import sys
import threading

_lock = threading.Lock()
_out = sys.stdout
_file = None


def also_write_to(path):
    """Keep every event in a file too (the run's events.jsonl), flushed line by line, so a run
    outlives the program that started it and a kill loses nothing already reported."""
    global _file
    _file = open(path, "a", encoding="utf-8", buffering=1)


def _clean(value):
    """JSON has no NaN or infinity: such a float becomes null rather than an invalid line."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def emit(event, **fields):
    """Write one event. A closed stdout (the host went away) is not an error worth a traceback."""
    record = {"event": event, "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    record.update(_clean(fields))
    line = json.dumps(record, ensure_ascii=False, allow_nan=False)
    with _lock:
        if _file is not None:
            _file.write(line + "\n")
            _file.flush()
        try:
            _out.write(line + "\n")
            _out.flush()
        except (BrokenPipeError, ValueError):
            pass


class capture:
    """Collect the events written inside a `with` block instead of printing them (for callers
    that drive the trainer in-process: its tests and the GPU check)."""

    def __enter__(self):
        import io

        global _out
        self._saved = _out
        self._buffer = _out = io.StringIO()
        return self

    def __exit__(self, *exc):
        global _out
        _out = self._saved

    def events(self):
        return [json.loads(line) for line in self._buffer.getvalue().splitlines()]


def log(message):
    """Human-readable log line, on stderr."""
    try:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


class TrainerError(Exception):
    """An error with a hint for the user; reported as an `error` event, not a traceback."""

    def __init__(self, message, hint=None, kind="error"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind
