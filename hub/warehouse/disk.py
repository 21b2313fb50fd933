"""A full disk, said as such: which path, how much is free there, about how much the step
needs, and that the previous data is kept.

A full disk reaches the hub in many shapes: an ``OSError`` (errno 28) from dlt writing a
load package, DuckDB's "Could not write file ... No space left on device" inside dlt's or
dbt's wrappers, PostgreSQL's ``DiskFull``. dlt writes merge SQL in the system temp folder
and moves it into the package; across file systems the move fails ("Invalid cross-device
link") and the copy that follows fails for want of space, so the innermost exception of the
chain is the *first* failure, not the full disk. :func:`find_disk_full` therefore looks at
the whole chain (causes, contexts, dlt's wrapped exceptions) and at the messages.

Nothing is lost when the disk fills: a DuckDB or PostgreSQL transaction that cannot commit
rolls back (dlt's merge of a table is one transaction: ``DuckDbBackend.dlt_destination``
says DuckDB supports them), and a pull's load packages stay on disk for the next run to
finish.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from models.errors import WarehouseError

FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
FULL_TEXTS = (
    "no space left on device",
    "disk quota exceeded",
    "not enough space on the disk",
    "could not extend file",  # PostgreSQL
    "database or disk is full",
)
_QUOTED_PATH = re.compile(r"""["'](/[^"']+)["']""")


class DiskFull(WarehouseError):
    """A disk the hub writes to is full; free space, then rerun."""


@dataclass(frozen=True)
class FullDisk:
    """What an error says about the full disk: the path it names (None when it names none)."""

    path: Path | None
    text: str


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps: causes, contexts, dlt's and sqlalchemy's."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        for nested in (
            item.__cause__,
            item.__context__,
            getattr(item, "exception", None),  # dlt's PipelineStepFailed and job errors
            getattr(item, "orig", None),  # sqlalchemy
        ):
            if isinstance(nested, BaseException):
                todo.append(nested)


def find_disk_full(exc: BaseException) -> FullDisk | None:
    """The full disk anywhere in ``exc``'s chain, or None when the failure is another."""
    for item in exception_chain(exc):
        if isinstance(item, OSError) and item.errno in FULL_ERRNOS:
            named = item.filename or item.filename2
            return FullDisk(Path(str(named)) if named else None, str(item))
        found = disk_full_in_text(str(item))
        if found:
            return found
    return None


def disk_full_in_text(text: str) -> FullDisk | None:
    """A full disk in a message (DuckDB's, PostgreSQL's, dbt's node messages)."""
    for line in text.splitlines():
        lowered = line.lower()
        if any(marker in lowered for marker in FULL_TEXTS):
            match = _QUOTED_PATH.search(line)
            return FullDisk(Path(match.group(1)) if match else None, line.strip())
    return None


def dir_bytes(paths: Iterable[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            for root, _, files in os.walk(path):
                for name in files:
                    with contextlib.suppress(OSError):  # removed while we walked
                        total += os.lstat(os.path.join(root, name)).st_size
    return total


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mount_point(path: Path) -> Path:
    path = _existing(path)
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 10e9 else f"{n / 1e9:,.1f} GB"


def _fuller(named: Path, fallback: Path) -> Path:
    """An error may quote a path that is not on the full disk (DuckDB's error quotes dlt's
    SQL job, a file under /tmp, while the warehouse file it was writing is elsewhere): of
    the path it names and where the step writes, the one with less free space."""
    try:
        fallback_free = shutil.disk_usage(_existing(fallback)).free
        if fallback_free < shutil.disk_usage(_existing(named)).free:
            return fallback
    except OSError:
        pass
    return named


def disk_full_error(
    found: FullDisk,
    *,
    fallback: Path,
    step: str,
    needed_bytes: int | None,
    need_note: str,
    kept: str,
) -> DiskFull:
    """One line: ``disk full: PATH (FREE free of SIZE on MOUNT); STEP needs about N more ...``.

    ``fallback`` is where the step writes, for errors that name no path; ``need_note``
    says how the estimate was made.
    """
    path = _fuller(found.path, fallback) if found.path else fallback
    try:
        usage = shutil.disk_usage(_existing(path))
        room = f"{mb(usage.free)} free of {mb(usage.total)} on {_mount_point(path)}"
    except OSError:
        room = "free space unknown"
    need = (
        f"; {step} needs about {mb(needed_bytes)} free there ({need_note})"
        if needed_bytes
        else f"; {step} needs more space there"
    )
    return DiskFull(
        f"disk full: {path} ({room}){need}. Free space there (or move the hub folder or "
        f"warehouse), then rerun; {kept}"
    )
