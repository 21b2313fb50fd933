"""Locks that keep two hub runs off one warehouse, and off one source's dlt pipeline.

Two ``hub sync`` on one hub.yml used to run side by side: each took the other's in-flight
dlt load packages for a crashed run's and finished them, and now and then a package broke
and wedged its source. Every command that writes (pull, transform, push) now holds the
warehouse's lock for its whole run, and a pull holds each source pipeline's lock while it
works on it:

- DuckDB: a file lock beside the database file (``hub.duckdb.lock``), so every hub.yml that
  names the file shares it;
- PostgreSQL: a session advisory lock in the database (:data:`PG_LOCK_KEY`), so runs from
  other folders or machines wait too;
- other warehouses (``kind: dlt``): a file lock in the hub folder, ``.hub/locks/``; runs
  from other folders are not serialized;
- a source pipeline: a file lock in ``.hub/pipelines/``, shared by every hub.yml of the
  folder (they share the pipelines).

File locks are ``flock`` locks: the kernel drops them when their process dies, so a
killed run never leaves a stale lock. A lock file holds its holder's description (command,
pid, host, since when) for the message the next run prints. Locks are re-entrant per
thread (``hub sync`` holds the warehouse for pull, transform and push); another thread, like
another process, waits.

A second run waits up to :data:`policy` ``.wait_s`` seconds (``--wait``; default 0), then
fails with :class:`LockBusy`, exit code 4.
"""

from __future__ import annotations

import fcntl
import functools
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

import connectors.http
from models.errors import HubError, WarehouseError

# "crm-sync-hub warehouse" as a signed 64-bit integer: the advisory lock key every hub uses.
PG_LOCK_KEY = int.from_bytes(b"crmhub\x00\x01", "big", signed=True)
POLL_S = 0.2


class LockBusy(HubError):
    """Another hub run holds the lock; rerun later or wait for it (``--wait``)."""

    exit_code = 4


@dataclass
class WaitPolicy:
    """How long a run waits for a lock, and whom to tell that it is waiting (the CLI)."""

    wait_s: float = 0.0
    on_wait: Callable[[str, float], None] | None = None


policy = WaitPolicy()


class Lock(Protocol):
    key: str  # identifies the lock within this process (re-entrancy)
    what: str  # what it protects, for messages

    def try_acquire(self, holder: str) -> bool: ...
    def release(self) -> None: ...
    def holder(self) -> str: ...


class FileLock:
    """An exclusive ``flock`` on ``path``; the file keeps its holder's description."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what, self.key = path, what, f"file:{path.resolve()}"
        self._fd: int | None = None

    def try_acquire(self, holder: str) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        try:
            os.ftruncate(fd, 0)
            os.write(fd, holder.encode("utf-8"))
        except OSError:  # a full disk must not stop the lock from working; only the note
            pass
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing drops the flock

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "another hub run"
        except OSError:
            return "another hub run"


class PgAdvisoryLock:
    """A session-level advisory lock in the warehouse database, held on its own connection."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse, self.url, self.what = warehouse, warehouse.url(), warehouse.describe()
        self.key = f"pg:{sa.engine.make_url(self.url).render_as_string(hide_password=True)}"
        self._engine: sa.Engine | None = None
        self._conn: sa.Connection | None = None

    def try_acquire(self, holder: str) -> bool:
        engine = sa.create_engine(
            self.url,
            poolclass=sa.pool.NullPool,
            connect_args={"application_name": holder[:63]},  # "hub sync, pid ..."
        )
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.OperationalError as exc:  # unreachable, wrong password: one line
            engine.dispose()
            raise WarehouseError(self.warehouse.explain(exc)) from None
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar()
        if not got:
            conn.close()
            engine.dispose()
            return False
        self._engine, self._conn = engine, conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            conn, engine, self._conn, self._engine = self._conn, self._engine, None, None
            try:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
            finally:
                conn.close()
                assert engine is not None
                engine.dispose()

    def holder(self) -> str:
        """The holding session's application name: the hub sets it to its description.
        Advisory locks are per database, and pg_locks lists every database's: only this
        one's holder is ours."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                name = conn.execute(
                    sa.text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.classid::bigint = (CAST(:k AS bigint) >> 32) & 4294967295 "
                        "AND l.objid::bigint = CAST(:k AS bigint) & 4294967295 "
                        "AND l.objsubid = 1 AND l.database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())"
                    ),
                    {"k": PG_LOCK_KEY},
                ).scalar()
        except sa.exc.SQLAlchemyError:
            name = None
        finally:
            engine.dispose()
        return str(name) if name else "another hub run"


_held = threading.local()  # per thread: the keys of the locks it holds


def describe_holder(command: str) -> str:
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"hub {command}, pid {os.getpid()} on {socket.gethostname()}, since {since}"


@contextmanager
def hold(lock: Lock, command: str, *, wait_s: float | None = None) -> Iterator[None]:
    """Hold ``lock`` for the block; wait up to ``wait_s`` (default :data:`policy`). Inside a
    block that holds it already (same thread), just run the block."""
    held: set[str] = _held.__dict__.setdefault("keys", set())
    if lock.key in held:
        yield
        return
    _acquire(lock, command, policy.wait_s if wait_s is None else wait_s)
    held.add(lock.key)
    try:
        yield
    finally:
        held.discard(lock.key)
        lock.release()


def in_use_elsewhere(lock: Lock) -> bool:
    """Whether another run (process or thread) holds ``lock`` now; probes without waiting."""
    if lock.key in _held.__dict__.setdefault("keys", set()):
        return False
    if lock.try_acquire(describe_holder("status")):
        lock.release()
        return False
    return True


def _acquire(lock: Lock, command: str, wait_s: float) -> None:
    clock = connectors.http.clock
    me = describe_holder(command)
    if lock.try_acquire(me):
        return
    holder = lock.holder()
    if wait_s > 0:
        if policy.on_wait is not None:
            policy.on_wait(f"{lock.what} is in use by {holder}", wait_s)
        deadline = clock.now() + wait_s
        while clock.now() < deadline:
            clock.sleep(min(POLL_S, max(0.0, deadline - clock.now())))
            if lock.try_acquire(me):
                return
        holder = lock.holder()
    waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
    hint = "wait longer with --wait SECONDS" if wait_s > 0 else "pass --wait SECONDS to wait"
    raise LockBusy(
        f"{lock.what} is in use by {holder}{waited}; rerun when that run has finished, or {hint}"
    )


def warehouse_lock(config: Any) -> Lock:
    from hub.warehouse import Warehouse

    return Warehouse(config).run_lock()


def pipeline_lock(config: Any, source_name: str) -> FileLock:
    path = config.hub_dir / "pipelines" / f"hub_{source_name}.lock"
    return FileLock(path, f"source '{source_name}' (its dlt pipeline in {path.parent})")


@contextmanager
def holding_warehouse(config: Any, command: str) -> Iterator[None]:
    """Hold the warehouse for a run of several steps (``hub sync``)."""
    with hold(warehouse_lock(config), command):
        yield


F = TypeVar("F", bound=Callable[..., Any])


def locks_warehouse(command: str, *, needs_complete_build: bool = False) -> Callable[[F], F]:
    """Decorate a library entry point whose first argument is the config: it runs holding
    the warehouse lock and, with ``needs_complete_build``, refuses marts a transform left
    half-built (``hub.warehouse.builds``)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(config: Any, *args: Any, **kwargs: Any) -> Any:
            from hub.warehouse import Warehouse

            warehouse = Warehouse(config)
            with hold(warehouse.run_lock(), command):
                if needs_complete_build:
                    with warehouse.connect() as conn:
                        warehouse.require_complete_build(conn)
                return fn(config, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
