"""Resolving native stages to canonical ones, and suggesting a mapping for the unmapped.

The same rules run in dbt (``int_stages_mapped``) for the marts; this pure-Python copy
serves ``hub stages`` before any transform has run, and
``tests/transforms/test_stage_mapping_parity.py`` keeps the two in step.
Rules (docs/metrics.md): a specific pipeline (id or label) beats ``'*'``; then a stage-id
match beats a stage-label match; then a pipeline-id match beats a pipeline-label match; labels
compare case-insensitively, ids exactly; no match is ``unmapped``, never dropped.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from models.config import ANY_PIPELINE, UNMAPPED

# Words in native stage labels that point to a canonical stage; checked in order.
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("closed won", "won", "closedwon", "signed"), "closed_won"),
    (("closed lost", "lost", "closedlost", "disqualif", "dead"), "closed_lost"),
    (("negotiat", "contract", "legal", "commit"), "negotiation"),
    (("proposal", "quote", "pricing", "perception"), "proposal"),
    (("meeting", "demo", "presentation", "appointment", "value prop", "decision maker"), "meeting"),
    (("qualif", "discovery", "needs analysis", "engag", "contact made"), "qualification"),
    (("prospect", "lead", "new", "open", "inbound"), "prospecting"),
)


@dataclass(frozen=True)
class MapEntry:
    pipeline: str
    native_stage: str
    canonical_stage: str


def resolve(
    entries: Iterable[MapEntry],
    *,
    pipeline_id: str | None,
    pipeline_label: str | None,
    stage_id: str,
    stage_label: str | None,
) -> str:
    """The canonical stage of one native stage, ranked exactly as ``int_stages_mapped`` does
    (equal rules fall to the alphabetically first canonical stage there, so here too)."""
    ranked: list[tuple[bool, bool, bool, str]] = []
    for e in entries:
        any_pipeline = e.pipeline == ANY_PIPELINE
        by_pipeline_label = (
            False if any_pipeline else _named_by(e.pipeline, pipeline_id, pipeline_label)
        )
        by_stage_label = _named_by(e.native_stage, stage_id, stage_label)
        if by_pipeline_label is not None and by_stage_label is not None:
            ranked.append(
                (any_pipeline, by_stage_label, any_pipeline or by_pipeline_label, e.canonical_stage)
            )
    return min(ranked)[-1] if ranked else UNMAPPED


def _named_by(rule: str, native_id: str | None, label: str | None) -> bool | None:
    """How a rule names a native pipeline or stage: False by its id, True by its label
    (any case), None not at all."""
    if rule == native_id:
        return False
    if label is not None and rule.lower() == label.lower():
        return True
    return None


def suggest(
    label: str, canonical_stages: list[str], known: Mapping[str, str] | None = None
) -> str | None:
    """A likely canonical stage for an unmapped native label, or None."""
    text = label.strip().lower().replace("_", " ")
    for labels, canonical in (known or {}).items():
        if labels.strip().lower() == text and canonical in canonical_stages:
            return canonical
    for words, canonical in _HINTS:
        if canonical in canonical_stages and any(w in text for w in words):
            return canonical
    close = difflib.get_close_matches(text.replace(" ", "_"), canonical_stages, n=1, cutoff=0.6)
    return close[0] if close else None
