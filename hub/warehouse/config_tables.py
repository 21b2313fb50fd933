"""hub.yml's canonical stages, stage map, FX rates, sources and quotas as ``hub_meta`` tables,
checked before every transform so that dbt re-derives all history from the current hub.yml.

A table is rewritten only when what it holds differs from hub.yml's (its rows, or a column
type an older version created), read back from the table itself rather than from a record
of the last write, so a table changed or emptied by hand is rewritten too. An unchanged
table is left alone: on PostgreSQL a rewrite is a new version of every row, which the next
transform's check of what dbt reads would take for a change (``hub.incremental``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from hub.warehouse import meta
from hub.warehouse.row_hash import column_types
from models.config import ANY_PIPELINE, HubConfig
from models.errors import ConfigError


def write_config_tables(
    conn: sa.Connection, config: HubConfig, stage_map_rows: list[dict[str, str]]
) -> None:
    rates = {config.base_currency: 1.0, **config.fx_rates}
    contents: list[tuple[sa.Table, list[dict[str, Any]]]] = [
        (
            meta.hub_canonical_stages,
            [
                {
                    "stage_name": s.name,
                    "display_order": i,
                    "outcome": s.outcome,
                    "probability": s.probability,
                    "stall_days": s.stall_days,
                }
                for i, s in enumerate(config.stages, start=1)
            ],
        ),
        (meta.hub_stage_map, stage_map_rows),
        (meta.hub_fx_rates, [{"currency": c, "rate_to_base": r} for c, r in sorted(rates.items())]),
        (meta.hub_sources, [{"source_name": s.name, "crm": s.kind} for s in config.sources]),
    ]
    meta.ensure_hub_tables(conn)
    _write_changed(conn, contents)


def write_quotas(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    meta.ensure_hub_tables(conn)
    _write_changed(conn, [(meta.hub_quotas, rows)])


# information_schema's data_type (lower case) of each column type these tables use, on
# PostgreSQL and DuckDB; any other (an older version's FLOAT, 4 bytes on DuckDB) is rewritten.
_STORED_AS: dict[type, set[str]] = {
    sa.String: {"character varying", "varchar"},
    sa.Integer: {"integer"},
    sa.Double: {"double precision", "double"},
    sa.Date: {"date"},
}


def _write_changed(
    conn: sa.Connection, contents: list[tuple[sa.Table, list[dict[str, Any]]]]
) -> None:
    """Recreate each table whose columns or rows differ from ``contents``: recreated, not
    just emptied, so a table made by an older version gets this version's column types."""
    types = column_types(conn, [(meta.HUB_SCHEMA, table.name) for table, _ in contents])
    for table, rows in contents:
        if _holds(conn, table, types[(meta.HUB_SCHEMA, table.name)], rows):
            continue
        table.drop(conn, checkfirst=True)
        table.create(conn)
        if rows:
            conn.execute(table.insert(), rows)


def _holds(
    conn: sa.Connection, table: sa.Table, columns: list[tuple[str, str]], rows: list[dict[str, Any]]
) -> bool:
    """The table has this version's columns and exactly ``rows`` (in any order)."""
    if [name for name, _ in columns] != [c.name for c in table.columns]:
        return False
    for (_, data_type), column in zip(columns, table.columns, strict=True):
        if data_type not in _STORED_AS.get(type(column.type), set()):
            return False
    stored = Counter(tuple(row) for row in conn.execute(sa.select(table)))
    wanted = Counter(tuple(row.get(c.name) for c in table.columns) for row in rows)
    return stored == wanted


def stage_map_rows(config: HubConfig) -> list[dict[str, str]]:
    """The stage map as rows: connector defaults first, hub.yml entries override them."""
    rows: dict[tuple[str, str, str], str] = {}
    for source in config.sources:
        if source.use_default_stage_map:
            for native, canonical in _default_stage_map(source.kind).items():
                if canonical in config.stage_names:
                    rows[(source.name, ANY_PIPELINE, native)] = canonical
        for pipeline, mapping in source.stage_map.items():
            for native, canonical in mapping.items():
                rows[(source.name, pipeline, native)] = canonical
    return [
        {"source_name": s, "pipeline": p, "native_stage": n, "canonical_stage": c}
        for (s, p, n), c in sorted(rows.items())
    ]


def _default_stage_map(kind: str) -> Mapping[str, str]:
    from connectors.registry import get_connector

    try:
        return get_connector(kind).default_stage_map
    except (ConfigError, ImportError):
        # A kind not installed here (ConfigError) or whose module fails to import (a missing
        # optional dependency) offers no defaults; its loaded data still transforms with
        # hub.yml's own stage map, and 'hub pull' is where the kind itself is reported.
        return {}
