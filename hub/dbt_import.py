"""dbt's import, begun on a thread of its own while the transform waits for the warehouse.

Importing ``dbt.cli.main`` costs about 1.8 CPU-seconds of Python (2 cores AMD EPYC,
2026-12-07), paid before dbt's first node. The transform spends the seconds before that
waiting for the warehouse (the per-deal input snapshot, the changed-deal lists: the server's
work on PostgreSQL, DuckDB's own threads on DuckDB, with the GIL released), so the import
runs beside that wait instead of after it. It is begun only once the transform knows dbt
will run (a no-change sync never imports dbt), and only where the hub's own thread imports
nothing new meanwhile, so two threads never import the same modules at once.
"""

from __future__ import annotations

import contextlib
import sys
import threading

_MODULE = "dbt.cli.main"
_thread: threading.Thread | None = None


def begin() -> None:
    """Start importing dbt on a daemon thread, once per process."""
    global _thread
    if _thread is not None or _MODULE in sys.modules:
        return
    _thread = threading.Thread(target=_import, name="hub-dbt-import", daemon=True)
    _thread.start()


def _import() -> None:
    # A failed import leaves no module behind: run_dbt's own import raises it, reported.
    with contextlib.suppress(BaseException):
        __import__(_MODULE)


def finish() -> None:
    """Wait for an import :func:`begin` started (before importing dbt on this thread)."""
    if _thread is not None:
        _thread.join()
