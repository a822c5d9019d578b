"""Ctrl-C as a request: the training loop stops at the next batch boundary and checkpoints."""

from __future__ import annotations

import signal
import sys


class StopRequest:
    """Context manager: the first SIGINT sets ``requested``; a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nStopping at the end of this batch (Ctrl-C again to abort)...", file=sys.stderr)

    def __enter__(self) -> StopRequest:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
