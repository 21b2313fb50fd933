"""Which deals an incremental transform rebuilds: a per-deal snapshot of the inputs of the
per-deal dbt models, compared with the one taken at the last complete transform.

The per-deal models (``int_deal_created``, ``int_stage_events_unioned``, ``int_deal_spells``,
``int_deal_activity_stats``; macro ``hub_incremental``) read, per deal, its ``deals`` row,
its ``stage_changes``, ``stage_observations``, activities and load instants. For every deal
and each of those inputs (a *part*) this module keeps how many rows there are and the sum of
a hash of each (the columns those models read), a pair of columns per part in
``hub_meta.hub_deal_inputs``. A deal is rebuilt when one of its parts differs (a new, edited
or re-dated row, a removed row, a deal gone), whatever wrote the change: dlt's merge, a
connector's after-load SQL, a CSV full-snapshot mark, the hub's observations.
Comparing content rather than dlt load ids also covers the CSV connector, whose Arrow loads
carry no ``_dlt_load_id``, and the rows those steps update or delete in place.

A part is a function of its source tables alone (each source's table of that name; the load
instants also read ``_dlt_loads``): the staging SQL, the sources and their columns are in the
build's fingerprint, and a change there rebuilds everything. So a part whose tables have the
same row counts and sums of row hashes as when its kept snapshot was taken (the *digest* of a
part, from the sums the transform computes anyway to decide whether anything changed) has
the same per-deal snapshot: it is not read, its columns are carried over from the kept
snapshot. An hourly sync that brought stage history but no activities reads no activity
(five rows a deal at the bench's sizes). The parts read are grouped by deal in one query,
which also joins the kept snapshot and flags each deal that differs: one pass.

The per-deal models compare a deal's own instants with ``as_of`` (an event counts once it is
at or before ``as_of``) and nothing else there depends on it, so a deal's rows can change
between two builds only when ``as_of`` crosses one of its instants: a deal with an instant
between the last build's ``as_of`` and this one (plus a second: ``first_seen`` is truncated
to the second) is rebuilt too, whichever parts were read. What moves continuously with
``as_of`` (days in a stage) is computed on every run outside these models.

On PostgreSQL a part read because its tables changed is read only for the deals owning a row
written since the kept snapshot (:mod:`hub.warehouse.deal_versions`), the other deals keeping
their kept values, unless a deal lost a row and gained none: then it is read whole. A few
candidates' rows are fetched through an index on ``deal_key`` (:mod:`hub.warehouse.deal_indexes`).
On DuckDB, which marks no row with its write, such a part is read only for the deals owning a
row appended since, when every table it reads only grew (:mod:`hub.warehouse.appended_rows`:
the rows up to the kept highest ``rowid`` have the kept count and sum of row hashes);
otherwise whole.

The deals part also keeps each deal's hash of its whole ``stg_deals`` row and its account,
which :mod:`hub.warehouse.deal_rows` compares: one pass over ``stg_deals`` for both.

DuckDB and PostgreSQL only; other warehouses always rebuild in full.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from hub.warehouse import appended_rows, deal_indexes, deal_versions
from hub.warehouse.meta import HUB_SCHEMA, has_table
from hub.warehouse.row_hash import column_types, row_hash
from hub.warehouse.row_versions import Counts

STAGING = "hub_staging"  # dbt_project.yml's +schema of staging
CHANGED = f"{HUB_SCHEMA}.hub_changed_deals"
DIGESTS = f"{HUB_SCHEMA}.hub_deal_inputs_digests"
# deal_rows' own snapshot in earlier versions, dropped when a new snapshot is kept
_LEGACY = ("hub_deal_rows", "hub_deal_rows_next")
SUPPORTED_DIALECTS = ("duckdb", "postgresql")
# PostgreSQL's memory for grouping the snapshot by deal (its default, 4 MB, spilled the groups
# of 300,000 deals to disk: 2.15 -> 1.65 server CPU-s with this).
SNAPSHOT_WORK_MEM = "256MB"


INPUTS = f"{HUB_SCHEMA}.hub_deal_inputs"
NEXT_INPUTS = f"{HUB_SCHEMA}.hub_deal_inputs_next"


@dataclass(frozen=True)
class Part:
    """One input of the per-deal models: a staging view, the columns those models read of it
    (a column they start to read must be added here), the instants they compare with
    ``as_of``, a filter, and the source tables the view reads. Its columns in the snapshot:
    ``n_<name>`` (rows) and ``h_<name>`` (sum of their hashes, 0 for none)."""

    name: str
    view: str
    columns: tuple[str, ...]
    instants: tuple[str, ...]
    where: str
    tables: tuple[str, ...]


DEALS = Part(
    "deals",
    "stg_deals",
    ("source_name", "pipeline_id", "stage_id", "status", "created_at", "closed_at",
     "updated_at", "stage_changed_at"),
    ("created_at", "closed_at", "updated_at", "stage_changed_at"),
    "",
    ("deals",),
)  # fmt: skip
PARTS: tuple[Part, ...] = (
    DEALS,
    Part(
        "stage_changes",
        "stg_stage_changes",
        ("changed_at", "stage_id", "from_stage_id", "pipeline_id", "origin"),
        ("changed_at",),
        "",
        ("stage_changes",),
    ),
    Part(
        "stage_observations",
        "stg_stage_observations",
        ("observed_at", "pipeline_id", "stage_id"),
        ("observed_at",),
        "",
        ("stage_observations",),
    ),
    Part(
        "activities",
        "stg_activities",
        ("occurred_at", "is_deleted", "owner_id", "activity_type"),
        ("occurred_at",),
        "deal_key IS NOT NULL",
        ("activities",),
    ),
    Part("deal_loads", "stg_deal_loads", ("loaded_at",), ("loaded_at",), "", ("deals", "_dlt_loads")),
)  # fmt: skip


def inputs_ready(conn: sa.Connection) -> bool:
    """The staging views the snapshot reads exist (a transform built them before)."""
    return all(has_table(conn, STAGING, part.view) for part in PARTS) or all(
        part.view in sa.inspect(conn).get_view_names(schema=STAGING) for part in PARTS
    )


def part_digests(
    conn: sa.Connection, sources: Iterable[str], sums: Iterable[tuple[str, int, str]]
) -> dict[str, str]:
    """Per part, a digest of its definition and of the row count and sum of row hashes of
    every table it reads (``sums``: the transform's, ``schema.table``; each source's
    ``_dlt_loads``, not among them, is summed here: a row per load)."""
    by_table: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for name, n, h in sums:
        schema, table = name.rsplit(".", 1)
        if schema.startswith("src_"):
            by_table[table].append((name, n, h))
    dialect = conn.dialect.name
    loads = [
        (f"src_{s}", "_dlt_loads")
        for s in sorted(set(sources))
        if has_table(conn, f"src_{s}", "_dlt_loads")
    ]
    types = column_types(conn, loads)
    for schema, table in loads:
        hashed = row_hash(dialect, table, types[(schema, table)], "t")
        row = conn.execute(
            sa.text(f"SELECT count(*), sum({hashed}) FROM {schema}.{table} AS t")
        ).one()
        by_table[table].append((f"{schema}.{table}", int(row[0]), str(row[1])))
    out = {}
    for part in PARTS:
        state = [part, [sorted(by_table.get(t, [])) for t in part.tables]]
        out[part.name] = hashlib.sha256(repr(state).encode()).hexdigest()
    return out


def kept_digests(conn: sa.Connection) -> dict[str, str]:
    """The digest of each part of the kept snapshot (none before the first one)."""
    if not (has_table(conn, HUB_SCHEMA, "hub_deal_inputs_digests") and has_snapshot(conn)):
        return {}
    rows = conn.execute(sa.text(f"SELECT part, digest FROM {DIGESTS}")).tuples()
    return {str(part): str(digest) for part, digest in rows}


def has_snapshot(conn: sa.Connection) -> bool:
    if not has_table(conn, HUB_SCHEMA, "hub_deal_inputs"):
        return False
    (columns,) = column_types(conn, [(HUB_SCHEMA, "hub_deal_inputs")]).values()
    names = {name for name, _ in columns}
    return {f"h_{p.name}" for p in PARTS} | {"row_sum"} <= names  # not an earlier layout


def to_read(conn: sa.Connection, digests: Mapping[str, str]) -> list[Part]:
    """The parts whose tables changed since the kept snapshot (all of them without one)."""
    kept = kept_digests(conn)
    return [p for p in PARTS if kept.get(p.name) is None or kept[p.name] != digests.get(p.name)]


def snapshot_inputs(
    conn: sa.Connection,
    dialect: str,
    read: Iterable[Part],
    window: tuple[datetime, datetime] | None = None,
    *,
    compare: bool = False,
    versions: Counts | None = None,
    by_key_share: int | None = None,
    appends: Mapping[str, appended_rows.Now] | None = None,
    sources: Iterable[str] | None = None,
) -> list[Part]:
    """Write ``hub_deal_inputs_next``: per deal, ``n_<part>`` and ``h_<part>`` of every part
    (read now for the parts in ``read``, carried over from the kept snapshot for the others),
    the hash of its whole ``stg_deals`` row (``row_sum``) and its ``account_key``; with
    ``compare``, flags against the kept snapshot: ``changed`` (a part read differs, or an
    instant in ``window``, open at both ends) and ``row_changed`` (its ``stg_deals`` row).

    On PostgreSQL, with ``compare``, a part of one deal-keyed table is read only for the deals
    owning a row written since the kept snapshot (:mod:`hub.warehouse.deal_versions`; whole
    when a deal lost a row); ``versions`` are the source tables' rows per ``xmin`` now (read
    here when not given), kept with the snapshot. On DuckDB such a part is read only for the
    deals owning a row appended since, when its tables only grew
    (:mod:`hub.warehouse.appended_rows`): ``appends`` are the tables' states now (read here
    for the ``sources`` when not given; neither: nothing narrowed, no states kept), kept
    with the snapshot. Returns the parts read whole: the others' instants in ``window`` are
    :func:`write_changed`'s to find."""
    read = [p for p in PARTS if p in set(read)]
    now: Counts | None = None
    narrowed: list[Part] = []
    by_key: set[str] = set()  # narrowed parts whose candidates' rows are fetched by index
    candidates = False  # temporary candidate tables were written
    if dialect == "postgresql":
        now = versions if versions is not None else deal_versions.current(conn, VERSIONED)
        now = {t: c for t, c in now.items() if t.rsplit(".", 1)[-1] in VERSIONED}
        kept_counts = deal_versions.kept(conn) if compare else None
        if kept_counts is not None:
            candidates = True
            narrowed = [p for p in read if len(p.tables) == 1 and p.tables[0] in VERSIONED]
            if narrowed:
                deal_indexes.ensure(conn, {t.rsplit(".", 1)[0] for t in now})
            for part in narrowed:
                found = _write_candidates(conn, part, kept_counts, now)
                rows = sum(
                    sum(c.values()) for t, c in now.items() if t.rsplit(".", 1)[-1] in part.tables
                )
                if found * (BY_KEY_SHARE if by_key_share is None else by_key_share) <= rows:
                    by_key.add(part.name)
    elif dialect == "duckdb" and (appends is not None or sources is not None):
        before = appended_rows.kept(conn) if compare else {}
        if appends is None:
            tables = appended_rows.source_tables(conn, sources or (), VERSIONED)
            appends = appended_rows.current(conn, tables, before)
        now = {t: {"": a.state.rows} for t, a in appends.items()}
        if compare:
            candidates = True
            narrowed = _narrow_appended(conn, read, appends, before)
    _write_snapshot(conn, dialect, read, narrowed, window, compare=compare, by_key=by_key)
    missed = _totals_missed(conn, narrowed, now or {})
    if missed:  # a deal lost a row and gained none: those parts are read whole
        narrowed = [p for p in narrowed if p not in missed]
        _write_snapshot(conn, dialect, read, narrowed, window, compare=compare, by_key=by_key)
    for part in PARTS:
        if candidates and part in read:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {_candidates(part, dialect)}"))
    if dialect == "postgresql" and now is not None:
        deal_versions.write_next(conn, now)
    if dialect == "duckdb":
        appended_rows.write_next(conn, appends if now is not None else None)
    return [p for p in read if p not in narrowed]


def _narrow_appended(
    conn: sa.Connection,
    read: list[Part],
    appends: Mapping[str, appended_rows.Now],
    before: Mapping[str, appended_rows.State],
) -> list[Part]:
    """DuckDB: the parts of ``read`` over one deal-keyed table name whose every source table
    only grew since the kept snapshot (:mod:`hub.warehouse.appended_rows`), with their
    candidates written."""
    narrowed = []
    for part in read:
        if len(part.tables) != 1 or part.tables[0] not in VERSIONED:
            continue
        tables = [t for t in appends if t.rsplit(".", 1)[-1] == part.tables[0]]
        gone = [t for t in before if t.rsplit(".", 1)[-1] == part.tables[0] and t not in appends]
        if tables and not gone and all(appends[t].appended_only for t in tables):
            name = _candidates(part, "duckdb").removeprefix("temp.main.")
            appended_rows.write_owners(conn, name, before, tables)
            narrowed.append(part)
    return narrowed


# the source tables whose rows a part reads by deal_key alone: a part of one of them may be
# read for some deals only (deal_versions)
VERSIONED = ("deals", "stage_changes", "stage_observations", "activities")
# A part's candidates' rows are fetched through the deal_key index (deal_indexes) when the
# candidates are at most one in this many of its rows; more, and one scan of every row
# costs less than a lookup per candidate.
BY_KEY_SHARE = 20


def _candidates(part: Part, dialect: str = "postgresql") -> str:
    temporary = "temp.main" if dialect == "duckdb" else "pg_temp"
    return f"{temporary}.hub_candidates_{part.name}"


def _write_candidates(conn: sa.Connection, part: Part, kept_counts: Counts, now: Counts) -> int:
    """The deals owning a row of ``part``'s tables in a version grown since the kept
    snapshot, in a temporary table; returns how many rows it has."""
    tables = sorted(t for t in now if t.rsplit(".", 1)[-1] in part.tables)
    return deal_versions.write_owners(
        conn, _candidates(part).removeprefix("pg_temp."), kept_counts, now, tables
    )


def candidate_filter(part: Part, *, by_key: bool, dialect: str = "postgresql") -> str:
    """The condition that keeps the rows of ``part``'s candidates. ``by_key``: as an array
    of keys, which PostgreSQL looks up in the ``deal_key`` index (:mod:`deal_indexes`);
    written as ``IN (subquery)`` it plans a scan of every row whatever the candidates'
    count, having no statistics of ``deal_key`` through the staging views' casts."""
    if by_key:
        return f"deal_key = ANY(ARRAY(SELECT deal_key FROM {_candidates(part)}))"
    return f"deal_key IN (SELECT deal_key FROM {_candidates(part, dialect)})"


def _totals_missed(conn: sa.Connection, narrowed: list[Part], now: Counts) -> list[Part]:
    """The ``narrowed`` parts whose rows in the new snapshot, summed over every deal
    (candidates read, the others kept), are not the part's rows now: a deal other than the
    candidates lost a row."""
    if not narrowed:
        return []
    sums = ", ".join(f"sum(n_{p.name})" for p in narrowed)
    totals = [int(t or 0) for t in conn.execute(sa.text(f"SELECT {sums} FROM {NEXT_INPUTS}")).one()]
    missed = []
    for part, total in zip(narrowed, totals, strict=True):
        if part.where:
            view = f"{STAGING}.{part.view} WHERE {part.where}"
            rows = int(conn.execute(sa.text(f"SELECT count(*) FROM {view}")).scalar() or 0)
        else:  # the view has a row per source table row
            rows = sum(
                sum(c.values()) for t, c in now.items() if t.rsplit(".", 1)[-1] in part.tables
            )
        if total != rows:
            missed.append(part)
    return missed


def _write_snapshot(
    conn: sa.Connection,
    dialect: str,
    read: list[Part],
    narrowed: list[Part],
    window: tuple[datetime, datetime] | None,
    *,
    compare: bool,
    by_key: set[str] | None = None,
) -> None:
    """:func:`snapshot_inputs`' statement; the ``narrowed`` parts (of ``read``) read only
    their candidates' rows (through the index for those named in ``by_key``), and the other
    deals keep their kept values of them."""
    views = sorted({(STAGING, p.view) for p in read})
    types = column_types(conn, views)
    params = {"lo": window[0], "hi": window[1]} if window else {}
    selects = []
    for i, part in enumerate(read):
        typed = dict(types[(STAGING, part.view)])
        hashed = row_hash(dialect, part.view, [(c, typed.get(c, "")) for c in part.columns])
        flag = "0"
        if window is not None:
            hits = " OR ".join(f"({c} > :lo AND {c} < :hi)" for c in part.instants)
            flag = f"CASE WHEN {hits} THEN 1 ELSE 0 END"
        whole, account = "NULL", "NULL"  # typed by the deals part, the first one
        if part is DEALS:  # deal_rows' hash of the whole row, in the same pass
            whole = row_hash(dialect, "stg_deals", types[(STAGING, part.view)])
            account = "account_key"
        filters = [part.where] if part.where else []
        if part in narrowed:
            picked = part.name in (by_key or set())
            filters.append(candidate_filter(part, by_key=picked, dialect=dialect))
        where = f" WHERE {' AND '.join(filters)}" if filters else ""
        selects.append(
            f"SELECT deal_key, {i} AS p, {hashed} AS h, {flag} AS w, {whole} AS r, "
            f"{account} AS a FROM {STAGING}.{part.view}{where}"
        )
    cols = []
    for i, part in enumerate(read):
        cols += [
            f"count(*) FILTER (WHERE p = {i}) AS n_{part.name}",
            f"coalesce(sum(h) FILTER (WHERE p = {i}), 0) AS h_{part.name}",
        ]
    if DEALS in read:
        cols += ["sum(r) AS row_sum", "min(a) AS account_key"]
    grouped = (
        f"SELECT deal_key, {', '.join(cols)}, max(w) AS w FROM ("
        + " UNION ALL ".join(selects)
        + ") AS rows_ GROUP BY deal_key"
        if read
        else f"SELECT deal_key, 0 AS w FROM {INPUTS} WHERE 1 = 0"  # nothing read
    )
    kept = compare or len(read) < len(PARTS)
    out = ["coalesce(n.deal_key, o.deal_key) AS deal_key" if kept else "n.deal_key"]
    for part in PARTS:
        for c in (f"n_{part.name}", f"h_{part.name}"):
            if part not in read:  # carried over; 0 for a deal new in the parts read
                out.append(f"coalesce(o.{c}, 0) AS {c}")
            elif part in narrowed:  # read for the candidates, who have a row of it
                out.append(
                    f"CASE WHEN n.n_{part.name} > 0 THEN n.{c} ELSE coalesce(o.{c}, 0) END AS {c}"
                )
            elif kept:
                out.append(f"coalesce(n.{c}, 0) AS {c}")
            else:
                out.append(f"n.{c}")
    if DEALS in narrowed:
        out += [
            f"CASE WHEN n.n_deals > 0 THEN n.{c} ELSE o.{c} END AS {c}"
            for c in ("row_sum", "account_key")
        ]
    else:
        deals_from = "n" if DEALS in read else "o"
        out += [f"{deals_from}.row_sum", f"{deals_from}.account_key"]
    if compare:
        differs = []
        for part in read:
            for c in (f"n_{part.name}", f"h_{part.name}"):
                if part in narrowed:
                    differs.append(f"(n.n_{part.name} > 0 AND n.{c} <> coalesce(o.{c}, 0))")
                else:
                    differs.append(f"coalesce(n.{c}, 0) <> o.{c}")
        in_window = ["n.w = 1"] if window is not None else []
        changed = " OR ".join(["o.deal_key IS NULL", *differs, *in_window])
        row_changed = (
            "coalesce(n.n_deals, 0) <> coalesce(o.n_deals, 0) "
            "OR n.row_sum IS DISTINCT FROM o.row_sum"
            if DEALS in read
            else "1 = 0"
        )
        if DEALS in narrowed:
            row_changed = f"n.n_deals > 0 AND ({row_changed})"
        out += [f"CASE WHEN {changed} THEN 1 ELSE 0 END AS changed"]
        out += [f"CASE WHEN {row_changed} THEN 1 ELSE 0 END AS row_changed"]
    if kept:
        source = f"({grouped}) AS n FULL OUTER JOIN {INPUTS} AS o ON o.deal_key = n.deal_key"
    else:
        source = f"({grouped}) AS n"
    if dialect == "postgresql" and read:  # for this transaction only
        conn.execute(sa.text(f"SET LOCAL work_mem = '{SNAPSHOT_WORK_MEM}'"))
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {NEXT_INPUTS}"))
    conn.execute(
        sa.text(f"CREATE TABLE {NEXT_INPUTS} AS SELECT {', '.join(out)} FROM {source}"), params
    )


def as_of_window(previous: datetime, current: datetime) -> tuple[datetime, datetime] | None:
    """Instants t for which ``t <= as_of`` differs between the two builds (naive UTC), widened
    by a second for the instants the models truncate to the second; None when equal."""
    if previous == current:
        return None
    low, high = sorted((_naive_utc(previous), _naive_utc(current)))
    return low, high + timedelta(seconds=1)


def _naive_utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def write_changed(
    conn: sa.Connection, read: Iterable[Part], window: tuple[datetime, datetime] | None
) -> int:
    """``hub_changed_deals`` = the deals :func:`snapshot_inputs` flagged (a part read now
    differs from the kept snapshot, the deal is new or gone), and deals with an instant in the
    as_of window in a part not read whole now (``read``: the parts it read whole); returns
    how many."""
    selects = [f"SELECT deal_key FROM {NEXT_INPUTS} WHERE changed = 1"]
    if window is not None:
        for p in PARTS:
            if p in set(read):
                continue  # flagged in the snapshot's pass
            hits = " OR ".join(f"({c} > :lo AND {c} < :hi)" for c in p.instants)
            where = f"({p.where}) AND " if p.where else ""
            selects.append(f"SELECT deal_key FROM {STAGING}.{p.view} WHERE {where}({hits})")
    params = {"lo": window[0], "hi": window[1]} if window else {}
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {CHANGED}"))
    body = " UNION ".join(selects)
    conn.execute(sa.text(f"CREATE TABLE {CHANGED} AS SELECT deal_key FROM ({body}) AS c"), params)
    return int(conn.execute(sa.text(f"SELECT count(*) FROM {CHANGED}")).scalar() or 0)


def take_and_compare(
    conn: sa.Connection,
    read: Iterable[Part],
    window: tuple[datetime, datetime] | None,
    versions: Counts | None = None,
    *,
    by_key_share: int | None = None,
    appends: Mapping[str, appended_rows.Now] | None = None,
    sources: Iterable[str] | None = None,
) -> tuple[int, list[Part]]:
    """An incremental build's snapshot (:func:`snapshot_inputs`, compared with the kept one)
    and ``hub_changed_deals`` from it (:func:`write_changed`); returns how many deals, and
    the parts read whole."""
    dialect = conn.dialect.name
    whole = snapshot_inputs(
        conn,
        dialect,
        read,
        window,
        compare=True,
        versions=versions,
        by_key_share=by_key_share,
        appends=appends,
        sources=sources,
    )
    return write_changed(conn, whole, window), whole


def keep_snapshot(conn: sa.Connection, digests: Mapping[str, str]) -> None:
    """The build succeeded: this run's snapshot, and the digests of the tables each part read,
    are the ones the next run compares with. Deals with no row left are dropped."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {INPUTS}"))
    conn.execute(sa.text(f"ALTER TABLE {NEXT_INPUTS} RENAME TO hub_deal_inputs"))
    deal_versions.keep(conn)
    appended_rows.keep(conn)
    rows = " + ".join(f"n_{p.name}" for p in PARTS)
    conn.execute(sa.text(f"DELETE FROM {INPUTS} WHERE {rows} = 0"))
    for legacy in _LEGACY:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {HUB_SCHEMA}.{legacy}"))
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {DIGESTS}"))
    conn.execute(sa.text(f"CREATE TABLE {DIGESTS} (part varchar, digest varchar)"))
    conn.execute(
        sa.text(f"INSERT INTO {DIGESTS} (part, digest) VALUES (:p, :d)"),
        [{"p": p.name, "d": digests[p.name]} for p in PARTS],
    )
