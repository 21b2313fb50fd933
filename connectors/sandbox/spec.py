"""The knobs every sandbox takes, whatever the CRM (vendor limits stay keyword arguments)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxSpec:
    """What to serve and where: one value that ``hub demo``, ``hub sandbox``, the benchmarks
    and the tests hand to any kind's sandbox class.

    ``n_deals`` is this sandbox's share of a synthetic world that holds ``n_sources``
    slices; ``source_index`` picks the slice, so several sandboxes (and a CSV export) of one
    seed never overlap, unless ``duplicate_share`` puts migrated copies of the previous
    slice's deals in this one (World.iter_source_deals). The companies overlap: each sandbox
    serves the accounts its deals belong to (World.source_accounts), written its own way
    (connectors.synthetic.companies.account_view). ``page_cache`` is a benchmark knob (see ``SandboxServer``).
    """

    port: int = 0
    seed: int = 42
    n_deals: int = 300
    rate_limits: bool = True
    source_index: int = 0
    n_sources: int = 1
    activities_per_deal: float = 3.0
    page_cache: bool = False
    duplicate_share: float = 0.0  # WorldSpec.duplicate_share: migrated copies of the previous slice
    signal: float | None = None  # WorldSpec.signal: drivers of winning (None: the original world)
