"""Two CSV sources of one generated world, with migrated copies between them, pulled and
transformed for real: the warehouse the report's cross-CRM figures are tested on.

Source 0 and 1 each hold their share of the world's deals plus migrated copies of the other's
(``WorldSpec.duplicate_share``); each writes its companies its own way. hub.yml breaks figures
down by ``lead_source`` (a deal custom field) and ``segment`` (an account custom field) and
finds duplicates by the ``legacy_id`` field. ``rewrite`` lets a test change the CSV files
(e.g. hostile names) before the pull, ``extra`` add hub.yml sections. The pull and transform
are the CLI itself (``hub sync``, or ``hub pull`` then ``hub transform``), whose output is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from connectors.synthetic import World, WorldSpec
from connectors.synthetic.csv_export import CsvExport, write_csv_source
from hub.cli import app
from hub.generate import csv_source_entry, demo_config
from models.config import HubConfig, load_config

SOURCES = ("crm_alpha", "crm_beta")  # hub.yml order: alpha is preferred on ties
DIMENSIONS = ["lead_source", "segment"]
AS_OF = datetime(2026, 6, 30, tzinfo=UTC)


@dataclass(frozen=True)
class TwoSources:
    folder: Path
    world: World
    exports: dict[str, CsvExport]
    config_path: Path
    config: HubConfig
    output: dict[str, str]  # what each command printed (stdout and stderr), by command


def build(
    folder: Path,
    *,
    seed: int = 11,
    deals: int = 600,
    duplicate_share: float = 0.12,
    rewrite: Callable[[dict[str, CsvExport]], None] | None = None,
    extra: dict | None = None,
    commands: tuple[str, ...] = ("sync",),
) -> TwoSources:
    """Write both sources and hub.yml in ``folder``, then run ``commands`` on it."""
    spec = WorldSpec(
        seed=seed, n_deals=deals, n_accounts=120, as_of=AS_OF, duplicate_share=duplicate_share
    )
    world = World(spec)
    exports = {
        name: write_csv_source(world, folder / name, source_index=i, n_sources=len(SOURCES))
        for i, name in enumerate(SOURCES)
    }
    if rewrite is not None:
        rewrite(exports)
    raw = demo_config(spec, [csv_source_entry(exports[name], name, folder) for name in SOURCES])
    raw["dimensions"] = list(DIMENSIONS)
    raw["duplicates"] = {"legacy_id_field": "legacy_id"}
    raw.update(extra or {})
    config_path = folder / "hub.yml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    output = {}
    for command in commands:
        result = CliRunner().invoke(
            app,
            [command, "--config", str(config_path)],
            catch_exceptions=False,
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 0, result.output
        output[command] = result.output
    return TwoSources(folder, world, exports, config_path, load_config(config_path), output)
