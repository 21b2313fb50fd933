"""Shared fixtures: a FakeSalesforce over real HTTP, a real dlt pipeline into a tmp DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import requests

import connectors.http
from connectors.http import RequestStats
from connectors.salesforce import CONNECTOR
from connectors.salesforce.sandbox import FakeSalesforce
from models.config import parse_config


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connectors.http.clock, "sleep", lambda seconds: None)


@pytest.fixture
def sandbox() -> Iterator[FakeSalesforce]:
    sb = FakeSalesforce(seed=42, n_deals=200, rate_limits=False)
    sb.start()
    yield sb
    sb.stop()


@dataclass
class Harness:
    sandbox: FakeSalesforce
    tmp_path: Path
    name: str = "sf_main"
    options: dict[str, Any] | None = None
    credentials: dict[str, str] | None = None

    @property
    def db_path(self) -> Path:
        return self.tmp_path / "hub.duckdb"

    def source_entry(self) -> dict[str, Any]:
        entry = self.sandbox.source_config(self.name)
        entry["options"].update(self.options or {})
        if self.credentials is not None:
            entry["credentials"] = self.credentials
        return entry

    def pull(self, *, full_refresh: bool = False) -> RequestStats:
        """Exactly what the orchestrator does: context, build_source, dlt pipeline run."""
        config = parse_config({"sources": [self.source_entry()]})
        stats = RequestStats()
        ctx = CONNECTOR.context(
            config,
            config.source(self.name),
            stats=stats,
            run_started_at=datetime.now(UTC),
            full_refresh=full_refresh,
        )
        pipeline = dlt.pipeline(
            pipeline_name=f"hub_{self.name}",
            destination=dlt.destinations.duckdb(str(self.db_path)),
            dataset_name=f"src_{self.name}",
            pipelines_dir=str(self.tmp_path / ".hub" / "pipelines"),
        )
        pipeline.run(CONNECTOR.build_source(ctx))
        self.last_ctx = ctx  # stop_reason says why a run ended early (the API budget)
        return stats

    def context(self) -> Any:
        config = parse_config({"sources": [self.source_entry()]})
        return CONNECTOR.context(config, config.source(self.name), stats=RequestStats())

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.db_path), read_only=True) as con:
            con.execute(f"SET search_path = 'src_{self.name}'")
            return con.execute(sql).fetchall()

    def mutate(self, **spec: Any) -> dict[str, Any]:
        return requests.post(
            f"{self.sandbox.base_url}/_sandbox/mutate", json=spec, timeout=10
        ).json()

    def faults(self, **plan: Any) -> None:
        requests.post(
            f"{self.sandbox.base_url}/_sandbox/faults", json=plan, timeout=10
        ).raise_for_status()

    def sandbox_requests(self) -> dict[str, int]:
        return requests.get(f"{self.sandbox.base_url}/_sandbox/stats", timeout=10).json()[
            "requests"
        ]

    def reset_sandbox_stats(self) -> None:
        requests.delete(f"{self.sandbox.base_url}/_sandbox/stats", timeout=10)

    # ----- comparison with the sandbox's own state ---------------------------------------
    def warehouse_state(self) -> dict[str, set[tuple[Any, ...]]]:
        return {
            "deals": set(
                self.rows("SELECT deal_key, stage_id, status, amount, is_deleted FROM deals")
            ),
            "stage_changes": set(
                self.rows("SELECT deal_key, changed_at, stage_id FROM stage_changes")
            ),
            "activities": set(
                self.rows("SELECT activity_key, deal_key, is_deleted FROM activities")
            ),
            "owners": set(self.rows("SELECT owner_key FROM owners")),
        }

    def expected_state(self) -> dict[str, set[tuple[Any, ...]]]:
        exp = self.sandbox.expected_canonical(self.name)
        return {
            "deals": {
                (
                    d["deal_key"],
                    d["stage_id"],
                    d["status"],
                    Decimal(d["amount"]).quantize(Decimal("1e-9")),
                    d["is_deleted"],
                )
                for d in exp["deals"]
            },
            "stage_changes": {
                (h["deal_key"], h["changed_at"], h["stage_id"]) for h in exp["stage_changes"]
            },
            "activities": {
                (a["activity_key"], a["deal_key"], a["is_deleted"]) for a in exp["activities"]
            },
            "owners": {(o["owner_key"],) for o in exp["owners"]},
        }

    def assert_matches_sandbox(self) -> None:
        got, want = self.warehouse_state(), self.expected_state()
        for table in want:
            missing = want[table] - got[table]
            extra = got[table] - want[table]
            assert not missing and not extra, (
                f"{table}: {len(missing)} missing e.g. {sorted(missing, key=str)[:3]}, "
                f"{len(extra)} extra e.g. {sorted(extra, key=str)[:3]}"
            )
        counts = self.rows("SELECT count(*), count(DISTINCT deal_key) FROM deals")[0]
        assert counts[0] == counts[1], "duplicate deal rows"


@pytest.fixture
def harness(sandbox: FakeSalesforce, tmp_path: Path) -> Harness:
    return Harness(sandbox, tmp_path)
