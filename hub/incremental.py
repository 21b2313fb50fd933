"""Whether a transform may rebuild only the deals that changed, or must rebuild everything.

Incremental is the default. A full rebuild happens when asked (``--full-refresh``, or a
``--select`` run), when there is no record of a complete previous build to build on (the
first transform, a failed or killed one, another warehouse than DuckDB or PostgreSQL), or
when the build's fingerprint changed. The fingerprint covers what every per-deal row depends
on besides the deal's own data: the dbt project's files and dbt's version, the dbt vars
other than ``as_of`` (sources, dimensions, ...), hub.yml's canonical stages and stage map as
written to ``hub_meta``, and the columns of the source tables. FX rates, quotas and account
resolution are read only by models rebuilt on every run, so they need no fingerprint.

The state (fingerprint and ``as_of`` of the last complete build) lives in
``hub_meta.hub_incremental_state``; it is removed when a build starts and written back only
when it ends complete, so a build that fails or is killed leaves none and the next is full.
Which deals change: :mod:`hub.warehouse.changes`.

On an incremental build whose previous complete build passed every data test, the tests of
the per-deal models read only the changed deals' rows (``BuildPlan.test_changed_only``, macro
``get_where_subquery``): every other row is the one those tests passed on. The tests of the
staging views over source tables that hold the rows they held then read none
(``BuildPlan.unchanged_tables``, :mod:`hub.warehouse.source_digests`).

When nothing dbt reads changed at all (every source table and hub_meta table dbt reads has
the same rows, and the fingerprint and ``as_of`` are the same), the marts are already what a
build would give: dbt is not run (``BuildPlan.skip``), the run is recorded ``unchanged``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hub.dbt_parse import project_files
from hub.warehouse import appended_rows, changes, deal_rows, row_versions, source_digests
from hub.warehouse.builds import last_build
from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import column_types, row_hash

if TYPE_CHECKING:
    from hub.warehouse import Warehouse

STATE = f"{HUB_SCHEMA}.hub_incremental_state"
FORMAT = "4"  # bump when the snapshot or the per-deal models' contract changes
_CONFIG_TABLES = ("hub_canonical_stages", "hub_stage_map", "hub_sources")
_SOURCE_TABLES = ("deals", "stage_changes", "stage_observations", "activities", "_dlt_loads")
# hub_meta tables dbt reads (staging/_hub__sources.yml), besides hub_changed_deals
_READ_BY_DBT = (
    *_CONFIG_TABLES,
    "hub_fx_rates",
    "hub_quotas",
    "hub_account_resolution",
    "hub_deal_duplicates",
)


@dataclass(frozen=True)
class BuildPlan:
    full: bool
    reason: str  # why full, or what is rebuilt
    fingerprint: str
    changed_deals: int | None = None
    skip: bool = False  # nothing dbt reads changed: the marts are current
    content: str = ""  # digest of everything dbt reads, with the fingerprint and as_of
    # Incremental, and the last complete build's data tests all passed: the rows the
    # per-deal models keep were tested then, so their tests read only the changed deals.
    test_changed_only: bool = False
    shared: str = ""  # digest of the tables many deals' int_deal_facts rows read
    # per part of the per-deal snapshot, the digest of the tables it reads (changes)
    inputs: dict[str, str] = field(default_factory=dict)
    changed_deal_rows: int | None = None  # deals rebuilt in int_deal_facts (deal_rows)
    # per source table name, the digest of every source's table of it; per hub_meta table
    # dbt reads, its own (source_digests)
    tables: dict[str, str] = field(default_factory=dict)
    # with test_changed_only: the source table names whose rows are the last build's
    unchanged_tables: tuple[str, ...] = ()
    # PostgreSQL: each source table's rows per xmin when planned, kept with the snapshot
    # (:mod:`hub.warehouse.deal_versions`; no older than the snapshot: nothing in a transform
    # writes a source table, and counts taken earlier only make more deals candidates)
    versions: dict[str, dict[str, int]] = field(default_factory=dict)
    # DuckDB: the per-deal source tables' states when planned, kept with the snapshot
    # (:mod:`hub.warehouse.appended_rows`; read in the same scan as the sums)
    appends: dict[str, appended_rows.Now] = field(default_factory=dict)


def fingerprint(conn: sa.Connection, project: Path, variables: dict[str, Any]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:  # the distribution's metadata: importing dbt.version costs seconds
        dbt_version = version("dbt-core")
    except PackageNotFoundError:  # pragma: no cover - dbt is a dependency
        dbt_version = "unknown"
    digest = hashlib.sha256()

    def feed(*parts: object) -> None:
        digest.update(json.dumps(parts, default=str, sort_keys=True).encode())
        digest.update(b"\0")

    feed(FORMAT, dbt_version, conn.dialect.name)
    feed({k: v for k, v in variables.items() if k != "as_of"})
    for path in project_files(project):
        feed(str(path.relative_to(project)))
        digest.update(path.read_bytes())
    for table in _CONFIG_TABLES:
        if has_table(conn, HUB_SCHEMA, table):
            rows = conn.execute(sa.text(f"SELECT * FROM {HUB_SCHEMA}.{table}")).all()
            feed(table, sorted(repr(tuple(row)) for row in rows))
    schemas = [f"src_{name}" for name in variables.get("sources", [])]
    if schemas:
        columns: Sequence[Any] = conn.execute(
            sa.select(
                sa.column("table_schema"),
                sa.column("table_name"),
                sa.column("column_name"),
                sa.column("data_type"),
            )
            .select_from(sa.table("columns", schema="information_schema"))
            .where(
                sa.column("table_schema").in_(schemas),
                sa.column("table_name").in_(_SOURCE_TABLES),
            )
        ).all()
        feed(sorted(repr(tuple(row)) for row in columns))
    return digest.hexdigest()


def table_sums(
    conn: sa.Connection,
    sources: list[str],
    hub_tables: tuple[str, ...] = (),
    *,
    only: tuple[str, ...] | None = None,
    counts_out: row_versions.Counts | None = None,
    appends_out: dict[str, appended_rows.Now] | None = None,
) -> list[tuple[str, int, str]]:
    """Row count and sum of row hashes of every table of the sources but dlt's own and the
    hub's (``_hub*``: connector state no model reads, e.g. the CSV row hashes, a row per
    source row) (or only the tables named in ``only``), and of the given hub_meta tables: equal sums, equal rows
    (up to a 64-bit hash collision). On PostgreSQL a source table's sum is kept while its
    row versions stay the same (:mod:`hub.warehouse.row_versions`; ``counts_out`` receives
    each source table's rows per ``xmin``). On DuckDB ``appends_out`` receives the per-deal
    tables' states, read in the same scan (:mod:`hub.warehouse.appended_rows`)."""
    tables = [(HUB_SCHEMA, t) for t in hub_tables if has_table(conn, HUB_SCHEMA, t)]
    inspector = sa.inspect(conn)
    for name in sources:
        schema = f"src_{name}"  # no table when the source has never loaded
        names = inspector.get_table_names(schema=schema)
        tables += [
            (schema, t)
            for t in names
            if not t.startswith(("_dlt", "_hub")) and (only is None or t in only)
        ]
    types = column_types(conn, tables)
    by_version = [t for t in tables if conn.dialect.name == "postgresql" and t[0] != HUB_SCHEMA]
    hashed = [t for t in tables if t not in by_version]
    marked: set[tuple[str, str]] = set()  # DuckDB: states for the per-deal snapshot too
    before: dict[str, appended_rows.State] = {}
    if appends_out is not None and conn.dialect.name == "duckdb":
        marked = {t for t in hashed if t[0] != HUB_SCHEMA and t[1] in changes.VERSIONED}
        before = appended_rows.kept(conn) if marked else {}
    parts = [
        appended_rows.select(schema, table, types[(schema, table)], before)
        if (schema, table) in marked
        else f"SELECT '{schema}.{table}' AS name, count(*) AS n, "
        f"sum({row_hash(conn.dialect.name, table, types[(schema, table)], 't')}) AS h"
        f"{', NULL, NULL, NULL' if marked else ''} FROM {schema}.{table} AS t"
        for schema, table in sorted(hashed)
    ]
    sums = conn.execute(sa.text(" UNION ALL ".join(parts))).all() if parts else []
    out = [(r[0], int(r[1]), str(r[2])) for r in sums]
    if appends_out is not None and marked:
        for row in sums:
            if tuple(str(row[0]).rsplit(".", 1)) in marked:
                appends_out[str(row[0])] = appended_rows.judge(tuple(row), types, before)
    out += row_versions.table_sums(conn, by_version, types, counts_out)
    return sorted(out)


def content_digest(
    conn: sa.Connection,
    variables: dict[str, Any],
    print_: str,
    as_of: datetime,
    counts_out: row_versions.Counts | None = None,
    appends_out: dict[str, appended_rows.Now] | None = None,
) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """What dbt reads (the sources' tables, hub_meta's), with the fingerprint and as_of; of
    those, the tables many deals' rows of int_deal_facts read (:mod:`deal_rows`); per part
    of the per-deal snapshot, the tables it reads (:func:`changes.part_digests`); and per
    source table name, every source's table of it (:func:`source_digests.digests`). On
    PostgreSQL ``counts_out`` receives the source tables' rows per ``xmin``, on DuckDB
    ``appends_out`` the per-deal tables' states (:mod:`hub.warehouse.appended_rows`)."""
    sources = list(variables.get("sources", []))
    sums = table_sums(conn, sources, _READ_BY_DBT, counts_out=counts_out, appends_out=appends_out)
    shared = [
        row
        for row in sums
        if row[0].rsplit(".", 1)[-1]
        in (*deal_rows.SHARED_SOURCE_TABLES, *deal_rows.SHARED_HUB_TABLES)
    ]
    return (
        hashlib.sha256(repr([print_, as_of.isoformat(), sums]).encode()).hexdigest(),
        hashlib.sha256(repr(shared).encode()).hexdigest(),
        changes.part_digests(conn, sources, sums),
        source_digests.digests(conn, sums),
    )


def _state(conn: sa.Connection) -> tuple[str, datetime, str] | None:
    if not has_table(conn, HUB_SCHEMA, "hub_incremental_state"):
        return None
    row = conn.execute(sa.text(f"SELECT fingerprint, as_of, content FROM {STATE}")).first()
    return (row[0], datetime.fromisoformat(row[1]), row[2]) if row else None


def _clear_state(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            f"CREATE TABLE IF NOT EXISTS {STATE} "
            "(fingerprint varchar, as_of varchar, content varchar)"
        )
    )
    conn.execute(sa.text(f"DELETE FROM {STATE}"))


def plan_build(
    conn: sa.Connection,
    project: Path,
    variables: dict[str, Any],
    as_of: datetime,
    *,
    force_full: str | None = None,
    on_build: Callable[[], None] | None = None,
) -> BuildPlan:
    """Decide full or incremental; for incremental, write ``hub_changed_deals``. Removes the
    recorded state either way (:func:`record_complete` writes it back). ``on_build`` is
    called as soon as it is known that dbt will run (before the changed-deal lists)."""
    print_ = fingerprint(conn, project, variables)
    state = _state(conn)
    build = last_build(conn)
    reason = force_full
    if reason is None and conn.dialect.name not in changes.SUPPORTED_DIALECTS:
        reason = f"incremental transforms are not supported on {conn.dialect.name}"
    elif reason is None and (state is None or build is None or not build.complete):
        reason = "no complete previous build to build on"
    elif reason is None and state is not None and state[0] != print_:
        reason = "the dbt project, hub.yml's stages or stage map, or the sources changed"
    elif reason is None and not (changes.has_snapshot(conn) and changes.inputs_ready(conn)):
        reason = "no snapshot of the previous build's inputs"
    supported = conn.dialect.name in changes.SUPPORTED_DIALECTS
    versions: row_versions.Counts = {}  # PostgreSQL: the snapshot reads only new rows' deals
    appends: dict[str, appended_rows.Now] = {}  # DuckDB: the same, for rows appended
    content, shared, inputs, tables = (
        content_digest(conn, variables, print_, as_of, versions, appends)
        if supported
        else ("", "", {}, {})
    )
    if reason is None and state is not None and state[2] == content:
        return BuildPlan(
            full=False,
            reason="nothing changed since the last transform (data, hub.yml, as_of)",
            fingerprint=print_,
            changed_deals=0,
            skip=True,
            content=content,
            shared=shared,
            inputs=inputs,
            tables=tables,
            versions=versions,
            appends=appends,
        )
    if on_build is not None:
        on_build()
    _clear_state(conn)
    if reason is not None:
        return BuildPlan(
            full=True,
            reason=reason,
            fingerprint=print_,
            content=content,
            shared=shared,
            inputs=inputs,
            tables=tables,
            versions=versions,
            appends=appends,
        )
    assert state is not None
    read = changes.to_read(conn, inputs)
    window = changes.as_of_window(state[1], as_of)
    n, _ = changes.take_and_compare(conn, read, window, versions or None, appends=appends)
    rows = deal_rows.write_changed(conn, shared)
    tested_before = build is not None and build.status == "ok"
    return BuildPlan(
        full=False,
        reason=f"{n:,} deal(s) changed",
        fingerprint=print_,
        changed_deals=n,
        content=content,
        test_changed_only=tested_before,
        shared=shared,
        changed_deal_rows=rows,
        inputs=inputs,
        tables=tables,
        versions=versions,
        appends=appends,
        unchanged_tables=tuple(source_digests.unchanged(conn, tables)) if tested_before else (),
    )


def _snapshot_full(conn: sa.Connection, plan: BuildPlan) -> None:
    """After a full build: every deal's inputs, and every deal's ``stg_deals`` row hash."""
    versions = plan.versions or None  # counted when planned: not again
    changes.snapshot_inputs(
        conn, conn.dialect.name, changes.PARTS, versions=versions, appends=plan.appends
    )


class SnapshotAlongside:
    """A full build's snapshot of every deal's inputs, taken on a connection of its own while
    the hub goes on with the deal scores, on PostgreSQL.

    After a full build the snapshot reads every staging row (seconds at a million deals), and
    the score then spends as long in Python; on PostgreSQL the snapshot is the server's work,
    so the two overlap on two cores instead of adding up. Nothing the score writes is read by
    the snapshot (it reads the staging views over the source tables, and the warehouse lock
    keeps every other writer out). DuckDB's file takes one writer at a time, so there the
    snapshot waits for :func:`record_complete`, as it does on any other plan."""

    def __init__(self, warehouse: Warehouse, plan: BuildPlan) -> None:
        self._warehouse = warehouse
        self._plan = plan
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if plan.full and warehouse.kind == "postgres":
            self._thread = threading.Thread(target=self._take, name="hub-snapshot", daemon=True)
            self._thread.start()

    def _take(self) -> None:
        try:
            with self._warehouse.connect() as conn:
                _snapshot_full(conn, self._plan)
        except BaseException as exc:  # noqa: BLE001 - record_complete takes it again
            self._error = exc

    def taken(self) -> bool:
        """Wait for it; False when it was not taken here (not started, or it failed)."""
        if self._thread is None:
            return False
        self._thread.join()
        return self._error is None


def record_complete(
    conn: sa.Connection, plan: BuildPlan, as_of: datetime, *, snapshot_taken: bool = False
) -> None:
    """The build ended complete: keep its input snapshot and state for the next run. A full
    build takes its snapshot now, unless ``snapshot_taken`` (:class:`SnapshotAlongside`)."""
    if conn.dialect.name not in changes.SUPPORTED_DIALECTS:
        return
    if plan.full and not snapshot_taken:
        _snapshot_full(conn, plan)
    changes.keep_snapshot(conn, plan.inputs)
    deal_rows.keep(conn, plan.shared)
    source_digests.keep(conn, plan.tables)
    _clear_state(conn)
    conn.execute(
        sa.text(f"INSERT INTO {STATE} (fingerprint, as_of, content) VALUES (:f, :a, :c)"),
        {"f": plan.fingerprint, "a": as_of.isoformat(), "c": plan.content},
    )
