"""A pull that runs DuckDB out of memory says which setting to raise, and loses nothing.

DuckDB's own error ("Out of Memory Error: failed to allocate ...") named no setting; the
pull's DuckDB work (dlt's load, the CSV merges) is bounded by ``warehouse.memory_limit``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from hub.generate import generate
from tests.reliability.harness import fingerprint, run_hub


def _memory_limit(config: Path, limit: str) -> None:
    hub_yml = yaml.safe_load(config.read_text(encoding="utf-8"))
    hub_yml.setdefault("warehouse", {})["memory_limit"] = limit
    config.write_text(yaml.safe_dump(hub_yml, sort_keys=False), encoding="utf-8")


def test_out_of_memory_names_the_setting_and_a_pull_after_raising_it_has_every_row(
    tmp_path: Path,
) -> None:
    config = generate(tmp_path / "export", seed=5, deals=3000).config_path
    reference = generate(tmp_path / "reference", seed=5, deals=3000).config_path
    assert config and reference
    _memory_limit(config, "4MB")

    starved = run_hub("pull", "--config", str(config), cwd=config.parent)
    assert starved.code != 0, starved.output
    assert "Out of Memory Error" in starved.output, starved.output
    assert "raise warehouse.memory_limit in hub.yml (now 4MB)" in starved.output, starved.output

    _memory_limit(config, "1GB")
    again = run_hub("pull", "--config", str(config), cwd=config.parent)
    assert again.code == 0, again.output
    fresh = run_hub("pull", "--config", str(reference), cwd=reference.parent)
    assert fresh.code == 0, fresh.output
    got = fingerprint(config.parent / ".hub" / "hub.duckdb")
    want = fingerprint(reference.parent / ".hub" / "hub.duckdb")
    differ = [t for t in want if t.startswith("src_") and not got[t].same_as(want[t])]
    assert not differ, [(t, got[t], want[t]) for t in differ]
