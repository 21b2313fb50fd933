"""Resolving native stages to canonical ones, and suggesting a mapping for the unmapped.

The same rules run in dbt (``int_stages_mapped``) for the marts; this pure-Python copy
serves ``hub stages`` before any transform has run, and a test keeps the two in step.
Rules: a specific pipeline (id or label) beats ``'*'``; a stage id match beats a label
match; no match is ``unmapped``, never dropped.
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
    best: tuple[int, str] | None = None
    for e in entries:
        if e.pipeline == ANY_PIPELINE:
            pipeline_rank = 0
        elif e.pipeline in (pipeline_id, pipeline_label):
            pipeline_rank = 2
        else:
            continue
        if e.native_stage == stage_id:
            rank = pipeline_rank + 1
        elif stage_label is not None and e.native_stage == stage_label:
            rank = pipeline_rank
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, e.canonical_stage)
    return best[1] if best else UNMAPPED


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
