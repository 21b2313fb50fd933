"""HubSpot's official Python SDK (``hubspot-api-client``, generated from HubSpot's OpenAPI
specs) against FakeHubspot, through its ordinary public calls.

Client-side validation is switched on, so the SDK's models refuse any answer that misses a
field the official spec requires or holds a value outside its enums: the sandbox's shapes
are checked by HubSpot's own specification, not by our reading of it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm import companies as sdk_companies
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Configuration,
    Error,
    ErrorDetail,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)

from connectors.hubspot.sandbox import FakeHubspot


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FakeHubspot]:
    with FakeHubspot(n_deals=60, rate_limits=False) as fake:
        assert isinstance(fake, FakeHubspot)
        binned = sorted(fake.objects["deals"])[-1]
        fake.objects["deals"][binned].archived = True  # one deal in the recycle bin
        company = fake.objects["companies"][sorted(fake.objects["companies"])[-1]]
        company.archived, company.archived_ms = True, company.lastmod_ms  # and one company
        yield fake


@pytest.fixture(scope="module")
def api(sandbox: FakeHubspot) -> HubSpot:
    return HubSpot(
        access_token=FakeHubspot.TOKEN, host=sandbox.base_url, client_side_validation=True
    )


def linked(sandbox: FakeHubspot) -> tuple[str, str]:
    """(deal id, call id) of one live link."""
    return next(
        (deal, call)
        for call, deals in sorted(sandbox.links["calls"].items())
        for deal in sorted(deals)
        if not sandbox.objects["deals"][deal].archived
    )


def live_deals(sandbox: FakeHubspot) -> list[Any]:
    return [d for d in sandbox.objects["deals"].values() if not d.archived]


def search(api: HubSpot, *filters: Filter, **request: Any) -> Any:
    groups = [FilterGroup(filters=list(filters))] if filters else None
    return api.crm.deals.search_api.do_search(
        PublicObjectSearchRequest(filter_groups=groups, limit=200, **request)
    )


def error_of(exc: ApiException) -> tuple[Error, list[ErrorDetail]]:
    """The error body and its details, built into the SDK's own models (which validate)."""
    body = json.loads(exc.body)
    return built(Error, body), [built(ErrorDetail, d) for d in body.get("errors", [])]


def built(model: Any, data: dict[str, Any]) -> Any:
    strict = Configuration()
    strict.client_side_validation = True
    fields = {py: data[js] for py, js in model.attribute_map.items() if js in data}
    return model(**fields, local_vars_configuration=strict)


def test_get_page_returns_properties_associations_and_a_next_cursor(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    deal_id, call_id = linked(sandbox)
    page = api.crm.deals.basic_api.get_page(
        limit=100, properties=["dealname", "amount"], associations=["calls"], archived=False
    )
    by_id = {d.id: d for d in page.results}
    assert set(by_id[deal_id].properties) == {"dealname", "amount"}
    assert call_id in {a.id for a in by_id[deal_id].associations["calls"].results}
    assert not any(d.archived for d in page.results)
    assert page.paging is None or page.paging.next.after


def test_get_all_pages_through_every_live_deal(api: HubSpot, sandbox: FakeHubspot) -> None:
    deals = api.crm.deals.get_all(properties=["dealstage"])
    assert sorted(d.id for d in deals) == sorted(d.id for d in live_deals(sandbox))


def test_get_page_archived_lists_the_recycle_bin(api: HubSpot, sandbox: FakeHubspot) -> None:
    page = api.crm.deals.basic_api.get_page(archived=True, limit=100)
    binned = [d.id for d in sandbox.objects["deals"].values() if d.archived]
    assert [d.id for d in page.results] == binned and page.results[0].archived


def test_get_by_id_returns_one_deal_and_a_404_in_hubspots_error_shape(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    deal_id, call_id = linked(sandbox)
    deal = api.crm.deals.basic_api.get_by_id(
        deal_id, properties=["dealname"], associations=["calls"]
    )
    assert deal.id == deal_id and set(deal.properties) == {"dealname"}
    assert call_id in {a.id for a in deal.associations["calls"].results}
    with pytest.raises(ApiException) as caught:
        api.crm.deals.basic_api.get_by_id("404404")
    assert caught.value.status == 404
    assert error_of(caught.value)[0].category == "OBJECT_NOT_FOUND"


def test_search_with_eq_gte_and_in_filters(api: HubSpot, sandbox: FakeHubspot) -> None:
    deals = live_deals(sandbox)
    eq = search(api, Filter(property_name="pipeline", operator="EQ", value="default"))
    assert eq.total == sum(d.props["pipeline"] == "default" for d in deals) > 0
    floor = sorted(float(d.props["amount"]) for d in deals if d.props.get("amount"))[
        len(deals) // 2
    ]
    gte = search(api, Filter(property_name="amount", operator="GTE", value=str(floor)))
    assert gte.total == sum(float(d.props.get("amount") or "-1") >= floor for d in deals) > 0
    stages = ["closedwon", "closedlost"]
    in_ = search(api, Filter(property_name="dealstage", operator="IN", values=stages))
    assert in_.total == sum(d.props["dealstage"] in stages for d in deals) > 0


def test_search_sorts_and_query_text(api: HubSpot, sandbox: FakeHubspot) -> None:
    has_amount = Filter(property_name="amount", operator="HAS_PROPERTY")
    found = search(api, has_amount, sorts=["-amount"], properties=["amount"])
    amounts = [float(d.properties["amount"]) for d in found.results]
    assert len(amounts) > 1 and amounts == sorted(amounts, reverse=True)
    word = str(live_deals(sandbox)[0].props["dealname"]).split()[0]
    named = search(api, query=word, properties=["dealname"])
    assert 0 < named.total < len(live_deals(sandbox))
    assert all(word.lower() in d.properties["dealname"].lower() for d in named.results)


def test_pipelines_list_every_pipeline_with_its_stages(api: HubSpot, sandbox: FakeHubspot) -> None:
    pipelines = api.crm.pipelines.pipelines_api.get_all("deals").results
    assert [p.id for p in pipelines] == [p["id"] for p in sandbox.pipelines]
    assert all(p.stages and p.stages[0].metadata["probability"] for p in pipelines)


def test_owners_list_and_get_by_id(api: HubSpot, sandbox: FakeHubspot) -> None:
    owners = api.crm.owners.owners_api.get_page(limit=100).results
    live = [o for o in sandbox.owners if not o["archived"]]
    assert sorted(o.id for o in owners) == sorted(o["id"] for o in live)
    assert {o.type for o in owners} == {"PERSON"}
    owner = api.crm.owners.owners_api.get_by_id(int(owners[0].id))
    assert owner.email == owners[0].email
    by_user = api.crm.owners.owners_api.get_by_id(owners[0].user_id, id_property="userId")
    assert by_user.id == owners[0].id
    by_email = api.crm.owners.owners_api.get_page(email=owners[0].email.upper()).results
    assert [o.id for o in by_email] == [owners[0].id]
    archived = api.crm.owners.owners_api.get_page(archived=True).results
    assert {o.id for o in archived} == {o["id"] for o in sandbox.owners if o["archived"]}


def test_properties_list_dealstage_options_from_the_pipelines(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    props = {p.name: p for p in api.crm.properties.core_api.get_all("deals").results}
    stage_ids = {s["id"] for p in sandbox.pipelines for s in p["stages"]}
    assert {o.value for o in props["dealstage"].options} == stage_ids
    assert props["dealstage"].type == "enumeration"


def test_batch_read_returns_found_deals_and_reports_missing_ones(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    deal_id = live_deals(sandbox)[0].id
    answer = api.crm.deals.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=deal_id), SimplePublicObjectId(id="404404")],
            properties=["dealname"],
            properties_with_history=["dealstage"],
        )
    )
    assert [d.id for d in answer.results] == [deal_id]
    assert answer.results[0].properties_with_history["dealstage"][0].source_type
    assert answer.num_errors == 1 and answer.errors[0].context["ids"] == ["404404"]


def test_batch_update_changes_deals_and_rejects_bad_values_in_hubspots_shape(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    deal_id = live_deals(sandbox)[1].id
    answer = api.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=deal_id, properties={"amount": "4321"})]
        )
    )
    assert (
        answer.results[0].id == deal_id
        and sandbox.objects["deals"][deal_id].props["amount"] == "4321"
    )
    with pytest.raises(ApiException) as caught:
        api.crm.deals.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[SimplePublicObjectBatchInput(id=deal_id, properties={"amount": "lots"})]
            )
        )
    assert caught.value.status == 400
    error, details = error_of(caught.value)
    assert error.category == "VALIDATION_ERROR" and [d.code for d in details] == ["INVALID_FLOAT"]


def test_v4_association_batch_read_both_ways_and_without_links(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    deal_id, call_id = linked(sandbox)

    def read(from_type: str, to_type: str, object_id: str) -> Any:
        return api.crm.associations.v4.batch_api.get_page(
            from_type,
            to_type,
            BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": object_id}]),
        )

    to_deal = read("calls", "deals", call_id).results[0]
    assert deal_id in {str(t.to_object_id) for t in to_deal.to}
    assert to_deal.to[0].association_types[0].type_id == 206
    to_calls = read("deals", "calls", deal_id).results[0]
    assert call_id in {str(t.to_object_id) for t in to_calls.to}
    nothing = read("deals", "contacts", deal_id)
    assert nothing.results == [] and nothing.errors[0].sub_category.endswith(
        "NO_ASSOCIATIONS_FOUND"
    )


def test_schemas_list_no_custom_objects(api: HubSpot) -> None:
    assert api.crm.schemas.core_api.get_all().results == []


# ----- companies ------------------------------------------------------------------------------


def live_companies(sandbox: FakeHubspot) -> list[Any]:
    return [c for c in sandbox.objects["companies"].values() if not c.archived]


def test_companies_get_page_with_properties_deal_associations_and_archived(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    pages, after = [], None
    while True:
        page = api.crm.companies.basic_api.get_page(
            limit=20,
            after=after,
            properties=["name", "domain", "numberofemployees"],
            associations=["deals"],
        )
        pages.append(page)
        if page.paging is None:
            break
        after = page.paging.next.after
    listed = [c for page in pages for c in page.results]
    assert len(pages) > 1
    assert sorted(c.id for c in listed) == sorted(c.id for c in live_companies(sandbox))
    company = next(c for c in listed if c.associations)
    assert set(company.properties) == {"name", "domain", "numberofemployees"}
    assert company.properties["name"] == sandbox.objects["companies"][company.id].props["name"]
    deals = sandbox.company_deals(company.id)
    kinds = Counter(a.type for a in company.associations["deals"].results)
    assert kinds["company_to_deal_unlabeled"] == len(deals)
    assert kinds["company_to_deal"] == sum(primary for _, primary, _ in deals)
    binned = api.crm.companies.basic_api.get_page(archived=True, properties=["name"]).results
    assert [c.id for c in binned] == [c.id for c in sandbox.objects["companies"].values()
                                      if c.archived] and binned[0].archived  # fmt: skip


def test_deals_list_their_primary_company_twice_in_v3_associations(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    deal_id, company_id = next(iter(sandbox.primary_company.items()))
    deal = api.crm.deals.basic_api.get_by_id(deal_id, associations=["companies"])
    entries = {(a.id, a.type) for a in deal.associations["companies"].results}
    assert {(company_id, "deal_to_company"), (company_id, "deal_to_company_unlabeled")} <= entries


def test_companies_search_on_the_modification_time_sorted(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    stamps = sorted(c.lastmod_ms for c in live_companies(sandbox))
    since = stamps[len(stamps) // 2]
    found = api.crm.companies.search_api.do_search(
        sdk_companies.PublicObjectSearchRequest(
            filter_groups=[
                sdk_companies.FilterGroup(
                    filters=[
                        sdk_companies.Filter(
                            property_name="hs_lastmodifieddate", operator="GTE", value=str(since)
                        )
                    ]
                )
            ],
            sorts=["hs_lastmodifieddate"],
            properties=["name", "hs_lastmodifieddate"],
            limit=200,
        )
    )
    assert found.total == sum(ms >= since for ms in stamps) == len(found.results)
    got = [c.properties["hs_lastmodifieddate"] for c in found.results]
    assert got == sorted(got)
    named = api.crm.companies.search_api.do_search(
        sdk_companies.PublicObjectSearchRequest(query=found.results[0].properties["name"])
    )
    assert found.results[0].id in {c.id for c in named.results}


def test_company_properties_list_types_and_options(api: HubSpot, sandbox: FakeHubspot) -> None:
    props = {p.name: p for p in api.crm.properties.core_api.get_all("companies").results}
    assert {o.label for o in props["segment"].options} == {"Enterprise", "Mid-Market", "SMB"}
    assert not props["segment"].hubspot_defined and props["numberofemployees"].hubspot_defined
    assert (props["numberofemployees"].type, props["key_account"].field_type) == (
        "number",
        "booleancheckbox",
    )
    assert (props["renewal_date"].type, props["createdate"].type) == ("date", "datetime")
    industries = {a.industry for a in sandbox.world.accounts if a.industry}
    assert {o.label for o in props["industry"].options} == industries
    owners = {o["id"] for o in sandbox.owners if not o["archived"]}
    assert {o.value for o in props["hubspot_owner_id"].options} == owners


def test_v4_deal_to_company_batch_read_marks_the_primary_and_labels(
    api: HubSpot, sandbox: FakeHubspot
) -> None:
    labelled = next(
        d for d, links in sorted(sandbox.company_links.items()) if "Reseller" in links.values()
    )
    lonely = next(d.id for d in live_deals(sandbox) if not sandbox.deal_companies(d.id))
    answer = api.crm.associations.v4.batch_api.get_page(
        "deals",
        "companies",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": labelled}, {"id": lonely}]),
    )
    (result,) = answer.results
    assert result._from.id == labelled
    types = {
        str(t.to_object_id): {(a.category, a.type_id, a.label) for a in t.association_types}
        for t in result.to
    }
    primary = sandbox.primary_company[labelled]
    assert types[primary] >= {("HUBSPOT_DEFINED", 5, "Primary"), ("HUBSPOT_DEFINED", 341, None)}
    reseller = next(c for c, label in sandbox.company_links[labelled].items() if label)
    assert ("USER_DEFINED", 17, "Reseller") in types[reseller]
    assert answer.errors[0].sub_category.endswith("NO_ASSOCIATIONS_FOUND")
    back = api.crm.associations.v4.batch_api.get_page(
        "companies",
        "deals",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": primary}]),
    ).results[0]
    by_deal = {str(t.to_object_id): {a.type_id for a in t.association_types} for t in back.to}
    assert by_deal[labelled] == {342, 6}


def test_companies_batch_read_and_get_by_id(api: HubSpot, sandbox: FakeHubspot) -> None:
    company = live_companies(sandbox)[0]
    answer = api.crm.companies.batch_api.read(
        sdk_companies.BatchReadInputSimplePublicObjectId(
            inputs=[
                sdk_companies.SimplePublicObjectId(id=company.id),
                sdk_companies.SimplePublicObjectId(id="404404"),
            ],
            properties=["name", "segment"],
            properties_with_history=[],
        )
    )
    assert [c.id for c in answer.results] == [company.id]
    assert answer.errors[0].message.startswith("Could not get some COMPANY objects")
    one = api.crm.companies.basic_api.get_by_id(company.id, properties=["domain"])
    assert one.properties == {"domain": company.props["domain"]}
