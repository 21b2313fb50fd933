"""``hub stages``: how every native stage the warehouse has seen maps to a canonical one."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.warehouse import Warehouse, dataset_name, stage_map_rows
from hub.warehouse.meta import has_table
from models.config import UNMAPPED, HubConfig
from models.stage_mapping import MapEntry, resolve, suggest


@dataclass(frozen=True)
class StageRow:
    source_name: str
    pipeline_id: str | None
    pipeline_label: str | None
    stage_id: str
    stage_label: str | None
    deals: int
    canonical_stage: str
    suggestion: str | None

    @property
    def is_unmapped(self) -> bool:
        return self.canonical_stage == UNMAPPED


def _native_stages(conn: sa.Connection, source: str) -> list[tuple]:
    schema = dataset_name(source)
    has = {t: has_table(conn, schema, t) for t in ("stages", "deals", "pipelines")}
    if not has["deals"] and not has["stages"]:
        return []
    parts = []
    if has["stages"]:
        parts.append(
            f"SELECT pipeline_id, stage_id, label FROM {schema}.stages "
            "WHERE NOT coalesce(is_deleted, false)"
        )
    if has["deals"]:
        parts.append(
            f"SELECT DISTINCT pipeline_id, stage_id, CAST(NULL AS varchar) AS label "
            f"FROM {schema}.deals WHERE stage_id IS NOT NULL"
        )
    union = " UNION ALL ".join(parts)
    deal_counts = (
        f"SELECT pipeline_id, stage_id, count(*) AS n FROM {schema}.deals "
        "WHERE NOT coalesce(is_deleted, false) GROUP BY pipeline_id, stage_id"
        if has["deals"]
        else "SELECT NULL AS pipeline_id, NULL AS stage_id, 0 AS n WHERE 1 = 0"
    )
    pipeline_labels = (
        f"SELECT pipeline_id, max(label) AS label FROM {schema}.pipelines GROUP BY pipeline_id"
        if has["pipelines"]
        else "SELECT NULL AS pipeline_id, NULL AS label WHERE 1 = 0"
    )
    sql = f"""
        WITH native AS ({union}),
        stages AS (SELECT pipeline_id, stage_id, max(label) AS label FROM native
                   GROUP BY pipeline_id, stage_id),
        counts AS ({deal_counts}),
        pipes AS ({pipeline_labels})
        SELECT s.pipeline_id, p.label, s.stage_id, s.label, coalesce(c.n, 0)
        FROM stages s
        LEFT JOIN counts c ON c.stage_id = s.stage_id
             AND coalesce(c.pipeline_id, '') = coalesce(s.pipeline_id, '')
        LEFT JOIN pipes p ON p.pipeline_id = s.pipeline_id
        ORDER BY s.pipeline_id, s.stage_id
    """
    return [tuple(r) for r in conn.execute(sa.text(sql))]


def stage_report(config: HubConfig) -> list[StageRow]:
    warehouse = Warehouse(config)
    rows = stage_map_rows(config)
    out: list[StageRow] = []
    if not warehouse.exists():
        return out
    with warehouse.connect() as conn:
        for source in config.sources:
            entries = [
                MapEntry(r["pipeline"], r["native_stage"], r["canonical_stage"])
                for r in rows
                if r["source_name"] == source.name
            ]
            known_labels = {e.native_stage: e.canonical_stage for e in entries}
            for pipeline_id, pipeline_label, stage_id, label, deals in _native_stages(
                conn, source.name
            ):
                canonical = resolve(
                    entries,
                    pipeline_id=pipeline_id,
                    pipeline_label=pipeline_label,
                    stage_id=stage_id,
                    stage_label=label,
                )
                out.append(
                    StageRow(
                        source_name=source.name,
                        pipeline_id=pipeline_id,
                        pipeline_label=pipeline_label,
                        stage_id=stage_id,
                        stage_label=label,
                        deals=int(deals),
                        canonical_stage=canonical,
                        suggestion=(
                            suggest(label or stage_id, config.stage_names, known_labels)
                            if canonical == UNMAPPED
                            else None
                        ),
                    )
                )
    return out
