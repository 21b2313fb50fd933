"""PostgreSQL: work that needs no model, run on a second connection beside the training path.

The score's run is a chain of independent waits: the training key (the server hashes every
closed deal), the training table (the server's point-in-time query), the fit (numpy and
scikit-learn in this process), and the features of the deals open at ``as_of`` (the
server's one-instant query). The last needs no model, so it runs in a thread on its own
connection while the first connection computes the key, builds the training table and
fits: on a server with two cores the one-instant query and the training query run side by
side, and the server works while the client fits. The CPU seconds are the same; the
score's wall time loses the shorter of the two paths. On a cut's first run no model can be
reused, so the key is not waited for either: it is computed there too, after the open
deals' read (hub/score/store.py).

Both connections read the same data: the second imports the first's snapshot
(``pg_export_snapshot``, taken before anything else the run does), so a write committed
meanwhile by anyone is invisible to both, as it would be to one transaction. DuckDB runs
its queries on every core already, and elsewhere one connection does it all in turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from hub.score.features import FeatureTable, read_features
from hub.warehouse import Warehouse
from models.errors import WarehouseError

log = logging.getLogger(__name__)
T = TypeVar("T")


def export_snapshot(conn: sa.Connection) -> str:
    """The id of ``conn``'s current snapshot, importable while its transaction lasts."""
    return str(conn.execute(sa.text("select pg_export_snapshot()")).scalar_one())


def read_in_snapshot(
    warehouse: Warehouse, snapshot: str, instants: Sequence[datetime], dimensions: Sequence[str]
) -> FeatureTable:
    """:func:`read_features` on a new connection that sees exactly ``snapshot``'s data."""
    return run_in_snapshot(
        warehouse, snapshot, lambda conn: read_features(conn, instants, dimensions)
    )


def run_in_snapshot(warehouse: Warehouse, snapshot: str, job: Callable[[sa.Connection], T]) -> T:
    """``job`` on a new connection that sees exactly ``snapshot``'s data."""
    with warehouse.connect() as conn:
        # The first statements of the transaction: the import must precede any query.
        conn.execute(sa.text("set transaction isolation level repeatable read, read only"))
        conn.execute(sa.text(f"set transaction snapshot '{snapshot.replace(chr(39), '')}'"))
        return job(conn)


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` is the server turning a new connection away, not a failed query."""
    text = str(exc).lower()
    return any(
        words in text
        for words in ("too many connections", "too many clients", "connection slots are reserved")
    )


def _concurrent(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2"


@contextmanager
def beside(
    warehouse: Warehouse, conn: sa.Connection
) -> Iterator[Callable[[Callable[[sa.Connection], T]], Callable[[], T]]]:
    """A ``submit(job)`` giving a function that returns ``job(connection)``. Enter it before
    ``conn`` writes anything a job needs (the snapshot holds no uncommitted write): on
    PostgreSQL each job starts at once on a second connection in ``conn``'s snapshot (jobs
    in turn, one thread), and the function waits for it; elsewhere the function runs the
    job on ``conn``. When the server refuses the second connection (a role's or database's
    connection limit), the function runs the job on ``conn`` after all. Leaving without
    having asked (no model to score with, or an error) waits for the jobs to end and drops
    them."""
    if not _concurrent(conn):
        yield lambda job: lambda: job(conn)
        return
    snapshot = export_snapshot(conn)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-score") as pool:
        unasked: list[Future[Any]] = []

        def submit(job: Callable[[sa.Connection], T]) -> Callable[[], T]:
            future: Future[T] = pool.submit(run_in_snapshot, warehouse, snapshot, job)
            unasked.append(future)

            def result() -> T:
                if future in unasked:
                    unasked.remove(future)
                try:
                    return future.result()
                except (sa.exc.OperationalError, WarehouseError) as exc:
                    if not _refused(exc):
                        raise
                    log.warning("a second connection was refused; running on the first in turn")
                    return job(conn)

            return result

        try:
            yield submit
        finally:
            for future in unasked:
                if not future.cancel():
                    with suppress(Exception):  # an unneeded job: let it end; its error is moot
                        future.result()


@contextmanager
def open_deal_features(
    warehouse: Warehouse, conn: sa.Connection, as_of: datetime, dimensions: Sequence[str]
) -> Iterator[Callable[[], FeatureTable]]:
    """A function giving the features of the deals open at ``as_of``, as
    ``read_features(conn, [as_of], dimensions)`` gives them, read :func:`beside` ``conn``."""
    with beside(warehouse, conn) as submit:
        yield submit(lambda other: read_features(other, [as_of], dimensions))


__all__ = ["beside", "export_snapshot", "open_deal_features", "read_in_snapshot", "run_in_snapshot"]
