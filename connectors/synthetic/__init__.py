"""Deterministic synthetic CRM data: one world, many consumers (CSV, sandboxes, tests, bench).

``World(WorldSpec(seed=...))`` yields deals lazily; ``compute_truth`` counts what metrics
must report; ``write_csv_source`` writes a slice as CSV files plus ``truth.json``.
"""

from connectors.synthetic.csv_export import STAGE_LABELS, CsvExport, write_csv_source
from connectors.synthetic.truth import GroundTruth, compute_truth
from connectors.synthetic.world import (
    ACTIVITY_TYPES,
    CANONICAL_STAGES,
    OPEN_STAGES,
    Account,
    Rep,
    StageVisit,
    SyntheticActivity,
    SyntheticDeal,
    World,
    WorldSpec,
)

__all__ = [
    "ACTIVITY_TYPES",
    "CANONICAL_STAGES",
    "OPEN_STAGES",
    "STAGE_LABELS",
    "Account",
    "CsvExport",
    "GroundTruth",
    "Rep",
    "StageVisit",
    "SyntheticActivity",
    "SyntheticDeal",
    "World",
    "WorldSpec",
    "compute_truth",
    "write_csv_source",
]
