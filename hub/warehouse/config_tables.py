"""hub.yml's canonical stages, stage map, FX rates, sources and quotas as ``hub_meta`` tables,
rewritten before every transform so that dbt re-derives all history from the current hub.yml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from hub.warehouse import meta
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
    for table, rows in contents:
        # Recreated, not just emptied: they are derived from hub.yml every time, and a table
        # made by an older version keeps its old column types (DuckDB's FLOAT is 4 bytes).
        table.drop(conn, checkfirst=True)
        table.create(conn)
        if rows:
            conn.execute(table.insert(), rows)


def write_quotas(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    meta.ensure_hub_tables(conn)
    conn.execute(meta.hub_quotas.delete())
    if rows:
        conn.execute(meta.hub_quotas.insert(), rows)


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
