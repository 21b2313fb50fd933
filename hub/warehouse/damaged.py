"""A DuckDB warehouse file DuckDB can no longer read, said as such: which file, that a cut-short
write most likely damaged it, and how to rebuild it from the sources.

DuckDB rewrites its live metadata block in place at every checkpoint (2.0.1, also 1.5.6: one
256 KiB ``pwrite`` at the same offset each time, before the new header is written). Linux
stops a buffered write that spans several pages when the writer gets SIGKILL, so a kill (an
OOM kill, a CI timeout, ``kill -9``) that lands inside that write leaves the block half old,
half new: its checksum no longer matches and every later open fails with "Corrupt database
file: computed checksum ... does not match stored checksum ... in block at location N"
(docs/warehouses.md, "Crash safety"). Nothing in the file can be trusted then; the sources
still hold what the pulls loaded, so a full-refresh sync rebuilds it.
"""

from __future__ import annotations

import re
from pathlib import Path

from hub.warehouse.disk import exception_chain
from models.config import HubConfig
from models.errors import WarehouseError

# What DuckDB says when a block's checksum or its metadata does not hold together. The
# checksum message is the one a torn write gives; "corrupt database file" also ends other
# messages of its storage layer (e.g. "Bitpacking offset is out of range ... - corrupt
# database file").
DAMAGE_TEXTS = ("corrupt database file",)
_DRIVER_PREFIX = re.compile(r"^\([\w.]+\)\s*")  # sqlalchemy's "(_duckdb.Error) "


class DamagedWarehouse(WarehouseError):
    """The DuckDB file cannot be read; move it aside and rebuild it with a full refresh."""


def find_damage(exc: BaseException) -> str | None:
    """DuckDB's first line about a damaged file anywhere in ``exc``'s chain, else None."""
    for item in exception_chain(exc):
        found = damage_in_text(str(item))
        if found:
            return found
    return None


def damage_in_text(text: str) -> str | None:
    """The line of ``text`` (an error, a dbt node's message) that says the file is damaged."""
    for line in text.splitlines():
        if any(marker in line.lower() for marker in DAMAGE_TEXTS):
            return _DRIVER_PREFIX.sub("", line.strip())
    return None


def damaged_error(path: Path | None, detail: str) -> DamagedWarehouse:
    """The error for a damaged warehouse file (``path`` None: the file is not known here)."""
    name = str(path) if path is not None else "the DuckDB warehouse file (warehouse.path)"
    aside = f"mv {path} {path}.damaged" if path is not None else "rename it"
    wal = f"; move {path}.wal too if there is one" if path is not None else ""
    return DamagedWarehouse(
        f"{name} is damaged: DuckDB cannot read it ({detail[:300]}). A write to it was most "
        "likely cut short (a killed run, a crash, a full disk). To rebuild it from the "
        f"sources, move it aside ({aside}{wal}) and run 'hub sync --full-refresh'. "
        "Lost with it is what only the warehouse kept: stage moves the hub observed between "
        "pulls (stage_observations) that a source's own history does not hold, the run log "
        "('hub status') and the push journal."
    )


def warehouse_file(config: HubConfig) -> Path | None:
    """The DuckDB file of ``config``'s warehouse (None for other kinds)."""
    if config.warehouse.kind != "duckdb":
        return None
    return config.resolve_path(config.warehouse.path)
