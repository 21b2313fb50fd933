"""A file's heavy first steps run in a thread while dlt goes on to the source's other files.

dlt asks each resource of a source for its next item in turn, on one thread, so the files of a
CSV source were read one after another: the digest and byte passes (Python), then DuckDB's
parse, check and merge (:mod:`connectors.csv.duck`), which on its own keeps the second core
busy only part of the time (issue #19, item 3). A resource instead hands those steps to
:func:`in_background` and yields ``None`` (dlt's "nothing yet": it asks the next resource)
until they are done, so the three big files of an export are hashed and checked at the same
time, and each is merged while the others are still being read (the merges themselves take
turns: :data:`connectors.csv.duck.WAREHOUSE_TURN`). Everything that speaks to dlt (items,
resource state, notes, post-load steps) stays on dlt's thread, in the order it always had.

A resource closed before its work is done (another file failed and dlt stops the extract)
waits for that work, so no DuckDB connection outlives the failed run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")

# Files worked on at once: an export's three big files (deals, activities, stage history)
# each take one; more would only share the same two cores and DuckDB's memory limit.
WORKERS = 3
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="hub-csv")
        return _pool


def in_background(work: Callable[[], T]) -> Generator[None, None, T]:
    """``work()`` in a worker thread; meanwhile yields ``None`` to dlt. Use as
    ``result = yield from in_background(work)`` inside a resource; ``work``'s exception is
    raised there."""
    future: Future[T] = _executor().submit(work)
    try:
        while not future.done():
            yield None
    except GeneratorExit:
        wait([future])
        raise
    return future.result()
