"""A source's pending dlt load packages before a pull: finish what a killed run left, set
aside what is broken, so no package can stop a source for good.

A run killed after extraction leaves packages whose data the source's saved state already
counts as pulled; :func:`finish_interrupted` loads them (dlt's own ``run()`` would load them
and return without extracting). A package can also be *broken*: two runs that once finished
each other's packages (before ``hub.locks``), or a disk that failed mid-write, can leave a
package folder without its schema, state or job folders, or a ``load/new`` folder whose
extracted package is gone. dlt then fails every pull of the source with
``FileNotFoundError``, ``--full-refresh`` included. :func:`prepare` moves such packages,
with every other pending package of the source, to ``.hub/set-aside/<source>/<time>/``
(moved, never deleted: they can be inspected) and asks for a full re-read, because the
source's cursors already count their data as pulled. An extracted package whose load id is
already normalized (:func:`superseded_copies`) is only moved aside: its data is loaded from
the normalized one. The same happens to packages dlt
declines to finish without an error (:func:`declined_reason`): left pending, they would
make every later pull load nothing and extract nothing, and report success.

After a pull has loaded, :func:`prune_loaded` removes the packages dlt keeps in
``load/loaded`` (all but the newest): they held every pull's load files for good.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dlt

log = logging.getLogger(__name__)

# What dlt writes into every package when it creates it (extract and normalize alike).
PACKAGE_PARTS = (
    "schema.json",
    "load_package_state.json",
    "new_jobs",
    "started_jobs",
    "failed_jobs",
    "completed_jobs",
)
STAGES = {"extracted": "normalize/extracted", "normalized": "load/normalized", "new": "load/new"}
LOADED = "load/loaded"  # where dlt moves a package once loaded (or aborted)
DEDUPLICATED = "x-stage-data-deduplicated"  # dlt's table hint: staged rows have unique keys
TEMP_NAME = re.compile(r"[0-9a-f]{16}")  # dlt's name for a file it is about to rename


@dataclass(frozen=True)
class Pending:
    stage: str  # extracted | normalized | new (a normalize in progress)
    load_id: str
    path: Path


@dataclass
class Recovery:
    finished: int = 0  # packages of an interrupted run, loaded before this run extracts
    set_aside: list[str] = field(default_factory=list)  # "<stage> <load id>: <reason>"
    superseded: list[str] = field(default_factory=list)  # extracted copies already normalized
    folder: Path | None = None

    @property
    def refresh(self) -> bool:
        """Whether the source must be re-read in full (packages it counted were set aside)."""
        return bool(self.set_aside)


def discard_torn_files(pipeline_dir: Path) -> list[Path]:
    """Remove the temporary files a killed run left in a pipeline's folders.

    dlt saves a schema, or a package's state, by writing a temporary file (16 hex
    characters, no extension) in the folder and renaming it into place; a run killed in
    between leaves that file. In ``schemas/`` dlt then lists it as a schema with an invalid
    name and fails every later pull of the source; beside the packages it is litter that
    would stay for good. The file the rename would have replaced still holds the last whole
    version. Call before dlt opens the pipeline."""
    folders = [pipeline_dir / "schemas", *(pipeline_dir / r for r in STAGES.values())]
    torn = [
        path
        for folder in folders
        if folder.is_dir()
        for path in folder.iterdir()
        if path.is_file() and TEMP_NAME.fullmatch(path.name)
    ]
    for path in torn:
        log.warning("removing %s, a file a killed run left half-saved", path)
        path.unlink()
    return torn


def prune_loaded(pipeline_dir: Path, *, keep: int = 1) -> list[str]:
    """Remove the packages dlt has finished with, but the newest ``keep``; returns their ids.

    dlt moves every package it loads to ``load/loaded/<load id>``, load files included
    (parquet, SQL), and never removes it: every pull's data stayed on disk for good. Nothing
    reads them back: a pull's row counts come from dlt's trace, the run history from
    ``hub_meta.hub_runs``, and recovery (:func:`prepare`) works only on the pending stages.
    The newest stays for inspection (dlt's ``dlt pipeline hub_<source> load-package``).
    Folders whose name is not a load id (a timestamp) are left alone.
    """
    folder = pipeline_dir / LOADED
    if not folder.is_dir():
        return []
    times = {path: _load_time(path.name) for path in folder.iterdir() if path.is_dir()}
    loaded = sorted((time, path) for path, time in times.items() if time is not None)
    spent = [path for _, path in loaded[: max(0, len(loaded) - keep)]]
    for package in spent:
        shutil.rmtree(package)
    return [p.name for p in spent]


def _load_time(load_id: str) -> float | None:
    try:
        return float(load_id)
    except ValueError:
        return None


def pending_packages(pipeline_dir: Path) -> list[Pending]:
    found = []
    for stage, relative in STAGES.items():
        folder = pipeline_dir / relative
        if folder.is_dir():
            found += [Pending(stage, p.name, p) for p in sorted(folder.iterdir()) if p.is_dir()]
    return found


def broken_reason(package: Pending, pending: list[Pending]) -> str | None:
    """Why dlt cannot finish ``package``, or None when it looks whole."""
    if package.stage == "new":
        # normalize writes load/new/<id> and renames it; dlt rewrites it from the extracted
        # package on a retry, so it is only an orphan when that package is gone.
        extracted = {p.load_id for p in pending if p.stage == "extracted"}
        return None if package.load_id in extracted else "a normalize that never finished"
    missing = [part for part in PACKAGE_PARTS if not (package.path / part).exists()]
    if missing:
        return "no " + ", ".join(missing)
    for name in ("schema.json", "load_package_state.json"):
        try:
            json.loads((package.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f"unreadable {name}"
    return None


def superseded_copies(pending: list[Pending]) -> list[Pending]:
    """Extracted packages (and half-written ``load/new`` copies) whose load id is already
    normalized.

    dlt's normalize commits a package by renaming ``load/new/<id>`` to
    ``load/normalized/<id>`` and then deletes ``normalize/extracted/<id>``; a run killed
    between the two leaves both. The rename is atomic, so the normalized package is whole
    and the extracted copy is spent; normalizing it again fails every later pull ("Directory
    not empty" on the rename, after writing ``load/new/<id>`` anew), so both are moved
    aside and the normalized one is loaded.
    """
    normalized = {p.load_id for p in pending if p.stage == "normalized"}
    return [p for p in pending if p.stage in ("extracted", "new") and p.load_id in normalized]


def set_aside(pipeline_dir: Path, packages: list[Pending], root: Path) -> Path:
    """Move ``packages`` out of the pipeline, into ``root/<UTC time>/<stage>-<load id>``."""
    folder = root / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    folder.mkdir(parents=True, exist_ok=True)
    for package in packages:
        target = folder / f"{package.stage}-{package.load_id}"
        shutil.move(str(package.path), str(target))
        log.info("set aside load package %s to %s", package.path, target)
    return folder


def finish_interrupted(pipeline: dlt.Pipeline) -> int:
    """Normalize and load what an interrupted run left on disk; returns the packages done.

    Given pending packages, dlt's ``run`` loads them and returns *without* extracting: a
    ``hub pull`` after a crash would then say "ok" and fetch nothing new. Finishing them
    first keeps their data (the source's saved state already counts it as pulled) and lets
    this run's extraction go ahead. dlt's ``normalize`` and ``load`` can also decline
    without an error (see :func:`declined_reason`); what they leave is not counted here.
    """
    extracted = list(pipeline.list_extracted_load_packages())
    if extracted:
        pipeline.normalize()  # the file format was chosen when the package was extracted
    normalized = list(pipeline.list_normalized_load_packages())
    for load_id in normalized:
        deduplicate_staged_rows(Path(pipeline.working_dir) / STAGES["normalized"] / load_id)
    if normalized:
        pipeline.load()
    left = set(pipeline.list_extracted_load_packages()) | set(
        pipeline.list_normalized_load_packages()
    )
    return len((set(extracted) | set(normalized)) - left)


def deduplicate_staged_rows(package: Path) -> list[str]:
    """Let dlt's merge de-duplicate the staged rows of a package it is about to resume;
    returns the tables changed.

    dlt records a load job as done only after the job's rows are committed to the staging
    table (a marker file, then the merge job's file). A run that stops in between (a full
    disk, a kill) leaves the job started, and the next load runs it again: its rows are
    staged twice. A table declared deduplicated (the CSV connector's deals, accounts,
    activities and links, whose ids are unique per file) skips dlt's de-duplication of the
    staging rows, so each of them was inserted twice. A resumed package goes without that
    declaration: its merges keep one row per key, at the cost of dlt's window over the
    staging rows, paid only on recovery."""
    path = package / "schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    changed = [
        name
        for name, table in schema.get("tables", {}).items()
        if table.pop(DEDUPLICATED, None) is not None
    ]
    if changed:
        spare = path.with_name("schema.json.hub-new")  # replaced whole, never half-written
        spare.write_text(json.dumps(schema), encoding="utf-8")
        spare.replace(path)
    return changed


def declined_reason(pipeline: dlt.Pipeline) -> str:
    """Why dlt left a whole package pending, without an error.

    dlt's ``normalize`` and ``load`` return at once when the pipeline's saved state names no
    schema, or when the load folder has no version file. A run killed while dlt wiped the
    pipeline's working folder (dlt does that when the dataset is missing from the
    warehouse) leaves exactly that: the state file or the version file gone, packages still
    there. ``run`` would then load nothing, extract nothing, and report success.
    """
    if not pipeline.default_schema_name:
        return "the pipeline's saved state names no schema, so dlt would not load it"
    return "dlt left it unfinished (its load folder is incomplete)"


def _storage_fault(exc: BaseException, pipeline_dir: Path) -> bool:
    """Whether ``exc`` is dlt tripping over a package file that is not there."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FileNotFoundError | NotADirectoryError):
            name = str(seen.filename or "")
            if name.startswith(str(pipeline_dir)):
                return True
        nested = getattr(seen, "exception", None)
        seen = seen.__cause__ or seen.__context__ or (nested if nested is not seen else None)
    return False


def prepare(pipeline: dlt.Pipeline, set_aside_root: Path, *, full_refresh: bool) -> Recovery:
    """Leave the pipeline with nothing pending: finished, dropped (full refresh) or set aside."""
    pipeline_dir = Path(pipeline.working_dir)
    recovery = Recovery()
    pending = pending_packages(pipeline_dir)
    spent = superseded_copies(pending)
    if spent:
        recovery.folder = set_aside(pipeline_dir, spent, set_aside_root)
        recovery.superseded = [f"{p.stage} {p.load_id}" for p in spent]
        pending = pending_packages(pipeline_dir)
    reasons = {p: broken_reason(p, pending) for p in pending}
    if any(reasons.values()):
        _set_aside_all(pipeline_dir, set_aside_root, recovery, reasons)
        return recovery
    try:
        if full_refresh:
            if pending:
                pipeline.drop_pending_packages()
        else:
            recovery.finished = finish_interrupted(pipeline)
            left = pending_packages(pipeline_dir)
            if left:
                reason = declined_reason(pipeline)
                _set_aside_all(pipeline_dir, set_aside_root, recovery, {p: reason for p in left})
    except Exception as exc:
        if not _storage_fault(exc, pipeline_dir):
            raise
        log.info("a pending load package could not be finished: %s", exc)
        left = pending_packages(pipeline_dir)
        _set_aside_all(
            pipeline_dir, set_aside_root, recovery, {p: "dlt could not read it" for p in left}
        )
    return recovery


def _set_aside_all(
    pipeline_dir: Path, root: Path, recovery: Recovery, reasons: dict[Pending, str | None]
) -> None:
    packages = pending_packages(pipeline_dir)
    if not packages:
        return
    recovery.folder = set_aside(pipeline_dir, packages, root)
    recovery.set_aside = [
        f"{p.stage} {p.load_id}" + (f": {reasons[p]}" if reasons.get(p) else "") for p in packages
    ]
