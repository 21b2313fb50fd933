"""The commented hub.yml that ``hub init`` writes."""

HUB_YML = """\
# hub.yml: what the CRM sync hub pulls, how it maps stages, where it writes.
# Paths are relative to this file. Credentials are references, never the token itself:
#   env:NAME  reads an environment variable;  dlt:NAME  reads .dlt/secrets.toml.

warehouse:
  kind: duckdb               # duckdb (embedded, default)
  path: .hub/hub.duckdb

# Every metric is computed at this instant, never the wall clock. Leave it out to use the
# time each run starts.
# as_of: 2026-06-30T00:00:00Z

base_currency: USD
fx_rates:                    # units of base currency per unit of each currency
  EUR: 1.08
  GBP: 1.27

# Canonical stages, in order. The terminal ones carry their outcome. stall_days sets when an
# open deal counts as stalled (default: the 90th percentile of past spells in that stage).
stages:
  - {name: prospecting, probability: 0.1}
  - {name: qualification, probability: 0.2}
  - {name: meeting, probability: 0.4}
  - {name: proposal, probability: 0.6}
  - {name: negotiation, probability: 0.8}
  - {name: closed_won, outcome: won, probability: 1.0}
  - {name: closed_lost, outcome: lost, probability: 0.0}

sources:
  # Any CRM export as CSV: map canonical fields to the file's own columns.
  - name: crm_export
    kind: csv
    options:
      deals:
        path: data/deals.csv
        columns:
          source_deal_id: opportunity_id   # required
          owner_id: sales_agent
          account_name: account
          stage_id: deal_stage
          created_at: engage_date
          closed_at: close_date
          amount: close_value
        defaults: {currency: USD}
        status_from_stage: {Won: won, Lost: lost}
        stage_dates: {Engaging: engage_date}   # "reached Engaging at engage_date"
      # accounts: {path: data/accounts.csv, columns: {source_account_id: id, name: name, website: website}}
      # custom_fields: all          # every other deals column, typed (or {product: text, seats: number})
      # activities: {path: data/activities.csv, columns: {source_activity_id: id, deal_id: deal, type: type, occurred_at: date}}
      # owners: {path: data/owners.csv, columns: {source_owner_id: id, name: name, email: email}}
      # stage_history: {path: data/history.csv, columns: {deal_id: deal, stage_id: stage, changed_at: at}}
    # Native stage (id or label) -> canonical stage, per pipeline ('*' = any pipeline).
    stage_map:
      "*":
        Prospecting: prospecting
        Engaging: qualification
        Won: closed_won
        Lost: closed_lost

  # - name: hubspot_eu
  #   kind: hubspot
  #   credentials: {token: env:HUBSPOT_TOKEN}
  # - name: pipedrive
  #   kind: pipedrive
  #   credentials: {api_token: env:PIPEDRIVE_TOKEN}
  #   options: {company_domain: mycompany}
  # - name: salesforce
  #   kind: salesforce
  #   credentials: {client_id: env:SF_CLIENT_ID, client_secret: env:SF_CLIENT_SECRET, refresh_token: env:SF_REFRESH_TOKEN}

# Fields (deal or account, canonical or custom) the *_by_dimension marts break down by.
# dimensions: [lead_source, segment, industry]

# Several CRMs: accounts of different sources are one company when their web domain (else
# their normalized name) matches; the same deal in two CRMs is counted once (docs/accounts.md).
# accounts:
#   same_company: [["crm_export:ACME-1", "hubspot_eu:1234"]]
# duplicates:
#   legacy_id_field: legacy_id   # a deal field holding the deal's id in the other CRM
#   prefer: [hubspot_eu]         # which source's copy the marts count

push:
  auto: false                # 'hub sync' pushes scores back only when true
  max_share: 0.25            # abort a push that would change more than this share of deals
  require_better_score: true # scores only when 'hub score --backtest' beats the stage rate
"""
