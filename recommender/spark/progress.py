"""The job's progress lines and timings, read by the service that started the process."""

from __future__ import annotations

import json
import sys
import time


class Reporter:
    """Progress lines for the service that started this process (it updates the run's row)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.timings: dict[str, float] = {}
        self.started = time.monotonic()

    def progress(self, step: str, fraction: float, message: str = "") -> None:
        line = {"step": step, "progress": round(min(max(fraction, 0.0), 1.0), 4), "message": message or step}
        print("PROGRESS " + json.dumps(line), file=self.stream, flush=True)

    def timed(self, name: str):
        reporter = self

        class _Timer:
            def __enter__(self):
                self.start = time.monotonic()
                return self

            def __exit__(self, *exc):
                reporter.timings[name] = round(reporter.timings.get(name, 0.0) + time.monotonic() - self.start, 3)

        return _Timer()
