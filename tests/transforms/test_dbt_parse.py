"""dbt's parse of the project is reused from transform to transform, never when stale.

Real pulls and real dbt on DuckDB: a second transform at a new as_of reuses the saved parse
(dbt leaves it untouched) and its marts are at the new as_of, with the incremental switches
read too (only the changed deals rebuilt and tested); after a change to a project file the
saved parse is dropped, dbt parses in full and the build has the change. Within one process
another hub folder of the same project, with no saved parse, is built from the first one's
(loaded, not parsed again, and not left in its target: it was saved under the other
folder's connection), with the same marts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hub import dbt_shared_parse
from hub.dbt_parse import KEY_FILE, SAVED_PARSE
from hub.dbt_project import project_dir
from hub.generate import Generated
from hub.pull import run_pull
from hub.transform import run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config

AS_OF = ("2026-06-30T00:00:00Z", "2026-07-05T00:00:00Z", "2026-07-09T00:00:00Z")


def _config(root: Path, **changes: object) -> HubConfig:
    raw = yaml.safe_load((root / "hub.yml").read_text())
    raw.update(changes)
    (root / "hub.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(root / "hub.yml")


def _marts_as_of(config: HubConfig) -> set[str]:
    with Warehouse(config).connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT DISTINCT strftime(as_of AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
                "FROM analytics.deals UNION SELECT DISTINCT "
                "strftime(as_of AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') FROM analytics.sales_velocity"
            )
        ).all()
    return {r[0] for r in rows}


def _marts(config: HubConfig) -> list[tuple[object, ...]]:
    with Warehouse(config).connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT * FROM analytics.deals UNION ALL BY NAME "
                    "SELECT * FROM analytics.sales_velocity ORDER BY ALL"
                )
            )
        ]


def _since(log: Path, offset: int) -> str:
    """dbt's log written after ``offset``."""
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        return handle.read()


def test_the_parse_is_reused_across_as_of_and_redone_when_the_project_changes(
    tmp_path: Path, small_export: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "project"
    shutil.copytree(small_export.export.out_dir, root)
    config = _config(root, as_of=AS_OF[0])
    (run,) = run_pull(config)
    assert run.status == "ok", run.error
    other_root = tmp_path / "other"  # the same pulled warehouse in another folder
    shutil.copytree(root, other_root)
    dbt_shared_parse.forget()  # as in a new process: no other folder's parse to load
    first = run_transform(config)
    assert first.plan is not None and first.plan.full and not first.failures
    target = config.hub_dir / "dbt" / "target"
    saved = (target / SAVED_PARSE).stat().st_mtime_ns
    key = (target / KEY_FILE).read_text()
    log = config.hub_dir / "dbt" / "logs" / "dbt.log"
    assert "Starting full parse" in log.read_text(encoding="utf-8", errors="replace")

    # Another folder of the same project, in the same process: built from the first
    # folder's parse (loaded, not parsed), the same marts.
    other = load_config(other_root / "hub.yml")
    built = run_transform(other)
    assert built.plan is not None and built.plan.full and not built.failures
    other_log = (other.hub_dir / "dbt" / "logs" / "dbt.log").read_text(errors="replace")
    assert "no changes found, skipping parsing" in other_log
    assert "Starting full parse" not in other_log
    assert "Command `cli build` succeeded" in other_log
    assert not (other.hub_dir / "dbt" / "target" / SAVED_PARSE).exists()
    assert built.tests == first.tests and built.models == first.models
    assert _marts(other) == _marts(config)

    offset = log.stat().st_size
    second = run_transform(_config(root, as_of=AS_OF[1]))
    assert "no changes found, skipping parsing" in _since(log, offset)
    assert second.plan is not None and not second.plan.full and not second.failures
    assert (target / SAVED_PARSE).stat().st_mtime_ns == saved  # not parsed again
    assert (target / KEY_FILE).read_text() == key
    assert _marts_as_of(config) == {AS_OF[1]}
    # The incremental switches reached dbt too: the per-deal model read only the listed
    # deals, and its tests only their rows.
    assert second.plan.test_changed_only
    compiled = target / "compiled" / "hub" / "transforms" / "intermediate"
    assert "hub_changed_deals" in (compiled / "int_deal_spells.sql").read_text()
    tested = compiled / "_intermediate.yml" / "column_rules_int_deal_spells.sql"
    assert "hub_changed_deals" in tested.read_text()

    # A changed project file: the saved parse is dropped and dbt parses it all again (its
    # own partial re-parse is never trusted), and the build uses the change.
    project = tmp_path / "dbt_project"
    shutil.copytree(project_dir() / "transforms", project / "transforms")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copyfile(project_dir() / name, project / name)
    model = project / "transforms" / "marts" / "deals.sql"
    model.write_text(
        model.read_text().replace("    n_activities,\n", "    n_activities,\n    1 as probe,\n")
    )
    monkeypatch.setattr("hub.transform.project_dir", lambda: project)
    offset = log.stat().st_size
    third = run_transform(_config(root, as_of=AS_OF[2]))
    assert "saved manifest not found. Starting full parse" in _since(log, offset)
    assert third.plan is not None and third.plan.full and not third.failures
    assert (target / SAVED_PARSE).stat().st_mtime_ns != saved
    assert (target / KEY_FILE).read_text() != key
    assert _marts_as_of(config) == {AS_OF[2]}
    with Warehouse(config).connect() as conn:
        assert conn.execute(sa.text("SELECT DISTINCT probe FROM analytics.deals")).all() == [(1,)]
