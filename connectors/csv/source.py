"""The dlt source of a ``kind: csv`` source: export files -> canonical tables.

One resource per file, each file kind a spec below that one driver reads
(:mod:`connectors.csv.driver`): which canonical table, which keys, constants and defaults
complete a row, which field rules (:mod:`connectors.csv.rules`) its values pass, whether it
keeps custom fields (:mod:`connectors.csv.custom`). The deals file also yields what it
implies: stage events, pipelines and stages, links to accounts (:mod:`connectors.csv.deals`). Every batch goes to its canonical table as a dlt table
variant carrying that table's hints. A file whose fingerprint matches the last successful
load is skipped. Which files are optional is the options' say (:class:`CsvOptions`).
"""

from __future__ import annotations

import dlt
from dlt.sources import DltResource, DltSource

from connectors.base import SourceContext
from connectors.csv.deals import DealExtras
from connectors.csv.driver import TableSpec, read_file
from connectors.csv.options import CsvOptions
from connectors.csv.rules import ACTIVITY_TYPE, AMOUNT, CURRENCY, DOMAIN, PROBABILITY, STATUS
from models.canonical import Account, Activity, Deal, Owner, StageChange
from models.errors import ConfigError

DEFAULT_PIPELINE = "default"

DEALS = TableSpec(
    option="deals",
    model=Deal,
    entity="deals",
    record_id="source_deal_id",
    keys={"deal_key": "source_deal_id", "account_key": "account_id"},
    constants={"is_deleted": False},
    fills={"pipeline_id": DEFAULT_PIPELINE},
    duplicate="duplicate deal id; first seen on line {line}, this row is skipped",
    rules=(STATUS, AMOUNT, PROBABILITY, CURRENCY),
    custom_entity="deal",
    extras=DealExtras,
)
STAGE_HISTORY = TableSpec(
    option="stage_history",
    model=StageChange,
    entity="stage_changes",
    record_id="deal_id",
    keys={"deal_key": "deal_id"},
    reads={"deal_id": str},
    constants={"origin": "crm_history"},
    # No pipeline fill: a history row without one is in its deal's pipeline (the
    # transforms take the deal's), not in a "default" pipeline the deals may not use.
    # A change-log row whose stage is the stage it had (an amount edit in Salesforce's
    # Opportunity History) moves nothing.
    no_move=("from_stage_id", "stage_id"),
    # The key of stage_changes (deal_key is made from deal_id): a repeated event is left
    # out, so the file's events are unique unless stage_dates derives events too.
    repeat=("deal_id", "changed_at", "stage_id"),
    shares_table=lambda options: bool(options.deals.stage_dates),
)
ACTIVITIES = TableSpec(
    option="activities",
    model=Activity,
    entity="activities",
    record_id="source_activity_id",
    keys={"activity_key": "source_activity_id", "deal_key": "deal_id"},
    reads={"deal_id": str},
    constants={"is_deleted": False},
    duplicate="duplicate activity id; this row is skipped",
    rules=(ACTIVITY_TYPE,),
)
OWNERS = TableSpec(
    option="owners",
    model=Owner,
    entity="owners",
    record_id="source_owner_id",
    keys={"owner_key": "source_owner_id"},
    fills={"is_active": True},
)
ACCOUNTS = TableSpec(
    option="accounts",
    model=Account,
    entity="accounts",
    record_id="source_account_id",
    keys={"account_key": "source_account_id"},
    fills={"is_deleted": False},  # a mapped deleted column says otherwise
    duplicate="duplicate account id; first seen on line {line}, this row is skipped",
    rules=(DOMAIN,),
    custom_entity="account",
)
TABLES = (DEALS, STAGE_HISTORY, ACTIVITIES, OWNERS, ACCOUNTS)


def check_files_exist(ctx: SourceContext, options: CsvOptions) -> None:
    """A configured file that is not there is a mistake in hub.yml (exit 2), not a failed
    pull: say which file and which option names it, before anything is read."""
    where = ctx.config.config_path or "hub.yml"
    for spec in TABLES:
        file = getattr(options, spec.option)
        path = None if file is None else ctx.config.resolve_path(file.path)
        if path is not None and not path.exists():
            raise ConfigError(
                f"{path}: file not found; fix sources[{ctx.name}].options.{spec.option}.path "
                f"in {where} (a relative path is read from hub.yml's folder)"
            )


def build_source(ctx: SourceContext) -> DltSource:
    options: CsvOptions = ctx.options  # type: ignore[assignment]
    check_files_exist(ctx, options)

    @dlt.source(name=f"csv_{ctx.name}", max_table_nesting=0)
    def csv_source() -> list[DltResource]:
        # One resource per file, without table hints of its own: every batch it yields is
        # a table variant carrying its canonical table's hints (see driver.variant),
        # because a deals file also feeds stage_changes, stages, pipelines and quarantine.
        return [
            dlt.resource(read_file(ctx, options, spec), name=f"{spec.option}_file")
            for spec in TABLES
            if getattr(options, spec.option) is not None
        ]

    return csv_source()
