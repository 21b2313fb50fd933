"""The stage-mapping rule in Python (``models/stage_mapping.py``, for ``hub stages``) and in
dbt (``int_stages_mapped``, for the marts) give the same canonical stage for every case.

Each case is its own source, so its rules meet only its native stage. The expected values
follow docs/metrics.md ("Mapping"): a specific pipeline beats ``*``; then a stage-id match
beats a label match; then a pipeline-id match beats a pipeline-label match; labels compare
case-insensitively, ids exactly; no rule is ``unmapped``. Rules tied on all of that resolve
to the alphabetically first canonical stage, in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from connectors.synthetic import CANONICAL_STAGES
from models.stage_mapping import MapEntry, resolve

from .conftest import run_dbt
from .fixtures import AS_OF_VAR, OUTCOME, STAGE_PROBABILITY, Tables


@dataclass(frozen=True)
class Case:
    rules: list[
        tuple[str, str, str]
    ]  # (pipeline id/label or '*', native stage id/label, canonical)
    pipeline: tuple[str, str | None] | None  # (id, label); None: a stage of every pipeline
    stage: tuple[str, str | None]  # (id, label)
    expected: str


CASES = {
    "id_rule_on_the_pipeline_id": Case(
        [("p1", "10", "meeting")], ("p1", "Enterprise"), ("10", "Demo"), "meeting"
    ),
    "label_rule_on_the_pipeline_label_ignores_case": Case(
        [("enterprise", "demo booked", "meeting")],
        ("p1", "Enterprise"),
        ("10", "Demo Booked"),
        "meeting",
    ),
    "specific_pipeline_label_rule_beats_any_pipeline_id_rule": Case(
        [("*", "10", "qualification"), ("Enterprise", "Demo Booked", "meeting")],
        ("p1", "Enterprise"),
        ("10", "Demo Booked"),
        "meeting",
    ),
    "any_pipeline_only_stage_id_beats_stage_label": Case(
        [("*", "10", "qualification"), ("*", "Demo Booked", "proposal")],
        ("p2", "SMB"),
        ("10", "Demo Booked"),
        "qualification",
    ),
    "same_pipeline_stage_id_beats_stage_label": Case(
        [("p1", "Demo Booked", "proposal"), ("p1", "10", "meeting")],
        ("p1", "Enterprise"),
        ("10", "Demo Booked"),
        "meeting",
    ),
    "stage_id_beats_pipeline_id": Case(
        [("p1", "Demo Booked", "proposal"), ("Enterprise", "10", "meeting")],
        ("p1", "Enterprise"),
        ("10", "Demo Booked"),
        "meeting",
    ),
    "pipeline_id_beats_pipeline_label": Case(
        [("Enterprise", "10", "proposal"), ("p1", "10", "meeting")],
        ("p1", "Enterprise"),
        ("10", "Demo"),
        "meeting",
    ),
    "rule_of_another_pipeline_does_not_apply": Case(
        [("p2", "10", "meeting")], ("p1", "Enterprise"), ("10", "Demo"), "unmapped"
    ),
    "no_rule_is_unmapped": Case([], ("p1", "Enterprise"), ("10", "Demo"), "unmapped"),
    "stage_label_ignores_case": Case(
        [("*", "WON", "closed_won")], ("p1", "Enterprise"), ("cw", "won"), "closed_won"
    ),
    "stage_id_is_case_sensitive": Case(
        [("*", "ClosedWon", "closed_won")], ("p1", "Enterprise"), ("closedwon", None), "unmapped"
    ),
    "pipeline_id_is_case_sensitive": Case(
        [("P1", "10", "meeting")], ("p1", "Enterprise"), ("10", "Demo"), "unmapped"
    ),
    "surrounding_whitespace_in_a_label_is_kept": Case(
        [("*", "Won", "closed_won")], ("p1", "Enterprise"), ("cw", " Won "), "unmapped"
    ),
    "pipeline_less_stage_only_matches_any_pipeline_rules": Case(
        [("*", "10", "qualification"), ("p1", "10", "meeting")],
        None,
        ("10", "Demo"),
        "qualification",
    ),
    "rules_tied_by_case_pick_the_first_canonical_stage": Case(
        [("*", "Won", "closed_won"), ("*", "WON", "closed_lost")],
        ("p1", "Enterprise"),
        ("cw", "won"),
        "closed_lost",
    ),
}
SOURCES = {f"case{k}": name for k, name in enumerate(CASES)}


def _write_inputs(path: Path) -> None:
    tables = Tables()
    for k, stage in enumerate(CANONICAL_STAGES):
        tables.add(
            "hub",
            "hub_canonical_stages",
            stage_name=stage,
            display_order=k + 1,
            outcome=OUTCOME.get(stage),
            probability=STAGE_PROBABILITY[stage],
            stall_days=None,
        )
    for source, name in SOURCES.items():
        case = CASES[name]
        for pipeline, native, canonical in case.rules:
            tables.add(
                "hub",
                "hub_stage_map",
                source_name=source,
                pipeline=pipeline,
                native_stage=native,
                canonical_stage=canonical,
            )
        pipeline_id = None
        if case.pipeline is not None:
            pipeline_id, pipeline_label = case.pipeline
            tables.add(
                f"src_{source}",
                "pipelines",
                source_name=source,
                crm="csv",
                pipeline_key=f"{source}:{pipeline_id}",
                pipeline_id=pipeline_id,
                label=pipeline_label,
            )
        stage_id, stage_label = case.stage
        tables.add(
            f"src_{source}",
            "stages",
            source_name=source,
            crm="csv",
            stage_key=f"{source}:{stage_id}",
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            label=stage_label,
        )
    con = duckdb.connect(str(path))
    try:
        tables.write(con, path.stem)
    finally:
        con.close()


@pytest.fixture(scope="module")
def mapped_in_dbt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple]]:
    """(pipeline_label, stage_label, canonical_stage) per source, as int_stages_mapped has it."""
    root = tmp_path_factory.mktemp("stage_parity")
    db_path = root / "hub.duckdb"
    _write_inputs(db_path)
    variables = {"as_of": AS_OF_VAR, "sources": list(SOURCES), "hub_schema": "hub"}
    res = run_dbt(db_path, root / "target", ["run", "--select", "+int_stages_mapped"], variables)
    assert res.success, res.exception
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "select source_name, pipeline_label, stage_label, canonical_stage "
            "from hub_staging.int_stages_mapped"
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == len(SOURCES)
    yield {source: tuple(rest) for source, *rest in rows}


def _mapped_in_python(case: Case) -> str:
    # Sorted like hub.warehouse.stage_map_rows hands them to `hub stages`.
    entries = [MapEntry(p, n, c) for p, n, c in sorted(case.rules)]
    pipeline_id, pipeline_label = case.pipeline or (None, None)
    stage_id, stage_label = case.stage
    return resolve(
        entries,
        pipeline_id=pipeline_id,
        pipeline_label=pipeline_label,
        stage_id=stage_id,
        stage_label=stage_label,
    )


@pytest.mark.parametrize("source", SOURCES, ids=SOURCES.values())
def test_python_and_dbt_map_the_native_stage_alike(
    mapped_in_dbt: dict[str, tuple], source: str
) -> None:
    case = CASES[SOURCES[source]]
    pipeline_label, stage_label, in_dbt = mapped_in_dbt[source]
    # dbt saw the same labels the Python rule is given
    assert (pipeline_label, stage_label) == ((case.pipeline or (None, None))[1], case.stage[1])
    assert {"python": _mapped_in_python(case), "dbt": in_dbt} == {
        "python": case.expected,
        "dbt": case.expected,
    }
