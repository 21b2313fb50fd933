"""FakeHubspot's ``/_sandbox/mutate``: realistic changes between two syncs."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.hubspot import settings
from connectors.hubspot.sandbox.companies import segment_of
from connectors.hubspot.sandbox.store import RENEWALS, HubspotStore, Obj, iso


class HubspotMutations(HubspotStore):
    """Stage moves, wins, losses, edits, deletes, restores, new deals and activities,
    silent association changes, a pipeline edit, bulk changes inside one minute, and
    companies: edits, deletes, new ones, deals moved to another company, bad values."""

    def mutate(self, spec: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 - one switch per knob
        rng = random.Random(spec.get("seed", 0))
        changed: set[str] = set()
        out: dict[str, list[str]] = {
            k: []
            for k in (
                "deleted_deal_ids",
                "new_deal_ids",
                "restored_deal_ids",
                "new_activity_ids",
                "moved_activity_ids",
                "deleted_activity_ids",
                "changed_company_ids",
                "deleted_company_ids",
                "new_company_ids",
                "reassigned_deal_ids",
                "unlinked_deal_ids",
            )
        }

        def open_deals(min_order: int = 0) -> list[Obj]:
            result = []
            for d in self._live_deals():
                found = self._stage(str(d.props.get("dealstage")))
                if (
                    found
                    and found[1]["metadata"]["isClosed"] == "false"
                    and found[1]["displayOrder"] >= min_order
                ):
                    result.append(d)
            return sorted(result, key=lambda d: int(d.id))

        def pick(pool: list[Obj], n: int) -> list[Obj]:
            return rng.sample(pool, min(n, len(pool)))

        def stage_at(obj: Obj, order: int) -> str:
            pipeline = next(p for p in self.pipelines if p["id"] == obj.props.get("pipeline"))
            return str(pipeline["stages"][order]["id"])

        for deal in pick(open_deals(), int(spec.get("stage_moves", 3))):
            order = self._stage(str(deal.props["dealstage"]))[1]["displayOrder"]  # type: ignore[index]
            self._move(
                deal, stage_at(deal, min(order + 1, 4)), self.tick(), source=self._rep_source(deal)
            )
            changed.add(deal.id)
        for deal in pick(open_deals(min_order=1), int(spec.get("backward_moves", 1))):
            order = self._stage(str(deal.props["dealstage"]))[1]["displayOrder"]  # type: ignore[index]
            self._move(deal, stage_at(deal, order - 1), self.tick(), source=self._rep_source(deal))
            changed.add(deal.id)
        for deal in pick(self._live_deals(), int(spec.get("amount_edits", 2))):
            deal.set("amount", str(Decimal(rng.randint(1_000, 90_000)) + Decimal("0.5")))
            deal.touch(self.tick())
            changed.add(deal.id)
        for outcome, order in (("won", 5), ("lost", 6)):
            for deal in pick(open_deals(), int(spec.get(outcome, 1))):
                self._move(deal, stage_at(deal, order), self.tick(), source=self._rep_source(deal))
                if outcome == "lost":
                    deal.set("closed_lost_reason", "Chose competitor")
                changed.add(deal.id)
        for deal in pick(self._live_deals(), int(spec.get("deletes", 1))):
            deal.archived, deal.archived_ms = True, self.tick()
            out["deleted_deal_ids"].append(deal.id)
            changed.discard(deal.id)
        archived = sorted(
            (d for d in self.objects["deals"].values() if d.archived), key=lambda d: int(d.id)
        )
        for deal in pick(archived, int(spec.get("restores", 0))):
            deal.archived, deal.archived_ms = False, None
            deal.touch(self.tick())
            out["restored_deal_ids"].append(deal.id)
        reps = [o for o in self.owners if not o["archived"]]
        for k in range(int(spec.get("new_deals", 2))):
            owner = rng.choice(reps)["id"]
            ms = self.tick()
            pipeline = RENEWALS if k % 4 == 3 else settings.DEFAULT_PIPELINE_ID
            companies = self._live_companies()
            deal = self._new_deal(
                name=f"New deal {ms}-{k}",
                amount=str(rng.randint(1_000, 50_000)),
                currency="USD",
                pipeline=pipeline,
                owner=owner,
                created_ms=ms,
                lead_source="inbound",
                company=rng.choice(companies).id if companies else None,
            )
            deal.set("closedate", iso(ms + 30 * 86_400_000))
            self._move(deal, stage_at(deal, 0), ms, source=self._rep_source(deal))
            out["new_deal_ids"].append(deal.id)
        for k in range(int(spec.get("new_activities", 3))):
            live = self._live_deals()
            if not live:
                break
            deal = rng.choice(sorted(live, key=lambda d: int(d.id)))
            object_type = list(settings.ACTIVITY_OBJECTS)[k % 5]
            ms = self.tick()
            act = self._new_activity(
                object_type,
                deal.id,
                datetime.fromtimestamp(ms / 1000, UTC),
                f"Follow-up {k}",
                str(deal.props["hubspot_owner_id"]),
                True,
                300,
                "outbound",
                "connected",
                ms=ms,
            )
            # Logging an activity updates the deal's "last activity date", which moves it.
            deal.set("notes_last_updated", iso(ms))
            deal.touch(ms)
            changed.add(deal.id)
            out["new_activity_ids"].append(act.id)
        for k in range(int(spec.get("new_then_deleted", 0))):  # never seen by a sync
            ms = self.tick()
            deal = self._new_deal(
                name=f"Short-lived deal {ms}-{k}",
                amount="500",
                currency="EUR",
                pipeline=settings.DEFAULT_PIPELINE_ID,
                owner=reps[0]["id"],
                created_ms=ms,
            )
            self._move(deal, "appointmentscheduled", ms, source=self._rep_source(deal))
            self._move(deal, "qualifiedtobuy", self.tick(), source=self._rep_source(deal))
            deal.archived, deal.archived_ms = True, self.tick()
            out["deleted_deal_ids"].append(deal.id)
        for deal in pick(open_deals(), int(spec.get("moved_then_deleted", 0))):
            order = self._stage(str(deal.props["dealstage"]))[1]["displayOrder"]  # type: ignore[index]
            self._move(
                deal, stage_at(deal, min(order + 1, 4)), self.tick(), source=self._rep_source(deal)
            )
            deal.archived, deal.archived_ms = True, self.tick()
            out["deleted_deal_ids"].append(deal.id)
            changed.discard(deal.id)
        live_ids = sorted((d.id for d in self._live_deals()), key=int)
        for _ in range(int(spec.get("association_changes", 1))):
            object_type = rng.choice(list(settings.ACTIVITY_OBJECTS))
            candidates = sorted(
                (a for a in self.objects[object_type].values() if not a.archived),
                key=lambda a: int(a.id),
            )
            if not candidates or not live_ids:
                continue
            act = rng.choice(candidates)
            # Associations change without moving hs_lastmodifieddate on either side.
            self.links[object_type][act.id] = {rng.choice(live_ids)}
            out["moved_activity_ids"].append(act.id)
        for _ in range(int(spec.get("activity_deletes", 0))):
            object_type = rng.choice(list(settings.ACTIVITY_OBJECTS))
            candidates = sorted(
                (a for a in self.objects[object_type].values() if not a.archived),
                key=lambda a: int(a.id),
            )
            if candidates:
                act = rng.choice(candidates)
                act.archived, act.archived_ms = True, self.tick()
                out["deleted_activity_ids"].append(act.id)
        if spec.get("pipeline_edit"):
            stage = self.pipelines[0]["stages"][1]
            stage["label"] = f"{stage['label'].split(' (')[0]} (edited {self.tick()})"
            ms = self.tick()
            stage["updatedAt"] = iso(ms)
            for deal in self._live_deals():
                if deal.props.get("pipeline") == settings.DEFAULT_PIPELINE_ID:
                    deal.touch(ms)  # HubSpot re-stamps every deal of an edited pipeline
                    changed.add(deal.id)
        if spec.get("new_pipelines"):
            for deal in self._add_pipelines(
                int(spec["new_pipelines"]), int(spec.get("stages_per_pipeline", 10))
            ):
                changed.add(deal.id)
        if spec.get("bulk_deals"):
            owner = reps[0]["id"]
            n = int(spec["bulk_deals"])
            end = self.tick()
            for k in range(n):
                ms = end if spec.get("bulk_same_ms") else end - 60_000 + (k * 60_000) // n
                deal = self._new_deal(
                    name=f"Bulk deal {k}",
                    amount="1000",
                    currency="USD",
                    pipeline=settings.DEFAULT_PIPELINE_ID,
                    owner=owner,
                    created_ms=ms,
                )
                self._move(deal, "appointmentscheduled", ms, source=self._rep_source(deal))
                out["new_deal_ids"].append(deal.id)
        self._mutate_companies(spec, rng, out)
        if spec.get("long_properties"):
            self._add_long_properties(int(spec["long_properties"]))
        if spec.get("touch_all"):
            live = sorted(self._live_deals(), key=lambda d: int(d.id))[: int(spec["touch_all"])]
            end = self.tick()
            for k, deal in enumerate(live):
                deal.touch(end - 60_000 + (k * 60_000) // max(1, len(live)))
                changed.add(deal.id)
        self._last_ms = max(
            self._last_ms, max((d.lastmod_ms for d in self._live_deals()), default=0)
        )
        return {"changed_deal_ids": sorted(changed - set(out["deleted_deal_ids"]), key=int), **out}

    def _live_companies(self) -> list[Obj]:
        live = (c for c in self.objects["companies"].values() if not c.archived)
        return sorted(live, key=lambda c: int(c.id))

    def _mutate_companies(
        self, spec: dict[str, Any], rng: random.Random, out: dict[str, list[str]]
    ) -> None:
        """Company edits (size, hence segment), deletes (to the recycle bin: their deal
        links drop out of association reads), new companies, deals given another primary
        company or left with none (neither record's ``hs_lastmodifieddate`` moves, as in
        HubSpot), and a
        number property holding text (what a property whose type changed after values
        were written holds)."""

        def pick(n_key: str) -> list[Obj]:
            pool = self._live_companies()
            return rng.sample(pool, min(int(spec.get(n_key, 0)), len(pool)))

        for company in pick("company_edits"):
            employees = rng.randint(5, 5_000)
            company.set("numberofemployees", str(employees))
            company.set("segment", segment_of(employees))
            company.touch(self.tick())
            out["changed_company_ids"].append(company.id)
        for company in pick("bad_company_values"):
            company.set("numberofemployees", "a few hundred")
            company.touch(self.tick())
            out["changed_company_ids"].append(company.id)
        for company in pick("company_deletes"):
            company.archived, company.archived_ms = True, self.tick()
            out["deleted_company_ids"].append(company.id)
        for k in range(int(spec.get("new_companies", 0))):
            ms = self.tick()
            company = self._new_company(
                {"name": f"New Company {ms}-{k} Ltd", "website": f"https://newco{ms}{k}.com",
                 "domain": f"newco{ms}{k}.com", "country": "GB", "numberofemployees": "12",
                 "segment": "smb", "key_account": "false"},
                owner=rng.choice([o for o in self.owners if not o["archived"]])["id"],
                created_ms=ms,
                lastmod_ms=ms,
            )  # fmt: skip
            out["new_company_ids"].append(company.id)
        with_primary = sorted(
            (d for d in self._live_deals() if d.id in self.primary_company), key=lambda d: int(d.id)
        )
        for deal in rng.sample(
            with_primary, min(int(spec.get("company_reassignments", 0)), len(with_primary))
        ):
            old = self.primary_company[deal.id]
            choices = [c for c in self._live_companies() if c.id != old]
            if not choices:
                continue
            self.unlink_company(deal.id, old)
            self.link_company(deal.id, rng.choice(choices).id, primary=True)
            out["reassigned_deal_ids"].append(deal.id)
        linked = sorted(
            (d for d in self._live_deals() if self.company_links.get(d.id)), key=lambda d: int(d.id)
        )
        for deal in rng.sample(linked, min(int(spec.get("company_unlinks", 0)), len(linked))):
            for company_id in list(self.company_links[deal.id]):
                self.unlink_company(deal.id, company_id)
            out["unlinked_deal_ids"].append(deal.id)

    def _add_long_properties(self, n: int) -> None:
        """``n`` custom text properties with 100-character names on deals and on companies,
        filled on every record: a portal whose ``all`` property list overflows a URL."""
        created = iso(self.tick())
        for object_type, defs in (
            ("deals", self.properties),
            ("companies", self.company_properties),
        ):
            group = "dealinformation" if object_type == "deals" else "companyinformation"
            start = sum(1 for p in defs if p["name"].startswith("imported_"))
            for k in range(start, start + n):
                name = f"imported_{k:04d}_" + "field_from_the_legacy_crm_" * 4
                defs.append(
                    {
                        "name": name[:100],
                        "label": f"Imported field {k}",
                        "type": "string",
                        "fieldType": "text",
                        "groupName": group,
                        "options": [],
                        "hubspotDefined": False,
                        "calculated": False,
                        "hasUniqueValue": False,
                        "hidden": False,
                        "formField": True,
                        "description": "",
                        "displayOrder": -1,
                        "createdAt": created,
                        "updatedAt": created,
                        "archived": False,
                    }
                )
                for obj in self.objects[object_type].values():
                    obj.set(name[:100], f"value {k} of {obj.id}")

    def _add_pipelines(self, n: int, n_stages: int) -> list[Obj]:
        """``n`` pipelines of ``n_stages`` numeric-id stages (as HubSpot gives custom ones),
        each with one open deal moved into its first stage: a portal whose list request
        names a ``hs_v2_date_entered_*`` property per stage."""
        created = iso(self.tick())
        movers = sorted(self._live_deals(), key=lambda d: int(d.id))[:n]
        for k in range(n):
            pipeline_id = str(30_000_000 + len(self.pipelines))
            stages: list[dict[str, Any]] = [
                {
                    "id": f"{pipeline_id}{s:03d}",
                    "label": f"Step {s + 1}",
                    "displayOrder": s,
                    "archived": False,
                    "metadata": {
                        "isClosed": "true" if s >= n_stages - 2 else "false",
                        "probability": "1.0"
                        if s == n_stages - 2
                        else "0.0"
                        if s == n_stages - 1
                        else "0.5",
                    },
                    "createdAt": created,
                    "updatedAt": created,
                    "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                }
                for s in range(n_stages)
            ]
            self.pipelines.append(
                {
                    "id": pipeline_id,
                    "label": f"Pipeline {pipeline_id}",
                    "displayOrder": len(self.pipelines),
                    "archived": False,
                    "createdAt": created,
                    "updatedAt": created,
                    "stages": stages,
                }
            )
            if k < len(movers):
                self._move(
                    movers[k], stages[0]["id"], self.tick(), source=self._rep_source(movers[k])
                )
        return movers
