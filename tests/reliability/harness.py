"""Shared plumbing of the reliability suites: one synthetic world over a CSV export and the
three CRM sandboxes (in this process, over real HTTP), a hub.yml that reaches them, the
``hub`` CLI as a real subprocess, and a fingerprint of a warehouse that two runs can be
compared by (row counts, order-independent content checksums, duplicate keys).
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from connectors.sandbox import SandboxServer
from connectors.synthetic import World, WorldSpec
from connectors.synthetic.csv_export import write_csv_source
from hub.generate import csv_source_entry, demo_config
from tests.harness import sandbox_entry, start_sandbox, stop_quietly

ROOT = Path(__file__).resolve().parents[2]
HUB = str(Path(sys.executable).with_name("hub"))
SANDBOX_KINDS = ("hubspot", "pipedrive", "salesforce")
AS_OF = "2026-06-30T00:00:00Z"

# Columns that record *when the hub ran*, not what the CRM holds; two correct runs differ
# in them by design, so the fingerprint leaves them out.
RUN_TIME_COLUMNS = {"_dlt_load_id", "_dlt_id", "seen_at"}

# The merge key of each canonical table (plus the hub's own observations table).
KEYS: dict[str, tuple[str, ...]] = {
    "deals": ("deal_key",),
    "pipelines": ("pipeline_key",),
    "stages": ("stage_key",),
    "stage_changes": ("deal_key", "changed_at", "stage_id"),
    "activities": ("activity_key",),
    "owners": ("owner_key",),
    "stage_observations": ("deal_key", "observed_at", "stage_id"),
}


# ----- the world -----------------------------------------------------------------------------


@dataclass
class Sources:
    """A CSV export plus running sandboxes, and the hub.yml ``sources`` entries for them."""

    folder: Path
    servers: dict[str, SandboxServer]
    entries: list[dict[str, Any]]
    spec: WorldSpec

    def config(self, *, names: list[str] | None = None, **top: Any) -> dict[str, Any]:
        sources = [e for e in self.entries if names is None or e["name"] in names]
        config = demo_config(self.spec, [dict(e) for e in sources])
        config["as_of"] = AS_OF
        config.update(top)
        return config


@contextmanager
def world(
    folder: Path,
    *,
    n_deals: int = 40,
    seed: int = 11,
    kinds: tuple[str, ...] = SANDBOX_KINDS,
    csv: bool = True,
    **sandbox_kwargs: Any,
) -> Iterator[Sources]:
    """``n_deals`` per source: a CSV export (``csv_rel``) and one sandbox per kind."""
    folder.mkdir(parents=True, exist_ok=True)
    n_sources = len(kinds) + 1
    spec = WorldSpec(seed=seed, n_deals=n_deals * n_sources)
    entries: list[dict[str, Any]] = []
    if csv:
        export = write_csv_source(World(spec), folder / "csv", source_index=0, n_sources=n_sources)
        entry = csv_source_entry(export, "csv_rel", folder)
        for table in entry["options"].values():  # absolute: hub folders live elsewhere
            if isinstance(table, dict) and "path" in table:
                table["path"] = str((folder / table["path"]).resolve())
        entries.append(entry)
    servers: dict[str, SandboxServer] = {}
    try:
        for index, kind in enumerate(kinds, start=1):
            servers[kind] = start_sandbox(
                kind,
                n_deals=n_deals,
                seed=seed,
                source_index=index,
                n_sources=n_sources,
                **sandbox_kwargs,
            )
            entries.append(sandbox_entry(servers[kind], f"{kind}_rel"))
        yield Sources(folder, servers, entries, spec)
    finally:
        stop_quietly(servers.values())


# ----- the CLI as a subprocess ---------------------------------------------------------------


def hub_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PYTEST_"))}
    env.update(
        {
            "RUNTIME__LOG_LEVEL": "ERROR",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            "HUB_DBT_THREADS": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class Ran:
    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_hub(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 240
) -> Ran:
    started = time.perf_counter()
    proc = subprocess.run(
        [HUB, *args], cwd=cwd, env=hub_env(env), capture_output=True, text=True, timeout=timeout
    )
    return Ran(list(args), proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - started)


# ----- fingerprints --------------------------------------------------------------------------


@dataclass
class TablePrint:
    rows: int
    checksum: str
    duplicate_keys: int = 0
    float_sums: dict[str, float] = field(default_factory=dict)

    def same_as(self, other: TablePrint) -> bool:
        return (
            (self.rows, self.checksum) == (other.rows, other.checksum)
            and set(self.float_sums) == set(other.float_sums)
            and all(
                math.isclose(v, other.float_sums[k], rel_tol=1e-9, abs_tol=1e-6)
                for k, v in self.float_sums.items()
            )
        )


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return [
        (s, t)
        for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE 'src\\_%' ESCAPE '\\' OR table_schema = 'analytics' "
            "ORDER BY 1, 2"
        ).fetchall()
        if not t.startswith("_dlt") and not s.endswith("_staging")
    ]  # dlt's merge staging


FLOATS = ("DOUBLE", "FLOAT", "REAL")


def fingerprint(
    db_path: Path, *, ignore: set[str] | frozenset[str] = frozenset()
) -> dict[str, TablePrint]:
    """Per table of ``src_*`` and ``analytics``: rows, a content checksum that ignores row
    order and run-time columns, and the number of duplicate merge keys.

    Floating point aggregates differ in their last bits between two builds of the same data
    (DuckDB sums in parallel, in no fixed order), so DOUBLE columns are not in the row
    checksum; their per-column sums are compared with a relative tolerance of 1e-9 instead.
    """
    out: dict[str, TablePrint] = {}
    with duckdb.connect(str(db_path), read_only=True) as con:
        for schema, table in _tables(con):
            typed = dict(
                con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                    "AND table_name = ? ORDER BY column_name",
                    [schema, table],
                ).fetchall()
            )
            kept = [
                c
                for c in typed
                if c not in RUN_TIME_COLUMNS and c not in ignore and f"{table}.{c}" not in ignore
            ]
            exact = [c for c in kept if typed[c] not in FLOATS]
            floats = [c for c in kept if typed[c] in FLOATS]
            # A row's text form, hashed, summed: order independent, sensitive to content
            # and multiplicity.
            row_text = (
                " || '\u241f' || ".join(
                    f"coalesce(CAST(\"{c}\" AS VARCHAR), '\u2400')" for c in exact
                )
                or "''"
            )
            sums = "".join(f', coalesce(sum("{c}"), 0)' for c in floats)
            rows, total, *float_sums = con.execute(
                f"SELECT count(*), coalesce(sum(hash({row_text})::HUGEINT), 0){sums} "
                f'FROM "{schema}"."{table}"'
            ).fetchone()
            dupes = 0
            key = KEYS.get(table)
            if schema.startswith("src_") and key and set(key) <= set(typed):
                cols = ", ".join(key)
                dupes = con.execute(
                    f'SELECT count(*) FROM (SELECT {cols} FROM "{schema}"."{table}" '
                    f"GROUP BY {cols} HAVING count(*) > 1)"
                ).fetchone()[0]
            digest = hashlib.sha256(f"{rows}:{total}".encode()).hexdigest()[:16]
            out[f"{schema}.{table}"] = TablePrint(
                rows, digest, dupes, dict(zip(floats, map(float, float_sums), strict=True))
            )
    return out


def diff_prints(want: dict[str, TablePrint], have: dict[str, TablePrint]) -> list[str]:
    problems = []
    for name in sorted(set(want) | set(have)):
        w, h = want.get(name), have.get(name)
        if w is None or h is None:
            problems.append(f"{name}: {'missing' if h is None else 'unexpected'} table")
        elif not w.same_as(h):
            problems.append(
                f"{name}: {h.rows} rows (checksum {h.checksum}, float sums {h.float_sums}) "
                f"vs clean {w.rows} ({w.checksum}, {w.float_sums})"
            )
    for name, h in sorted(have.items()):
        if h.duplicate_keys:
            problems.append(f"{name}: {h.duplicate_keys} duplicate keys")
    return problems


def table_diff(
    db_a: Path,
    db_b: Path,
    table: str,
    *,
    ignore: set[str] | frozenset[str] = frozenset(),
    limit: int = 3,
) -> str:
    """Rows in one warehouse's table and not the other's (for a readable failure)."""
    schema, name = table.split(".")
    with duckdb.connect(":memory:") as con:
        con.execute(f"ATTACH '{db_a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{db_b}' AS b (READ_ONLY)")
        cols = [
            r[0]
            for r in con.execute(
                f"SELECT column_name FROM information_schema.columns WHERE table_catalog = 'a' "
                f"AND table_schema = '{schema}' AND table_name = '{name}' ORDER BY column_name"
            ).fetchall()
        ]
        kept = ", ".join(f'"{c}"' for c in cols if c not in RUN_TIME_COLUMNS and c not in ignore)
        only_a = con.execute(
            f"SELECT {kept} FROM a.{table} EXCEPT ALL SELECT {kept} FROM b.{table} LIMIT {limit}"
        ).fetchall()
        only_b = con.execute(
            f"SELECT {kept} FROM b.{table} EXCEPT ALL SELECT {kept} FROM a.{table} LIMIT {limit}"
        ).fetchall()
    return f"{table}: only in clean {only_a}; only in rerun {only_b}"
