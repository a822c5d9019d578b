"""The one way real-environment work runs: ``executor.map(fn, items)``.

Collection, candidate scoring and evaluation are all "run this top-level function on each of
these items"; hiding how behind ``map`` lets a run go from one process to a process pool or a
Ray cluster (``backend``) without touching the stages. Results come back to the caller, in the
items' order, so whatever a task produces is written by the driver, never by a worker.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound="_ClosingExecutor")

# Each worker keeps its math libraries to one thread: the pool or cluster already fills the cores.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
RAY_INSTALL = "pip install 'rnnagents[ray]'"
BACKENDS = ("serial", "process", "ray")

Callback = Callable[[int, Any], None]
"""Called as ``on_done(index, result)`` in the parent as each item finishes (any order)."""


class TaskError(RuntimeError):
    """An item's task raised; the message names the item, ``__cause__`` is the original error."""


class Executor(Protocol):
    """Runs ``fn`` on every item: ``completed`` yields results as they finish, ``map`` returns
    them in the items' order."""

    def completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]: ...

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], on_done: Callback | None = None
    ) -> list[R]: ...


def _task_error(index: int, item: Any, exc: BaseException) -> TaskError:
    return TaskError(f"task {index} failed on item {item!r}: {type(exc).__name__}: {exc}")


class _ClosingExecutor:
    """``map`` for every backend, from its ``completed``; ``with make_executor(n) as
    executor:`` releases whatever the executor holds."""

    def completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        """``(index, result)`` of every item as it finishes, in any order; a task that raised
        stops the iteration with a ``TaskError`` naming its item (the others are cancelled)."""
        raise NotImplementedError

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], on_done: Callback | None = None
    ) -> list[R]:
        items = list(items)
        results: list[Any] = [None] * len(items)
        for index, result in self.completed(fn, items):
            results[index] = result
            if on_done is not None:
                on_done(index, result)
        return results

    def close(self) -> None:
        """Release the executor's resources; safe to call twice."""

    def __enter__(self: E) -> E:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(_ClosingExecutor):
    """Everything in this process, one item after the other: debugging and 1-worker runs."""

    def completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        for index, item in enumerate(items):
            try:
                result = fn(item)
            except Exception as exc:
                raise _task_error(index, item, exc) from exc
            yield index, result


PARENT_POLL_SECONDS = 1.0


def _exit_when_orphaned(parent: int) -> None:
    """Exit this worker once its parent is gone: a parent killed outright (SIGKILL, SIGTERM)
    cannot stop its pool, and a worker mid-episode would otherwise run on for hours."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _init_worker() -> None:
    """Keep each worker's math libraries to one thread (the pool already fills the cores), and
    tie the worker's life to its parent's.

    Runs before the task's module is unpickled, hence before it imports torch or numpy's BLAS.
    """
    os.environ.update(WORKER_ENV)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()


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
                initializer=_init_worker,
            )
        return self._pool

    def completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        items = list(items)
        pool = self._get_pool()
        futures: dict[Future, int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
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
                    yield index, future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop the workers (waiting for running tasks). Safe to call twice."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _apply(fn: Callable[[T], R], item: T) -> R:
    """A Ray task: ``fn`` arrives from the object store, stored once for all of a map's items."""
    return fn(item)


class RayExecutor(_ClosingExecutor):
    """Every item a Ray task (one CPU each) on a local Ray instance or a running cluster.

    ``address=None`` starts a local instance with ``workers`` CPUs (shut down by ``close``);
    ``"auto"`` or ``"HOST:PORT"`` joins a cluster (``ray start --head`` ...) and leaves it
    running. Where this process has already called ``ray.init`` itself, that instance is used
    as it is (``workers`` and ``address`` then change nothing). A worker that dies mid-task
    (killed, out of memory, its node lost) is retried by Ray up to ``max_retries`` times; a
    task that raises fails the map with the item named, as the process pool does. ``fn`` may
    be a callable object carrying what every item needs (weights): it is put in Ray's object
    store once per map. Workers import ``rnnagents``: it must be installed on every node.
    """

    def __init__(self, workers: int, address: str | None = None, max_retries: int = 3) -> None:
        try:
            import ray
        except ImportError as err:
            raise ValueError(
                f"--backend ray needs Ray, which is not installed: {RAY_INSTALL}"
            ) from err
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.ray, self.max_retries = ray, max_retries
        self._owns_instance = not ray.is_initialized()
        if self._owns_instance:
            local = {"num_cpus": workers} if address is None else {}
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": WORKER_ENV},
                **local,
            )

    def completed(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[int, R]]:
        items = list(items)
        remote = self.ray.remote(num_cpus=1, max_retries=self.max_retries)(_apply)
        shared_fn = self.ray.put(fn)  # once, however heavy (a world model's weights): not per item
        refs = {remote.remote(shared_fn, item): i for i, item in enumerate(items)}
        pending = list(refs)
        try:
            while pending:
                [done], pending = self.ray.wait(pending, num_returns=1)
                index = refs[done]
                try:
                    result = self.ray.get(done)
                except self.ray.exceptions.RayError as exc:
                    cause = getattr(exc, "cause", None) or exc  # the task's own exception
                    raise _task_error(index, items[index], cause) from exc
                yield index, result
        finally:
            for ref in pending:
                self.ray.cancel(ref)

    def close(self) -> None:
        """Shut down the local Ray instance this executor started (a cluster stays up)."""
        if self._owns_instance and self.ray.is_initialized():
            self.ray.shutdown()
        self._owns_instance = False


def make_executor(
    workers: int, backend: str = "process", address: str | None = None
) -> SerialExecutor | ProcessExecutor | RayExecutor:
    """``process`` (the default): serial for one worker (no start-up, plain tracebacks), else a
    process pool; ``serial``: always in this process; ``ray``: Ray tasks (``address``)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ValueError("--ray-address applies to --backend ray only")
    if backend == "ray":
        return RayExecutor(workers, address)
    if backend == "serial" or workers == 1:
        return SerialExecutor()
    return ProcessExecutor(workers)
