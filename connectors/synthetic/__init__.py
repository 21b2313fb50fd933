"""Deterministic synthetic CRM data: one world, many consumers (CSV, sandboxes, tests, bench).

``World(WorldSpec(seed=...))`` yields deals lazily; ``compute_truth`` counts what metrics
must report; ``write_csv_source`` writes a slice as CSV files plus ``truth.json``. With
``WorldSpec(signal=...)`` deals win for reasons (``connectors.synthetic.signal``) and carry
the probability they won with (``World.true_win_probability``, ``open_at``).
"""

from connectors.synthetic.csv_export import STAGE_LABELS, CsvExport, write_csv_source
from connectors.synthetic.signal import DealDrivers, SignalEffects
from connectors.synthetic.truth import GroundTruth, OpenDealTruth, compute_truth, open_at
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
    "DealDrivers",
    "GroundTruth",
    "OpenDealTruth",
    "Rep",
    "SignalEffects",
    "StageVisit",
    "SyntheticActivity",
    "SyntheticDeal",
    "World",
    "WorldSpec",
    "compute_truth",
    "open_at",
    "write_csv_source",
]
