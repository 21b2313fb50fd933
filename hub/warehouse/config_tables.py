"""hub.yml's canonical stages, stage map, FX rates, sources and quotas as ``hub_meta`` tables,
rewritten before every transform so that dbt re-derives all history from the current hub.yml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from hub.warehouse.meta import (
    ensure_hub_tables,
    hub_canonical_stages,
    hub_fx_rates,
    hub_quotas,
    hub_sources,
    hub_stage_map,
)
from models.config import ANY_PIPELINE, HubConfig
from models.errors import ConfigError


def write_config_tables(
    conn: sa.Connection, config: HubConfig, stage_map_rows: list[dict[str, str]]
) -> None:
    ensure_hub_tables(conn)
    # Recreated, not just emptied: they are derived from hub.yml every time, and a table
    # made by an older version keeps its old column types (DuckDB's FLOAT is 4 bytes).
    for table in (hub_canonical_stages, hub_stage_map, hub_fx_rates, hub_sources):
        table.drop(conn, checkfirst=True)
        table.create(conn)
    conn.execute(
        hub_canonical_stages.insert(),
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
    )
    if stage_map_rows:
        conn.execute(hub_stage_map.insert(), stage_map_rows)
    rates = {config.base_currency: 1.0, **config.fx_rates}
    conn.execute(
        hub_fx_rates.insert(),
        [{"currency": c, "rate_to_base": r} for c, r in sorted(rates.items())],
    )
    if config.sources:
        conn.execute(
            hub_sources.insert(),
            [{"source_name": s.name, "crm": s.kind} for s in config.sources],
        )


def write_quotas(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    ensure_hub_tables(conn)
    conn.execute(hub_quotas.delete())
    if rows:
        conn.execute(hub_quotas.insert(), rows)


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
        # A kind that is not installed here (ConfigError) or whose module fails to import
        # (a missing optional dependency) has no defaults to offer; transforming the data
        # it loaded earlier needs only hub.yml's own stage map, and 'hub pull' reports the
        # kind itself.
        return {}
