"""The one way World Models runs real-environment work: ``executor.map(fn, items)``.

Collection, candidate scoring and evaluation are all "run this top-level function on each of
these items"; hiding how behind ``map`` lets a run go from one process to a process pool (or,
later, a cluster backend that implements the same method) without touching the stages.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound="_ClosingExecutor")

Callback = Callable[[int, Any], None]
"""Called as ``on_done(index, result)`` in the parent as each item finishes (any order)."""


class TaskError(RuntimeError):
    """An item's task raised; the message names the item, ``__cause__`` is the original error."""


class Executor(Protocol):
    """Runs ``fn`` on every item and returns the results in the items' order."""

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], on_done: Callback | None = None
    ) -> list[R]: ...


def _task_error(index: int, item: Any, exc: BaseException) -> TaskError:
    return TaskError(f"task {index} failed on item {item!r}: {type(exc).__name__}: {exc}")


class _ClosingExecutor:
    """``with make_executor(n) as executor:`` releases whatever the executor holds."""

    def close(self) -> None:
        """Release the executor's resources; safe to call twice."""

    def __enter__(self: E) -> E:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(_ClosingExecutor):
    """Everything in this process, one item after the other: debugging and 1-worker runs."""

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], on_done: Callback | None = None
    ) -> list[R]:
        results = []
        for index, item in enumerate(items):
            try:
                result = fn(item)
            except Exception as exc:
                raise _task_error(index, item, exc) from exc
            results.append(result)
            if on_done is not None:
                on_done(index, result)
        return results


def _single_threaded_worker() -> None:
    """Keep each worker's math libraries to one thread: the pool already fills the cores.

    Runs before the task's module is unpickled, hence before it imports torch or numpy's BLAS.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"


class ProcessExecutor(_ClosingExecutor):
    """A pool of ``workers`` processes, started lazily and reused across ``map`` calls.

    Workers are started with ``spawn`` (fresh interpreters), because forking a parent that holds
    torch threads, an OpenGL/SDL context or open files is not safe; ``fn`` and the items must
    therefore be picklable (``fn`` a top-level function). Use as a context manager or call
    ``close``.
    """

    def __init__(self, workers: int, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context(self.start_method),
                initializer=_single_threaded_worker,
            )
        return self._pool

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], on_done: Callback | None = None
    ) -> list[R]:
        items = list(items)
        pool = self._get_pool()
        futures: dict[Future, int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        results: list[Any] = [None] * len(items)
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = futures[future]
                    exc = future.exception()
                    if isinstance(exc, BrokenProcessPool):
                        self.close()  # a worker died (e.g. killed); the next map starts afresh
                    if exc is not None:
                        raise _task_error(index, items[index], exc) from exc
                    results[index] = future.result()
                    if on_done is not None:
                        on_done(index, results[index])
        finally:
            for future in pending:
                future.cancel()
        return results

    def close(self) -> None:
        """Stop the workers (waiting for running tasks). Safe to call twice."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_executor(workers: int) -> SerialExecutor | ProcessExecutor:
    """Serial for one worker (no process start-up, plain tracebacks), else a process pool."""
    return SerialExecutor() if workers == 1 else ProcessExecutor(workers)
