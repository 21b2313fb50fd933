"""One dbt parse for every hub folder of the same project in one process.

A hub folder's saved parse (:mod:`hub.dbt_parse`) is checked by dbt against the connection,
DuckDB's file path included, so a second folder of the same project parses in full although
its parse would come out the same: of the path, dbt-duckdb reads only the file's stem, its
database name, which is in every relation name. A process that builds several folders (the
test suite; a process syncing many folders) hands the second folder the first one's parse:
the first run of a project in this process offers its saved parse (:func:`offer`, free); a
folder with no valid saved parse of its own then loads that one under the connection it was
saved for (~0.4 s instead of a full parse, ~5 CPU-s) and runs dbt with it
(``dbtRunner(manifest=...)``); the parse is then kept in memory for the next folders. The key
(:func:`shared_key`) is the saved parse's key with the DuckDB file's folder left out; the
database name (DuckDB's stem, PostgreSQL's database) stays in it. A process that builds one
folder pays nothing: it never loads another folder's parse.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.dbt_parse import KEY_FILE, SAVED_PARSE, parse_key

KEEP_IN_MEMORY = 3  # parses kept, the most recently used (tens of MB each)


@dataclass(frozen=True)
class Donor:
    """A folder's saved parse in this process: where it is, its key, the connection that
    dbt checks it against."""

    target: Path
    key: str
    env: dict[str, str]

    def valid(self) -> bool:
        key_file = self.target / KEY_FILE
        return (self.target / SAVED_PARSE).is_file() and (
            key_file.is_file() and key_file.read_text(encoding="utf-8") == self.key
        )


_DONORS: dict[str, Donor] = {}
_PARSES: OrderedDict[str, Any] = OrderedDict()  # shared key -> a Manifest no run has used


def shared_key(
    project: Path, profiles_dir: Path, dbt_env: dict[str, str], static_vars: dict[str, Any]
) -> str:
    """:func:`hub.dbt_parse.parse_key` with the DuckDB file's folder left out (its stem kept)."""
    env = dict(dbt_env)
    path = env.pop("HUB_DUCKDB_PATH", None)
    if path is not None:
        env["HUB_DUCKDB_DATABASE"] = Path(path).stem
    return parse_key(project, profiles_dir, env, static_vars)


def offer(shared: str, target: Path, key: str, dbt_env: dict[str, str]) -> None:
    """After a dbt run that used its folder's own saved parse (made or reused): offer it to
    the other folders of ``shared``."""
    _DONORS.setdefault(shared, Donor(target, key, dict(dbt_env)))


def manifest_for(shared: str, target: Path, common_args: list[str]) -> Any | None:
    """A copy of the parse for ``shared`` for a folder whose target ``target`` has no valid
    saved parse: kept in memory, or loaded from another folder's saved parse (then kept);
    None when there is none (dbt then parses as usual). ``common_args``: dbt's arguments
    other than the command (this folder's target and log paths, vars, parse flags)."""
    if shared not in _PARSES:
        donor = _DONORS.get(shared)
        if donor is None or not donor.valid():
            _DONORS.pop(shared, None)
            return None
        manifest = _load(donor, target, common_args)
        if manifest is None:
            return None
        _PARSES[shared] = manifest
        while len(_PARSES) > KEEP_IN_MEMORY:
            _PARSES.popitem(last=False)
    _PARSES.move_to_end(shared)
    return _copy(_PARSES[shared])


def _load(donor: Donor, target: Path, common_args: list[str]) -> Any | None:
    """The donor's saved parse, loaded by ``dbt parse`` in this folder's target under the
    donor's connection (what dbt checks it against), then removed from this target: it was
    not made under this folder's connection."""
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    from hub.transform import temporary_environ

    try:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(donor.target / SAVED_PARSE, target / SAVED_PARSE)
    except OSError:  # e.g. a full disk: dbt parses as usual, and says what is wrong
        with contextlib.suppress(OSError):
            (target / SAVED_PARSE).unlink(missing_ok=True)
        return None
    try:
        with temporary_environ(donor.env):
            outcome = dbtRunner().invoke(["parse", *common_args])  # --no-write-json in them
    finally:
        (target / SAVED_PARSE).unlink(missing_ok=True)
    return outcome.result if isinstance(outcome.result, Manifest) else None


def _copy(manifest: Any) -> Any:
    """A deep copy of a dbt Manifest's data fields (dbt writes compiled SQL into the one it
    runs); its private lookups and caches start empty and are rebuilt on first use.
    (``copy.deepcopy`` goes through dbt 1.11's ``Manifest.__reduce_ex__``, whose positional
    arguments lag behind its fields.)"""
    public = [f.name for f in dataclasses.fields(manifest) if not f.name.startswith("_")]
    data = copy.deepcopy({name: getattr(manifest, name) for name in public})
    return type(manifest)(**data)


def forget() -> None:
    """Forget every offered and kept parse (as a new process starts)."""
    _DONORS.clear()
    _PARSES.clear()
