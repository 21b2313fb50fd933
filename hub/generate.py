"""``hub generate``: a deterministic synthetic CRM export plus the hub.yml that reads it."""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.synthetic import World, WorldSpec
from connectors.synthetic.csv_export import STAGE_LABELS, CsvExport, write_csv_source

# Rates the generated hub.yml declares; tests convert the generator's truth with the same.
DEMO_FX_RATES = {"EUR": 1.08, "GBP": 1.27}


@dataclass(frozen=True)
class Generated:
    export: CsvExport
    config_path: Path | None


def csv_source_entry(export: CsvExport, name: str, base_dir: Path) -> dict[str, Any]:
    """A hub.yml ``sources`` entry for a generated export (every file, its column mapping
    and typed custom fields), with paths relative to base_dir."""
    options: dict[str, Any] = {}
    for table, spec in export.hub_config.items():
        path = Path(spec["path"])
        with contextlib.suppress(ValueError):  # elsewhere on disk: keep it absolute
            path = path.resolve().relative_to(base_dir.resolve())
        options[table] = {**copy.deepcopy(spec), "path": str(path)}
    return {
        "name": name,
        "kind": "csv",
        "stage_map": {"*": {label: canonical for canonical, label in STAGE_LABELS.items()}},
        "options": options,
    }


# Fields every generated source carries (docs/accounts.md): the breakdowns the demo shows.
DEMO_DIMENSIONS = ("lead_source", "segment", "industry")


def demo_config(spec: WorldSpec, sources: list[dict[str, Any]]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "as_of": spec.as_of.isoformat().replace("+00:00", "Z"),
        "base_currency": "USD",
        "fx_rates": dict(DEMO_FX_RATES),
        "dimensions": list(DEMO_DIMENSIONS),
    }
    if spec.duplicate_share > 0:
        # Migrated copies carry the original's id in a custom field (companies.migrated_copy).
        config["duplicates"] = {"legacy_id_field": "legacy_id"}
    return {**config, "sources": sources}


# Team quotas the demo declares (quotas_path), so pipeline_coverage and its chart have rows:
# one per month and quarter around as_of, a share of the world's expected pipeline.
DEMO_QUOTA_MONTHS = range(-2, 4)  # months before and after as_of's month
DEMO_QUOTA_SHARE = 0.01  # of n_deals x median amount, per month


def write_demo_quotas(path: Path, spec: WorldSpec) -> Path:
    """A quotas CSV (owner_email empty = the whole team) in the base currency."""
    monthly = round(spec.n_deals * spec.median_amount * DEMO_QUOTA_SHARE, -3)
    first = spec.as_of.date().replace(day=1)
    lines = ["owner_email,period_start,period_type,quota"]
    quarters = set()
    for offset in DEMO_QUOTA_MONTHS:
        index = first.year * 12 + first.month - 1 + offset
        start = first.replace(year=index // 12, month=index % 12 + 1)
        lines.append(f",{start.isoformat()},month,{monthly:.0f}")
        quarters.add(start.replace(month=(start.month - 1) // 3 * 3 + 1))
    lines += [f",{q.isoformat()},quarter,{3 * monthly:.0f}" for q in sorted(quarters)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def generate(
    out_dir: Path,
    *,
    seed: int,
    deals: int,
    activities_per_deal: float = 3.0,
    source_name: str = "crm_export",
    write_config: bool = True,
    signal: float | None = None,
) -> Generated:
    """Write the export of WorldSpec(seed, deals, activities_per_deal, signal) to out_dir,
    with win_probability.csv when the world has a signal, and a hub.yml that reads it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = WorldSpec(
        seed=seed, n_deals=deals, activities_per_deal=activities_per_deal, signal=signal
    )
    export = write_csv_source(World(spec), out_dir)
    config_path = None
    if write_config:
        config_path = out_dir / "hub.yml"
        config = demo_config(spec, [csv_source_entry(export, source_name, out_dir)])
        config_path.write_text(
            "# Written by 'hub generate': a CSV source over the generated export.\n"
            + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
    return Generated(export, config_path)
