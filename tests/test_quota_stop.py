"""A sync larger than one day's API budget completes over several runs.

Each API connector runs against its sandbox (real HTTP) with a daily allowance that covers
only part of a full sync. ``hub.pull.run_pull`` is called again after each "vendor daily
reset" until a run ends ``ok``. The stopped runs must say when to resume and must keep
their progress (rows loaded), and the final warehouse must equal one clean run's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hub.pull import run_pull
from hub.warehouse import dataset_name
from models.config import HubConfig
from tests.harness import SandboxHub, VirtualClock

TABLES = {
    "deals": "deal_key",
    "stage_changes": None,  # compared as whole rows
    "activities": "activity_key",
    "owners": "owner_key",
}
MAX_RUNS = 12


class Kind:
    """One connector's sandbox with a daily allowance the test controls."""

    name = ""
    source = ""
    sandbox_kwargs: dict[str, Any] = {}
    options: dict[str, Any] = {"max_daily_share": 1.0}
    day_share = 0.4  # a day covers this share of the first sync

    def __init__(self, sandbox: Any) -> None:
        self.sb = sandbox

    def hub(self, folder: Path) -> SandboxHub:
        return SandboxHub(self.sb, folder, self.source, options=dict(self.options))

    def used(self) -> int:
        raise NotImplementedError

    def set_allowance(self, allowance: int) -> None:
        """The vendor's daily reset, with this allowance for the day."""
        raise NotImplementedError


class Hubspot(Kind):
    name, source = "hubspot", "hs_quota"
    sandbox_kwargs = {"n_deals": 200, "rate_limits": True, "seed": 42}
    # HubSpot resumes its first deal listing page by page, but each activity type (and a
    # sweep) is saved per completed type: a day must cover the largest type plus metadata.
    day_share = 0.6

    def used(self) -> int:
        return int(self.sb.daily_used)

    def set_allowance(self, allowance: int) -> None:
        self.sb.daily_limit = allowance
        self.sb.reset_daily()


class Pipedrive(Kind):
    name, source = "pipedrive", "pd_quota"
    sandbox_kwargs = {"n_deals": 200, "seed": 7}

    def used(self) -> int:
        return int(self.sb.tokens_used)

    def set_allowance(self, allowance: int) -> None:
        self.sb.daily_tokens = allowance
        self.sb.tokens_used = 0


class Salesforce(Kind):
    name, source = "salesforce", "sf_quota"
    sandbox_kwargs = {"seed": 42, "n_deals": 200, "rate_limits": True, "api_usage": 0}
    options = {"page_size": 200, "max_daily_share": 1.0}
    # A first sync reads OpportunityHistory unfiltered (all-or-nothing) with the first deals
    # page; on this 11-call org a day must cover that plus what the other resources spend.
    day_share = 0.8

    def used(self) -> int:
        return int(self.sb.api_usage)

    def set_allowance(self, allowance: int) -> None:
        self.sb.daily_limit = allowance
        self.sb.api_usage = 0


KINDS = {k.name: k for k in (Hubspot, Pipedrive, Salesforce)}


@pytest.fixture(params=sorted(KINDS))
def kind(
    request: pytest.FixtureRequest, virtual_clock: VirtualClock, sandboxes: Callable[..., Any]
) -> Kind:
    cls = KINDS[request.param]
    sandbox = sandboxes(cls.name, **cls.sandbox_kwargs)
    if cls is Hubspot:  # its rate-limit windows run on the sandbox's clock
        virtual_clock.follow(sandbox)
    return cls(sandbox)


def warehouse_rows(config: HubConfig) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """Every canonical table as key -> row (dlt's bookkeeping columns left out)."""
    name = config.sources[0].name
    out: dict[str, dict[Any, tuple[Any, ...]]] = {}
    with duckdb.connect(str(config.hub_dir / "hub.duckdb"), read_only=True) as con:
        for table, key in TABLES.items():
            cur = con.execute(f"select * from {dataset_name(name)}.{table}")
            cols = [d[0] for d in cur.description]
            keep = [i for i, c in enumerate(cols) if not c.startswith("_dlt")]
            rows = [tuple(r[i] for i in keep) for r in cur.fetchall()]
            names = [cols[i] for i in keep]
            keyed = {r: r for r in rows} if key is None else {r[names.index(key)]: r for r in rows}
            assert len(keyed) == len(rows), f"duplicate rows in {table}"
            out[table] = keyed
    return out


def count_rows(config: HubConfig) -> int:
    name = config.sources[0].name
    path = config.hub_dir / "hub.duckdb"
    if not path.exists():
        return 0
    total = 0
    with duckdb.connect(str(path), read_only=True) as con:
        present = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [dataset_name(name)],
            ).fetchall()
        }
        for table in TABLES:
            if table in present:
                total += con.execute(
                    f"select count(*) from {dataset_name(name)}.{table}"
                ).fetchone()[0]  # type: ignore[index]
    return total


def test_a_sync_larger_than_the_daily_budget_completes_over_several_runs(
    kind: Kind, tmp_path: Path
) -> None:
    # What a full sync costs, measured on a clean run (it is also the reference warehouse).
    kind.set_allowance(10_000_000)
    clean = kind.hub(tmp_path / "clean").config()
    [reference_run] = run_pull(clean)
    assert reference_run.status == "ok", reference_run.error
    full_cost = kind.used()
    reference = warehouse_rows(clean)

    allowance = max(1, int(full_cost * kind.day_share))
    config = kind.hub(tmp_path / "quota").config()
    statuses: list[str] = []
    loaded = 0
    for _ in range(MAX_RUNS):
        kind.set_allowance(allowance)  # the vendor's daily reset
        [run] = run_pull(config)
        statuses.append(run.status)
        if run.status == "ok":
            break
        assert run.status == "stopped", run.error
        assert run.error and any(w in run.error for w in ("again", "resume")), run.error
        now_loaded = count_rows(config)
        assert sum(run.rows.values()) > 0, f"stopped run {len(statuses)} loaded nothing"
        assert now_loaded >= loaded
        loaded = now_loaded
    assert statuses[0] == "stopped" and statuses[-1] == "ok", statuses
    assert loaded > 0  # progress was kept before the final run

    got = warehouse_rows(config)
    for table in TABLES:
        missing = set(reference[table]) - set(got[table])
        extra = set(got[table]) - set(reference[table])
        assert not missing and not extra, (
            f"{kind.name} {table}: {len(missing)} missing e.g. {sorted(missing, key=str)[:2]}, "
            f"{len(extra)} extra e.g. {sorted(extra, key=str)[:2]}"
        )
        diffs = [k for k in reference[table] if reference[table][k] != got[table][k]]
        assert not diffs, (
            f"{kind.name} {table}: {len(diffs)} rows differ, e.g. "
            f"{reference[table][diffs[0]]} vs {got[table][diffs[0]]}"
        )
