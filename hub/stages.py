"""``hub stages``: how every native stage the warehouse has seen maps to a canonical one.

``hub sync`` and ``hub status`` say the same in a few lines (:func:`stage_warnings`): the
native stages no rule maps, with their deals and the closest ``stage_map`` key (a typo such
as ``Engagin`` leaves thousands of deals ``unmapped`` and exits 0 otherwise), and the
``stage_map`` keys of hub.yml that match no native stage at all.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import sqlalchemy as sa

from hub.warehouse import Warehouse, dataset_name, stage_map_rows
from hub.warehouse.meta import has_table
from models.config import ANY_PIPELINE, UNMAPPED, HubConfig, SourceConfig
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
    closest_key: str | None = None  # the source's hub.yml stage_map key nearest its label

    @property
    def is_unmapped(self) -> bool:
        return self.canonical_stage == UNMAPPED


def _native_stages(conn: sa.Connection, source: str) -> list[tuple]:
    """Every native stage of ``source`` (its stages table, its deals' stages, its history's
    stages) with its pipeline's label and how many live deals are in it.

    The deals are grouped once (``deal_stages``), for both their stages and the counts: a
    second pass over every deal only to count them cost about a quarter of this query
    (docs/benchmarks.md). Groups whose deals are all deleted stay, counted 0, as a stage
    deals were seen in; deals without a stage count nowhere (no stage row has a NULL id)."""
    schema = dataset_name(source)
    has = {t: has_table(conn, schema, t) for t in ("stages", "deals", "pipelines", "stage_changes")}
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
            "SELECT pipeline_id, stage_id, CAST(NULL AS varchar) AS label FROM deal_stages"
        )
    if has["deals"] and has["stage_changes"]:
        # A stage only the history names (a CSV change log) maps too, or its spells are
        # unmapped; a history row without a pipeline is in its deal's.
        parts.append(
            f"SELECT DISTINCT coalesce(c.pipeline_id, d.pipeline_id), c.stage_id, "
            f"CAST(NULL AS varchar) FROM {schema}.stage_changes c "
            f"LEFT JOIN {schema}.deals d ON d.deal_key = c.deal_key WHERE c.stage_id IS NOT NULL"
        )
    union = " UNION ALL ".join(parts)
    deal_stages = (
        "SELECT pipeline_id, stage_id, "
        "count(*) FILTER (WHERE NOT coalesce(is_deleted, false)) AS n "
        f"FROM {schema}.deals WHERE stage_id IS NOT NULL GROUP BY pipeline_id, stage_id"
        if has["deals"]
        else "SELECT NULL AS pipeline_id, NULL AS stage_id, 0 AS n WHERE 1 = 0"
    )
    pipeline_labels = (
        f"SELECT pipeline_id, max(label) AS label FROM {schema}.pipelines GROUP BY pipeline_id"
        if has["pipelines"]
        else "SELECT NULL AS pipeline_id, NULL AS label WHERE 1 = 0"
    )
    sql = f"""
        WITH deal_stages AS ({deal_stages}),
        native AS ({union}),
        stages AS (SELECT pipeline_id, stage_id, max(label) AS label FROM native
                   GROUP BY pipeline_id, stage_id),
        pipes AS ({pipeline_labels})
        SELECT s.pipeline_id, p.label, s.stage_id, s.label, coalesce(c.n, 0)
        FROM stages s
        LEFT JOIN deal_stages c ON c.stage_id = s.stage_id
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
                        closest_key=(
                            closest(label or stage_id, _user_keys(source))
                            if canonical == UNMAPPED
                            else None
                        ),
                    )
                )
    return out


def _user_keys(source: SourceConfig) -> list[str]:
    return sorted({native for mapping in source.stage_map.values() for native in mapping})


def closest(text: str, candidates: list[str]) -> str | None:
    """The candidate nearest ``text`` (any case), by difflib's ratio, or None."""
    by_lower = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(text.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


@dataclass(frozen=True)
class UnusedKey:
    """A hub.yml stage_map key that names no native stage the warehouse has seen."""

    source_name: str
    pipeline: str
    key: str
    closest: str | None  # the nearest native stage label (or id)


def unused_keys(config: HubConfig, rows: list[StageRow]) -> list[UnusedKey]:
    """hub.yml stage_map keys matching no native stage (by id, or label in any case) of a
    pipeline they apply to; sources with no native stage yet (nothing pulled) are skipped."""
    out: list[UnusedKey] = []
    for source in config.sources:
        mine = [r for r in rows if r.source_name == source.name]
        if not mine:
            continue
        for pipeline, mapping in source.stage_map.items():
            natives = [
                r
                for r in mine
                if pipeline == ANY_PIPELINE
                or pipeline == r.pipeline_id
                or pipeline.lower() == (r.pipeline_label or "").lower()
            ]
            names = {r.stage_id for r in natives} | {
                r.stage_label.lower() for r in natives if r.stage_label
            }
            for key in mapping:
                if key not in names and key.lower() not in names:
                    labels = sorted({r.stage_label or r.stage_id for r in natives})
                    out.append(UnusedKey(source.name, pipeline, key, closest(key, labels)))
    return out


def stage_warnings(config: HubConfig) -> tuple[list[str], int]:
    """One line per unmapped native stage and per unused stage_map key, and how many native
    stages are unmapped (``hub sync --strict-stages`` fails on any)."""
    rows = stage_report(config)
    lines = []
    unmapped = [r for r in rows if r.is_unmapped]
    for r in unmapped:
        name = r.stage_label or r.stage_id
        hints = [f"{r.deals:,} deal(s)"]
        if r.closest_key:
            hints.append(f"closest stage_map key {r.closest_key!r}")
        if r.suggestion:
            hints.append(f"likely canonical stage {r.suggestion}")
        pipeline = r.pipeline_label or r.pipeline_id
        lines.append(
            f"{r.source_name}: native stage {name!r}"
            f"{f' (pipeline {pipeline!r})' if pipeline else ''} is unmapped "
            f"({', '.join(hints)})"
        )
    for k in unused_keys(config, rows):
        lines.append(
            f"{k.source_name}: stage_map key {k.key!r} (pipeline {k.pipeline!r}) matches no "
            f"native stage{f'; closest: {k.closest!r}' if k.closest else ''}"
        )
    return lines, len(unmapped)


def sources_without_stages(config: HubConfig) -> list[str]:
    """Why a source has no native stage: nothing pulled yet, or deals without a stage
    (a CSV source with no stage column mapped)."""
    warehouse = Warehouse(config)
    if not warehouse.exists():
        return [f"{s.name}: nothing pulled yet; run 'hub pull'" for s in config.sources]
    out = []
    with warehouse.connect() as conn:
        for source in config.sources:
            schema = dataset_name(source.name)
            if not has_table(conn, schema, "deals"):
                out.append(f"{source.name}: nothing pulled yet; run 'hub pull'")
                continue
            staged, total = conn.execute(
                sa.text(f"SELECT count(stage_id), count(*) FROM {schema}.deals")
            ).one()
            if total and not staged and not _native_stages(conn, source.name):
                fix = (
                    f"map one under sources[{source.name}].options.deals.columns.stage_id"
                    if source.kind == "csv"
                    else "check the source's stage field"
                )
                out.append(
                    f"{source.name}: no stage column mapped: none of its {total:,} deals "
                    f"has a stage; {fix}"
                )
    return out
