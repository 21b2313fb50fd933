"""Fixtures for the reverse sync: a CRM sandbox over real HTTP, pulled with real dlt into a
real DuckDB file, and outbound rows in schema ``outbound`` the way dbt leaves them.

``Crm`` hides what differs per kind (how to read a value back out of the sandbox, how a
rep edits a deal there, which requests are writes); everything the hub does goes through
the public API under test (``hub.push``) and real HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from hub.pull import run_pull
from hub.push.normalize import norm
from hub.warehouse import Warehouse
from models.config import HubConfig
from tests.harness import SandboxHub, VirtualClock

KINDS = ("hubspot", "pipedrive", "salesforce")
OUTBOUND_COLUMNS = (
    "source_name",
    "crm",
    "deal_key",
    "source_deal_id",
    "pipeline_id",
    "field",
    "value",
    "current_value",
    "crm_updated_at",
)
WRITES = {  # what counts as a write request in each sandbox's /_sandbox/stats
    "hubspot": "POST /crm/v3/objects/deals/batch/update",
    "pipedrive": "PATCH /api/v2/deals/",
    "salesforce": "/composite",
}


@pytest.fixture(autouse=True)
def _virtual_time(virtual_clock: VirtualClock) -> None:
    """Every push test runs on virtual time: retries and pacing do not wait."""


@dataclass
class Crm(SandboxHub):
    """A SandboxHub whose hub.yml also says ``push:`` (from :attr:`push`), pulled the way
    ``hub pull`` does it, with the warehouse read through the hub's own connection."""

    push: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.kind}_p"
        if self.kind == "pipedrive":
            self.options.setdefault("plan", "enterprise")

    def config(self, **options: Any) -> HubConfig:
        # Push tests write hand-made scores; the score's guard has its own tests (tests/score).
        self.top = {"push": {"max_share": 1.0, "require_better_score": False, **self.push}}
        return super().config(**options)

    def pull(self) -> None:  # type: ignore[override]
        (run,) = run_pull(self.config())
        assert run.status == "ok", run.error

    def sql(self, query: str, **params: Any) -> list[Any]:
        with Warehouse(self.config()).connect() as conn:
            return list(conn.execute(sa.text(query), params))

    def deals(self, n: int, where: str = "true") -> list[Any]:
        """Live deals as the latest pull saw them: deal_key, id, pipeline, stage, updated_at
        (open ones first; a score can be written to a closed deal too)."""
        return self.sql(
            f"SELECT deal_key, source_deal_id, pipeline_id, stage_id, updated_at "
            f"FROM src_{self.name}.deals WHERE NOT coalesce(is_deleted, false) AND {where} "
            f"ORDER BY status <> 'open', deal_key LIMIT {n}"
        )

    def outbound(self, rows: list[dict[str, Any]], model: str = "deal_scores") -> None:
        """Stand in for dbt: (re)create outbound.<model> with these rows."""
        with Warehouse(self.config()).connect() as conn:
            conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS outbound"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS outbound.{model}"))
            conn.execute(
                sa.text(
                    f"CREATE TABLE outbound.{model} (source_name varchar, crm varchar, deal_key varchar, "
                    "source_deal_id varchar, pipeline_id varchar, field varchar, value varchar, "
                    "current_value varchar, crm_updated_at timestamp)"
                )
            )
            defaults = {
                "source_name": self.name,
                "crm": self.kind,
                "current_value": None,
                "crm_updated_at": None,
                "pipeline_id": None,
            }
            full = [{c: {**defaults, **r}[c] for c in OUTBOUND_COLUMNS} for r in rows]
            # Multi-row INSERTs: DuckDB's executemany runs one statement per row (8.5 CPU-s
            # for the 10,000 rows of tests/push/test_scale.py, 2.2 this way).
            table = sa.table(model, *(sa.column(c) for c in OUTBOUND_COLUMNS), schema="outbound")
            for start in range(0, len(full), 1000):
                conn.execute(sa.insert(table).values(full[start : start + 1000]))

    def scores(self, deals: list[Any], value: Any = "0.42") -> list[dict[str, Any]]:
        return [
            {
                "deal_key": d[0],
                "source_deal_id": d[1],
                "pipeline_id": d[2],
                "field": "hub_score",
                "value": value(i) if callable(value) else value,
            }
            for i, d in enumerate(deals)
        ]

    def log(self) -> list[Any]:
        return self.sql(
            "SELECT run_id, deal_id, field, old_value, new_value, status, error "
            "FROM hub_meta.hub_push_log ORDER BY logged_at, deal_id"
        )

    # ----- the sandbox's side -------------------------------------------------------------
    def write_requests(self) -> int:
        marker = WRITES[self.kind]
        return sum(n for k, n in self.requests().items() if marker in k and not k.startswith("GET"))

    def value(self, deal_id: str, hub_field: str) -> str | None:
        sb = self.sandbox
        with sb.lock:
            if self.kind == "hubspot":
                prop = {"stage_id": "dealstage"}.get(hub_field, hub_field)
                return norm(hub_field, sb.objects["deals"][deal_id].props.get(prop))
            if self.kind == "pipedrive":
                deal = sb.store.deals[int(deal_id)]
                if hub_field == "stage_id":
                    return norm(hub_field, deal["stage_id"])
                name = {"hub_score": "Hub score", "hub_score_reason": "Hub score reason"}[hub_field]
                spec = sb.store.field_by_name(name)
                return norm(
                    hub_field, (deal.get("custom_fields") or {}).get(spec["key"]) if spec else None
                )
            name = {
                "stage_id": "StageName",
                "hub_score": "Hub_Score__c",
                "hub_score_reason": "Hub_Score_Reason__c",
            }[hub_field]
            return norm(hub_field, sb.org.tables["Opportunity"][deal_id][name])

    def rep_edit_score(self, deal_id: str, value: float) -> None:
        """A rep types a score into the CRM (after the hub's last pull)."""
        sb = self.sandbox
        sb.time_offset_s += 2
        with sb.lock:
            if self.kind == "hubspot":
                obj = sb.objects["deals"][deal_id]
                ms = sb.tick()
                obj.record("hub_score", str(value), ms, ("CRM_UI", "userId:9100000"))
                obj.touch(ms)
            elif self.kind == "pipedrive":
                deal = sb.store.deals[int(deal_id)]
                key = sb.store.field_by_name("Hub score")["key"]
                deal.setdefault("custom_fields", {})[key] = value
                sb.store.touch(deal, sb.now())
            else:
                org = sb.org
                opp = org.tables["Opportunity"][deal_id]
                org.update_opportunity(
                    deal_id,
                    {"Hub_Score__c": value},
                    by=opp["OwnerId"],
                    at=sb.now().replace(microsecond=0),
                )

    def rep_saves_score_over_http(self, deal_id: str, value: float) -> None:
        """A rep's save reaching the CRM's API as its own request, a little later than the
        hub's last step (the sandbox clock moves 2 s: a distinct modification time)."""
        sb = self.sandbox
        sb.time_offset_s += 2
        base = sb.base_url
        if self.kind == "hubspot":
            response = requests.post(
                f"{base}/crm/v3/objects/deals/batch/update",
                json={"inputs": [{"id": deal_id, "properties": {"hub_score": str(value)}}]},
                headers={"Authorization": f"Bearer {sb.credentials()['token']}"},
                timeout=30,
            )
        elif self.kind == "pipedrive":
            key = sb.store.field_by_name("Hub score")["key"]
            response = requests.patch(
                f"{base}/api/v2/deals/{deal_id}",
                json={"custom_fields": {key: value}},
                headers={"x-api-token": sb.credentials()["api_token"]},
                timeout=30,
            )
        else:
            creds = sb.credentials()
            token = requests.post(
                f"{base}/services/oauth2/token",
                data={"grant_type": "refresh_token", **creds},
                timeout=30,
            ).json()["access_token"]
            response = requests.patch(
                f"{base}/services/data/v{sb.version}/sobjects/Opportunity/{deal_id}",
                json={"Hub_Score__c": value},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
        assert response.status_code < 300, response.text

    def before_request(
        self, matches: Callable[[Any], bool], action: Callable[[], None]
    ) -> threading.Event:
        """Run ``action`` once, right before the sandbox handles the first request that
        ``matches`` (a :class:`~connectors.sandbox.server.SandboxRequest`). That request
        waits until ``action`` is done, so whatever ``action`` sends lands after every
        earlier request and before this one, however the threads are scheduled. The event
        is set once ``action`` ran."""
        sb = self.sandbox
        handle = sb.dispatch
        done = threading.Event()
        first = threading.Lock()

        def dispatch(request: Any) -> Any:
            if not done.is_set() and matches(request) and first.acquire(blocking=False):
                action()
                done.set()
            return handle(request)

        sb.dispatch = dispatch
        return done

    def lose_answer(self, matches: Callable[[Any], bool]) -> threading.Event:
        """The sandbox handles the first request that ``matches`` (a write lands) and then
        truncates its answer (the transport fault ``/_sandbox/faults`` calls truncate), at
        that request exactly. For a request the fault plan's path filter cannot single
        out. The event is set once the answer was lost."""
        sb = self.sandbox
        handle = sb.dispatch
        lost = threading.Event()
        first = threading.Lock()

        def dispatch(request: Any) -> Any:
            response, fault = handle(request)
            if not lost.is_set() and matches(request) and first.acquire(blocking=False):
                lost.set()
                return response, "truncate"
            return response, fault

        sb.dispatch = dispatch
        return lost

    def delete(self, deal_id: str) -> None:
        sb = self.sandbox
        with sb.lock:
            if self.kind == "hubspot":
                sb.objects["deals"][deal_id].archived = True
            elif self.kind == "pipedrive":
                deal = sb.store.deals[int(deal_id)]
                sb.store.delete(deal, sb.now(), deal["owner_id"])
            else:
                sb.org.delete_opportunity(deal_id, sb.now())


@pytest.fixture
def make_crm(tmp_path: Path, sandboxes: Callable[..., Any]) -> Callable[..., Crm]:
    def make(
        kind: str, n_deals: int = 120, *, setup: bool = True, pull: bool = True, **kwargs: Any
    ) -> Crm:
        crm = Crm(sandboxes(kind, n_deals=n_deals, **kwargs), tmp_path / kind)
        if setup:
            from hub.push import setup_fields

            setup_fields(crm.config())
        if pull:
            crm.pull()
        return crm

    return make
