"""What the report shows, read from the marts in schema ``analytics``.

Every figure is one function named for it (``FIGURES`` lists them in page order) querying
its mart (plus ``reps`` for names; the breakdown by dimension reads three), in portable SQL
(DuckDB and PostgreSQL). Numbers are passed on unchanged; the page only formats them, and
also writes the raw values into its tables so they can be checked.

The cross-CRM figures (companies, duplicates, breakdowns by a hub.yml dimension) read marts an
older hub did not build (``OPTIONAL_MARTS``); a warehouse without them still gets every other
figure, and those figures say what is missing instead of failing the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

import sqlalchemy as sa

from hub.warehouse import Warehouse
from models.config import HubConfig
from models.errors import ConfigError, WarehouseError

MARTS = "analytics"
ALL = "*"  # the marts' rollup value of a text dimension
ACTIVITY_WEEKS = 12  # rep activity window, weeks up to the latest week in rep_activity
# The deals that exist at as_of; the report counts those that are not a duplicate copy of a
# deal counted instead (the deals mart's is_counted; docs/metrics.md "Which deals count").
EXISTING = "NOT is_deleted AND created_at <= as_of"
COUNTED = "is_counted"
TOP_COMPANIES = 15  # companies listed in "Pipeline by company"

Kind = Literal[
    "text", "list", "int", "number", "score", "money", "rate", "days", "date", "bool", "decile"
]
Period = Literal["month", "quarter"]

REQUIRED_MARTS = (
    "deals",
    "reps",
    "stage_conversion",
    "win_rate",
    "sales_velocity",
    "time_in_stage",
    "stalled_deals",
    "forecast",
    "pipeline_coverage",
    "rep_activity",
    "sales_cycle",
)
# Built by hubs that resolve accounts and duplicates (issue #15); figures that read them are
# left out, with a note, when a warehouse was last transformed by an older hub.
DIMENSION_MARTS = ("win_rate_by_dimension", "deal_size_by_dimension", "sales_cycle_by_dimension")
OPTIONAL_MARTS = ("accounts", "duplicate_deals", *DIMENSION_MARTS)
HUB_META = "hub_meta"  # the deal score's backtests (hub/score/tables.py)
# Forecasts a backtest compares, in the order shown (docs/metrics.md "Backtest").
SCORE_MODELS = ("score", "stage_rate", "base_rate", "static")
NO_BACKTEST = (
    "No data: the deal score has no backtest yet; run 'hub score --backtest' "
    "(after 'hub transform') and then 'hub report'."
)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = "text"


@dataclass
class Figure:
    """One block of numbers: rendered as a table (with raw values) and usually a chart.

    ``facts`` are figures about the whole mart beside the rows (e.g. how many companies sit
    in several CRMs), written on the page as ``data-fact-*`` attributes. An ``omitted``
    figure is only its title and note (why it is not there)."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    omitted: bool = False


@dataclass
class Source:
    name: str
    crm: str
    deals: int  # counted deals
    duplicates: int | None = None  # duplicate copies left out; None: the marts cannot say


@dataclass
class ReportData:
    as_of: datetime | None
    base_currency: str
    period: Period
    stages: list[str]  # canonical order, then any other stage seen (e.g. unmapped)
    open_stages: list[str]
    stage_outcomes: dict[str, str | None]  # canonical stage -> won / lost / None
    sources: list[Source]
    rep_names: dict[str, str]  # rep_key -> unique display name
    kpis: Figure
    board: Figure
    funnel: Figure
    win_rate: Figure
    velocity: Figure
    time_in_stage: Figure
    stalled: Figure
    forecast: Figure
    coverage: Figure
    rep_activity: Figure
    companies: Figure
    by_dimension: Figure
    duplicates: Figure
    score_backtest: Figure
    score_calibration: Figure

    @property
    def figures(self) -> list[Figure]:
        return [getattr(self, figure.__name__) for figure in FIGURES]


def _num(value: Any) -> Any:
    """Decimals become floats (JSON, charts); everything else is kept."""
    return float(value) if isinstance(value, Decimal) else value


def _ratio(numerator: float | int | None, denominator: float | int | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _unique_names(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """rep_key -> a display name; two reps with the same name get their email's local part."""
    rows = list(rows)
    counts = Counter(r["rep_name"] or r["rep_key"] for r in rows)
    names = {}
    for r in rows:
        name = r["rep_name"] or r["rep_key"]
        if counts[name] > 1:
            name = f"{name} ({(r['email'] or r['rep_key']).split('@')[0]})"
        names[r["rep_key"]] = name
    return names


def stage_order(config: HubConfig, seen: Iterable[str]) -> list[str]:
    """hub.yml's canonical stages in order, then any other stage seen (e.g. unmapped)."""
    canonical = list(config.stage_names)
    return canonical + sorted(set(seen) - set(canonical))


def _sort_by_stage(rows: list[dict[str, Any]], stages: Sequence[str], *extra: str) -> None:
    position = {s: i for i, s in enumerate(stages)}
    rows.sort(
        key=lambda r: (
            position.get(r["canonical_stage"], len(position)),
            *(str(r[k]) for k in extra),
        )
    )


def check_marts(conn: sa.Connection) -> None:
    inspector = sa.inspect(conn)
    missing = [m for m in REQUIRED_MARTS if not inspector.has_table(m, schema=MARTS)]
    if missing:
        raise WarehouseError(
            f"the warehouse has no mart(s) {', '.join(f'{MARTS}.{m}' for m in missing)}; "
            "run 'hub sync' (or 'hub transform') first"
        )


def choose_dimension(config: HubConfig, name: str | None) -> str | None:
    """The dimension of the "By <dimension>" figure: ``name`` when hub.yml lists it, else
    hub.yml's first (None when it lists none)."""
    configured = list(config.dimensions)
    if name is None:
        return configured[0] if configured else None
    if name not in configured:
        listed = ", ".join(configured) if configured else "none are configured"
        raise ConfigError(
            f"--dimension {name!r} is not one of hub.yml's dimensions ({listed}); "
            "pick one of those, or add it under 'dimensions:' in hub.yml and run 'hub transform'"
        )
    return name


def load_report_data(
    config: HubConfig, *, period: Period = "month", dimension: str | None = None
) -> ReportData:
    if period not in ("month", "quarter"):
        raise ValueError(f"period must be month or quarter, not {period!r}")
    chosen = choose_dimension(config, dimension)
    warehouse = Warehouse(config)
    if not warehouse.exists():
        raise WarehouseError(f"no warehouse at {warehouse.describe()}; run 'hub sync' first")
    with warehouse.connect() as conn:
        check_marts(conn)
        warehouse.require_complete_build(conn)
        return _load(conn, config, period, chosen)


@dataclass
class Marts:
    """What the figures read: one connection, hub.yml, the period and dimension asked for,
    and the facts several figures share (stage order, rep names), each queried once."""

    conn: sa.Connection
    config: HubConfig
    period: Period
    dimension: str | None = None

    @cached_property
    def present(self) -> set[str]:
        """The optional marts this warehouse has."""
        inspector = sa.inspect(self.conn)
        return {m for m in OPTIONAL_MARTS if inspector.has_table(m, schema=MARTS)}

    @cached_property
    def resolves_duplicates(self) -> bool:
        """Whether the deals mart says which deals are duplicate copies (newer hubs)."""
        # Column names from an empty result: portable, where reflection is not (duckdb_engine).
        columns = self.conn.execute(sa.text(f"SELECT * FROM {MARTS}.deals WHERE 1 = 0")).keys()
        return {"is_counted", "is_duplicate"} <= set(columns)

    @property
    def counted(self) -> str:
        """The report's filter on the deals mart: is_counted, or on a warehouse an older hub
        transformed, the deals that exist (it found no duplicates)."""
        return COUNTED if self.resolves_duplicates else EXISTING

    def missing(self, *marts: str) -> str | None:
        """Why a figure reading ``marts`` is left out, or None when they are all here."""
        absent = [m for m in marts if m not in self.present]
        if not absent:
            return None
        names = ", ".join(f"{MARTS}.{m}" for m in absent)
        return (
            f"Not shown: this warehouse has no {names} (it was last transformed by an older "
            "hub); run 'hub transform' to add this figure."
        )

    def absent(self, key: str, title: str, columns: list[Column], *marts: str) -> Figure | None:
        """The note-only figure for a warehouse without ``marts``, or None when it has them."""
        why_not = self.missing(*marts)
        return Figure(key, title, columns, note=why_not, omitted=True) if why_not else None

    @cached_property
    def latest_backtest(self) -> dict[str, Any] | None:
        """run_id, run_at and as_of of the latest ``hub score --backtest``, if any."""
        if not sa.inspect(self.conn).has_table("hub_score_backtests", schema=HUB_META):
            return None
        found = self.rows(f"""
            SELECT run_id, run_at, as_of FROM {HUB_META}.hub_score_backtests
            ORDER BY run_at DESC, run_id DESC LIMIT 1""")
        return found[0] if found else None

    def backtest_rows(self, table: str, select: str, group_by: str = "") -> list[dict[str, Any]]:
        """``select`` from ``hub_meta.<table>`` for the latest backtest run (none before the
        first backtest): the one read both score figures make."""
        if self.latest_backtest is None:
            return []
        group = f" GROUP BY {group_by}" if group_by else ""
        return self.rows(
            f"SELECT {select} FROM {HUB_META}.{table} WHERE run_id = :r{group}",
            r=self.latest_backtest["run_id"],
        )

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        result = self.conn.execute(sa.text(sql), params)
        return [{k: _num(v) for k, v in row.items()} for row in result.mappings()]

    def select(self, columns: list[Column], source: str, **params: Any) -> list[dict[str, Any]]:
        """The figure's columns from ``source`` (a mart and what follows its name)."""
        keys = ", ".join(c.key for c in columns)
        return self.rows(f"SELECT {keys} FROM {MARTS}.{source}", **params)

    def scalar(self, sql: str) -> Any:
        return self.conn.execute(sa.text(sql)).scalar()

    @cached_property
    def board_rows(self) -> list[dict[str, Any]]:
        """Counted deals by current canonical stage x source (mart deals)."""
        return self.rows(f"""
            SELECT canonical_stage, source_name,
                   count(*) AS deals,
                   sum(amount_base) AS amount_base,
                   sum(weighted_amount_base) AS weighted_amount_base,
                   sum(CASE WHEN amount_base IS NULL THEN 1 ELSE 0 END) AS n_without_amount_base
            FROM {MARTS}.deals WHERE {self.counted}
            GROUP BY canonical_stage, source_name""")

    @cached_property
    def stages(self) -> list[str]:
        """Canonical order, then any other stage a counted deal is in (e.g. unmapped)."""
        return stage_order(self.config, (r["canonical_stage"] for r in self.board_rows))

    @cached_property
    def rep_names(self) -> dict[str, str]:
        return _unique_names(self.rows(f"SELECT rep_key, rep_name, email FROM {MARTS}.reps"))


def kpis(m: Marts) -> Figure:
    """Headline figures (marts deals, stalled_deals, sales_cycle)."""
    k = m.rows(f"""
        SELECT sum(CASE WHEN is_open THEN 1 ELSE 0 END) AS open_deals,
               sum(CASE WHEN is_open THEN amount_base END) AS open_amount_base,
               sum(CASE WHEN is_open THEN weighted_amount_base END) AS open_weighted_amount_base,
               sum(CASE WHEN is_won THEN 1 ELSE 0 END) AS won_deals,
               sum(CASE WHEN is_lost THEN 1 ELSE 0 END) AS lost_deals
        FROM {MARTS}.deals WHERE {m.counted}""")[0]
    stalled_k = m.rows(
        f"SELECT count(*) AS n, sum(amount_base) AS amount_base FROM {MARTS}.stalled_deals"
    )[0]
    cycle = m.rows(
        f"SELECT median_days FROM {MARTS}.sales_cycle WHERE outcome = 'won' AND source_name = :all",
        all=ALL,
    )
    won, lost = int(k["won_deals"] or 0), int(k["lost_deals"] or 0)
    median_won_days = cycle[0]["median_days"] if cycle else None
    headline = [
        ("open_deals", "Open deals", int(k["open_deals"] or 0), "int"),
        ("open_amount_base", "Open pipeline", k["open_amount_base"], "money"),
        ("open_weighted_amount_base", "Weighted pipeline", k["open_weighted_amount_base"], "money"),
        ("win_rate", "Win rate (all closed deals)", _ratio(won, won + lost), "rate"),
        ("won_deals", "Won deals", won, "int"),
        ("lost_deals", "Lost deals", lost, "int"),
        ("median_won_cycle_days", "Median sales cycle (won)", median_won_days, "days"),
        ("stalled_deals", "Stalled deals", int(stalled_k["n"] or 0), "int"),
        ("stalled_amount_base", "Stalled amount", stalled_k["amount_base"], "money"),
    ]
    return Figure(
        "kpis",
        "Headline figures",
        [Column("metric", "metric"), Column("label", "label"), Column("value", "value")],
        [
            {"metric": metric, "label": label, "value": value, "kind": kind}
            for metric, label, value, kind in headline
        ],
    )


def board(m: Marts) -> Figure:
    _sort_by_stage(m.board_rows, m.stages, "source_name")
    return Figure(
        "board",
        "Pipeline board: deals by canonical stage and source",
        [
            Column("canonical_stage", "stage"),
            Column("source_name", "source"),
            Column("deals", "deals", "int"),
            Column("amount_base", "amount", "money"),
            Column("weighted_amount_base", "weighted", "money"),
            Column("n_without_amount_base", "no base amount", "int"),
        ],
        m.board_rows,
        note="Counted deals (not deleted, created by as_of, not a duplicate copy of a deal "
        "in another CRM) in their canonical stage at as_of. Won and lost columns hold every "
        "deal closed by as_of.",
    )


# The two ways stage_conversion counts a deal as having reached a stage (docs/metrics.md),
# in the order the funnel shows them, with the words the page uses.
FUNNEL_MODES = {
    "any_order": "any order: in the stage or any later one",
    "strict_order": "strict order: in the stage itself",
}


def funnel(m: Marts) -> Figure:
    """Mart stage_conversion in both modes, all sources, pipelines and cohorts: a pipeline
    whose deals skip stages reads very differently in each."""
    columns = [
        Column("mode", "counted"),
        Column("canonical_stage", "stage"),
        Column("next_stage", "next stage"),
        Column("funnel_deals", "in funnel", "int"),
        Column("reached_count", "reached", "int"),
        Column("reached_next_count", "reached next", "int"),
        Column("next_step_conversion", "to next stage", "rate"),
        Column("cumulative_conversion", "of funnel", "rate"),
    ]
    rows = m.select(
        columns,
        """stage_conversion WHERE mode IN ('any_order', 'strict_order')
        AND source_name = :all AND pipeline_key = :all AND cohort_month IS NULL""",
        all=ALL,
    )
    _sort_by_stage(rows, m.stages)
    order = list(FUNNEL_MODES)
    rows.sort(key=lambda r: order.index(r["mode"]))  # stable: stage order within a mode
    return Figure(
        "funnel",
        "Funnel and stage conversion (all sources, all cohorts)",
        columns,
        rows,
        note="Two counts (mart stage_conversion). Any order: a deal reached a stage if it was "
        "ever in it or in a later stage, so skipped stages count as passed. Strict order: "
        "only deals that were in the stage itself, and reached next only by entering the "
        "next stage afterwards.",
    )


def win_rate(m: Marts) -> Figure:
    columns = [
        Column("period_start", m.period, "date"),
        Column("source_name", "source"),
        Column("won_count", "won", "int"),
        Column("lost_count", "lost", "int"),
        Column("closed_count", "closed", "int"),
        Column("win_rate", "win rate", "rate"),
        Column("won_amount_base", "won amount", "money"),
        Column("win_rate_by_value", "win rate by value", "rate"),
    ]
    return Figure(
        "win_rate",
        f"Win rate by {m.period} of close",
        columns,
        m.select(
            columns,
            """win_rate WHERE period_type = :period AND rep_key = :all AND pipeline_key = :all
            ORDER BY period_start, source_name""",
            period=m.period,
            all=ALL,
        ),
        note="won / (won + lost) of deals closed in the period; '*' = all sources.",
    )


def velocity(m: Marts) -> Figure:
    columns = [
        Column("period_start", m.period, "date"),
        Column("opportunities", "opportunities", "int"),
        Column("won_count", "won", "int"),
        Column("lost_count", "lost", "int"),
        Column("win_rate", "win rate", "rate"),
        Column("avg_won_amount_base", "avg won amount", "money"),
        Column("avg_won_cycle_days", "avg won cycle", "days"),
        Column("velocity_base_per_day", "velocity per day", "money"),
        Column("is_partial_period", "partial", "bool"),
    ]
    return Figure(
        "velocity",
        f"Sales velocity by {m.period}",
        columns,
        m.select(
            columns,
            "sales_velocity WHERE period_type = :period AND rep_key = :all ORDER BY period_start",
            period=m.period,
            all=ALL,
        ),
        note="opportunities x win rate x avg won amount / avg won cycle days, "
        "all inputs over the same period.",
    )


def time_in_stage(m: Marts) -> Figure:
    columns = [
        Column("canonical_stage", "stage"),
        Column("source_name", "source"),
        Column("spell_count", "spells", "int"),
        Column("mean_days", "mean", "days"),
        Column("median_days", "median", "days"),
        Column("p75_days", "p75", "days"),
        Column("p90_days", "p90", "days"),
    ]
    rows = m.select(columns, "time_in_stage WHERE final_outcome = 'all'")
    _sort_by_stage(rows, m.stages, "source_name")
    return Figure(
        "time_in_stage",
        "Time in stage (closed spells, days)",
        columns,
        rows,
        note="Spells that ended by as_of, every final outcome; '*' = all sources.",
    )


def stalled(m: Marts) -> Figure:
    rows = m.rows(f"""
        SELECT deal_key, deal_name, source_name, rep_key, canonical_stage, amount, currency,
               amount_base, days_in_current_stage, days_since_last_activity, threshold_days,
               reason
        FROM {MARTS}.stalled_deals
        ORDER BY amount_base DESC NULLS LAST, deal_key""")
    for r in rows:
        r["rep_name"] = m.rep_names.get(r["rep_key"], r["rep_key"])
    return Figure(
        "stalled",
        "Stalled deals",
        [
            Column("deal_name", "deal"),
            Column("source_name", "source"),
            Column("rep_name", "rep"),
            Column("canonical_stage", "stage"),
            Column("amount", "amount", "money"),
            Column("currency", "currency"),
            Column("amount_base", "amount (base)", "money"),
            Column("days_in_current_stage", "days in stage", "days"),
            Column("days_since_last_activity", "days since activity", "days"),
            Column("threshold_days", "threshold", "days"),
            Column("reason", "why"),
            Column("deal_key", "deal key"),
        ],
        rows,
        note="Open deals past their stage's threshold, in the stage or since the "
        "last activity (mart stalled_deals); largest first.",
    )


def forecast(m: Marts) -> Figure:
    """The '*' rows (all stages) by period first, then per stage."""
    columns = [
        Column("period_start", m.period, "date"),
        Column("canonical_stage", "stage"),
        Column("open_count", "open deals", "int"),
        Column("amount_base", "amount", "money"),
        Column("weighted_amount_base", "weighted", "money"),
        Column("n_without_amount_base", "no base amount", "int"),
        Column("n_without_probability", "no probability", "int"),
        Column("n_overdue", "overdue", "int"),
    ]
    rows = m.select(
        columns, "forecast WHERE period_type = :period AND rep_key = :all", period=m.period, all=ALL
    )
    rows.sort(key=lambda r: (r["period_start"] is None, r["period_start"] or date.min))
    by_stage = [r for r in rows if r["canonical_stage"] != ALL]
    _sort_by_stage(by_stage, m.stages)
    return Figure(
        "forecast",
        f"Forecast by {m.period} of expected close",
        columns,
        [r for r in rows if r["canonical_stage"] == ALL] + by_stage,
        note="Deals open at as_of by expected close date (empty period: no date); overdue = "
        "expected before as_of. Weighted = amount x probability.",
    )


def coverage(m: Marts) -> Figure:
    """Team quotas (rep '*') of mart pipeline_coverage, by period."""
    columns = [
        Column("period_start", m.period, "date"),
        Column("quota_base", "quota", "money"),
        Column("won_base", "won", "money"),
        Column("remaining_quota_base", "quota left", "money"),
        Column("open_count", "open deals", "int"),
        Column("open_pipeline_base", "open pipeline", "money"),
        Column("coverage", "coverage", "number"),
        Column("coverage_needed", "needed", "number"),
        Column("is_covered", "covered", "bool"),
    ]
    rows = m.select(
        columns,
        "pipeline_coverage WHERE period_type = :period AND rep_key = :all",
        period=m.period,
        all=ALL,
    )
    rows.sort(key=lambda r: r["period_start"])
    note = (
        "Open pipeline expected to close in the period divided by the team quota still to win "
        "(mart pipeline_coverage); needed = 1 / trailing win rate."
    )
    if not rows:
        note += (
            " No team quota for these periods: list them in the CSV that quotas_path in "
            "hub.yml names (owner_email empty for the team)."
        )
    return Figure("coverage", f"Pipeline coverage by {m.period}", columns, rows, note=note)


def rep_activity(m: Marts) -> Figure:
    """Per rep, sums over the ACTIVITY_WEEKS weeks up to the latest week in the mart."""
    last_week = m.scalar(f"SELECT max(week_start) FROM {MARTS}.rep_activity")
    rows: list[dict[str, Any]] = []
    first_week = None
    if last_week is not None:
        if isinstance(last_week, datetime):
            last_week = last_week.date()
        first_week = last_week - timedelta(weeks=ACTIVITY_WEEKS - 1)
        rows = m.rows(
            f"""
            SELECT rep_key, sum(calls) AS calls, sum(emails) AS emails,
                   sum(meetings) AS meetings, sum(tasks) AS tasks, sum(notes) AS notes,
                   sum(other_activities) AS other_activities, sum(activities) AS activities,
                   sum(CASE WHEN week_start = :last THEN open_deals END) AS open_deals,
                   sum(CASE WHEN week_start = :last THEN activities_per_open_deal END)
                       AS activities_per_open_deal
            FROM {MARTS}.rep_activity
            WHERE week_start >= :first AND week_start <= :last
            GROUP BY rep_key""",
            first=first_week,
            last=last_week,
        )
        for r in rows:
            r["rep_name"] = m.rep_names.get(r["rep_key"], r["rep_key"])
        rows.sort(key=lambda r: (-(r["activities"] or 0), r["rep_name"]))
    window = (
        f"the {ACTIVITY_WEEKS} weeks {first_week} to {last_week}"
        if first_week
        else "no activity yet"
    )
    return Figure(
        "rep_activity",
        f"Rep activity, last {ACTIVITY_WEEKS} weeks",
        [
            Column("rep_name", "rep"),
            Column("activities", "activities", "int"),
            Column("calls", "calls", "int"),
            Column("emails", "emails", "int"),
            Column("meetings", "meetings", "int"),
            Column("tasks", "tasks", "int"),
            Column("notes", "notes", "int"),
            Column("other_activities", "other", "int"),
            Column("open_deals", "open deals (last week)", "int"),
            Column("activities_per_open_deal", "activities / open deal (last week)", "number"),
            Column("rep_key", "rep key"),
        ],
        rows,
        note=f"Sums of mart rep_activity over {window} (weeks start Monday).",
    )


def companies(m: Marts) -> Figure:
    """The TOP_COMPANIES companies with the most open pipeline (mart accounts), and how many
    companies sit in several CRMs."""
    columns = [
        Column("company_name", "company"),
        Column("source_names", "sources", "list"),
        Column("n_sources", "CRMs", "int"),
        Column("open_count", "open deals", "int"),
        Column("open_amount_base", "open amount", "money"),
        Column("won_count", "won deals", "int"),
        Column("won_amount_base", "won amount", "money"),
        Column("win_rate", "win rate", "rate"),
        Column("company_key", "company key"),
    ]
    title = "Pipeline by company, across CRMs"
    if absent := m.absent("companies", title, columns, "accounts"):
        return absent
    totals = m.rows(f"""
        SELECT count(*) AS companies,
               sum(CASE WHEN n_sources >= 2 THEN 1 ELSE 0 END) AS in_several_crms,
               sum(CASE WHEN open_count > 0 THEN 1 ELSE 0 END) AS with_open_deals
        FROM {MARTS}.accounts""")[0]
    facts = {k: int(v or 0) for k, v in totals.items()}
    rows = m.select(
        columns,
        f"""accounts WHERE open_count > 0
        ORDER BY open_amount_base DESC NULLS LAST, open_count DESC, company_key
        LIMIT {TOP_COMPANIES}""",
    )
    return Figure(
        "companies",
        title,
        columns,
        rows,
        note=f"The {len(rows):,} companies with the most open pipeline, of "
        f"{facts['with_open_deals']:,} with open deals and {facts['companies']:,} in all; "
        f"{facts['in_several_crms']:,} companies sit in 2+ CRMs, their accounts resolved into "
        "one company by web domain, name and hub.yml overrides (mart accounts). Each deal "
        "counts once; win rate = won / (won + lost) by count.",
        facts=facts,
    )


def by_dimension(m: Marts) -> Figure:
    """Figures per value of one hub.yml dimension over all time: the *_by_dimension marts'
    rows for all reps, sources and pipelines. win_rate_by_dimension and
    deal_size_by_dimension hold close periods twice (month and quarter) and no all-time
    row, so their month rows are summed; sales_cycle_by_dimension has no period."""
    name = m.dimension
    columns = [
        Column("dimension_value", name or "value"),
        Column("closed_count", "closed deals", "int"),
        Column("won_count", "won", "int"),
        Column("lost_count", "lost", "int"),
        Column("win_rate", "win rate", "rate"),
        Column("won_amount_base", "won amount", "money"),
        Column("avg_won_amount_base", "average won deal", "money"),
        Column("median_won_cycle_days", "median sales cycle (won)", "days"),
    ]
    if name is None:
        return Figure(
            "by_dimension",
            "By dimension",
            columns,
            note="Not shown: hub.yml lists no dimensions (e.g. 'dimensions: [lead_source]', "
            "then 'hub transform').",
            omitted=True,
        )
    title = f"By {name}"
    if absent := m.absent("by_dimension", title, columns, *DIMENSION_MARTS):
        return absent
    every = "dimension = :d AND rep_key = :all AND source_name = :all"
    closed = m.rows(
        f"""
        SELECT dimension_value, sum(won_count) AS won_count, sum(lost_count) AS lost_count,
               sum(closed_count) AS closed_count, sum(won_amount_base) AS won_amount_base
        FROM {MARTS}.win_rate_by_dimension
        WHERE {every} AND pipeline_key = :all AND period_type = 'month'
        GROUP BY dimension_value""",
        d=name,
        all=ALL,
    )
    sizes = m.rows(
        f"""
        SELECT dimension_value, sum(bookings_base) AS bookings_base,
               sum(won_count) - sum(n_won_without_amount_base) AS won_with_amount
        FROM {MARTS}.deal_size_by_dimension
        WHERE {every} AND period_type = 'month'
        GROUP BY dimension_value""",
        d=name,
        all=ALL,
    )
    cycles = m.rows(
        f"""
        SELECT dimension_value, median_days FROM {MARTS}.sales_cycle_by_dimension
        WHERE dimension = :d AND source_name = :all AND outcome = 'won'""",
        d=name,
        all=ALL,
    )
    size_of = {r["dimension_value"]: r for r in sizes}
    cycle_of = {r["dimension_value"]: r["median_days"] for r in cycles}
    rows = []
    for r in closed:
        won, lost = int(r["won_count"] or 0), int(r["lost_count"] or 0)
        size = size_of.get(r["dimension_value"], {})
        rows.append(
            {
                "dimension_value": r["dimension_value"],
                "closed_count": int(r["closed_count"] or 0),
                "won_count": won,
                "lost_count": lost,
                "win_rate": _ratio(won, won + lost),
                "won_amount_base": r["won_amount_base"],
                "avg_won_amount_base": _ratio(
                    size.get("bookings_base"), size.get("won_with_amount")
                ),
                "median_won_cycle_days": cycle_of.get(r["dimension_value"]),
            }
        )
    rows.sort(
        key=lambda r: (
            r["dimension_value"] != ALL,
            r["dimension_value"] is None,
            -r["closed_count"],
            str(r["dimension_value"]),
        )
    )
    empty = (
        ""
        if rows
        else f" No closed deals for {name} in the marts yet (a dimension added to hub.yml "
        "appears after 'hub transform')."
    )
    return Figure(
        "by_dimension",
        title,
        columns,
        rows,
        note=f"Deals closed by as_of, all time, by the deal's {name} ('all' = every value; "
        "no value: the deal or its account has none). Average won deal over won deals with "
        "a base amount; sales cycle = created to won, in days. Marts *_by_dimension; "
        "'hub report --dimension NAME' picks another of hub.yml's dimensions." + empty,
        facts={"dimension": name},
    )


def duplicates(m: Marts) -> Figure:
    """Every pair duplicate detection found (mart duplicate_deals), weakest match first."""
    columns = [
        Column("name", "deal"),
        Column("source_name", "source"),
        Column("duplicate_of_name", "counted instead"),
        Column("duplicate_of_source_name", "its source"),
        Column("rule", "rule"),
        Column("score", "score", "number"),
        Column("is_duplicate", "left out", "bool"),
        Column("deal_key", "deal key"),
        Column("duplicate_of", "counted deal key"),
    ]
    title = "Duplicates found"
    if absent := m.absent("duplicates", title, columns, "duplicate_deals"):
        return absent
    rows = m.select(columns, "duplicate_deals ORDER BY score, rule, source_name, deal_key")
    left_out = sum(1 for r in rows if r["is_duplicate"])
    return Figure(
        "duplicates",
        title,
        columns,
        rows,
        note=f"The same deal entered in two CRMs (a migration, a hand-over): {left_out:,} of "
        f"{len(rows):,} copies are left out of every figure, and the deal in 'counted instead' "
        "is counted; a copy whose counted deal is deleted or gone still counts ('left out' "
        "empty). Rules: legacy_id (a field holds the other deal's id), account_name_dates "
        "(same company, similar name, agreeing facts; score = name similarity). Weakest match "
        "first; the chart counts copies per pair of sources.",
        facts={"pairs": len(rows), "left_out": left_out},
    )


def _model_rank(model: str) -> tuple[int, str]:
    """Where a forecast goes in the score figures: SCORE_MODELS order, then any other by name."""
    rank = SCORE_MODELS.index(model) if model in SCORE_MODELS else len(SCORE_MODELS)
    return rank, model


def score_backtest(m: Marts) -> Figure:
    """The latest backtest (hub_meta.hub_score_backtests): each cutoff x model."""
    columns = [
        Column("cutoff", "cutoff", "date"),
        Column("model", "forecast"),
        Column("n_scored", "deals scored", "int"),
        Column("n_won", "won", "int"),
        Column("brier", "Brier", "score"),
        Column("log_loss", "log loss", "score"),
        Column("auc", "AUC", "score"),
    ]
    title = "Deal score backtest"
    run = m.latest_backtest
    if run is None:
        return Figure("score_backtest", title, columns, note=NO_BACKTEST)
    rows = m.backtest_rows(
        "hub_score_backtests", "cutoff, model, n_scored, n_won, brier, log_loss, auc"
    )
    for r in rows:
        r["cutoff"] = _day(r["cutoff"])
    rows.sort(key=lambda r: (r["cutoff"] or 0, *_model_rank(r["model"])))
    pooled = {}
    for name in SCORE_MODELS:
        mine = [r for r in rows if r["model"] == name and r["brier"] is not None]
        n = sum(int(r["n_scored"]) for r in mine)
        pooled[f"pooled_brier_{name}"] = _ratio(
            sum(r["brier"] * int(r["n_scored"]) for r in mine), n
        )
    return Figure(
        "score_backtest",
        title,
        columns,
        rows,
        note=f"The latest 'hub score --backtest' ({run['run_id']}, as_of {_day(run['as_of'])}): "
        "at each cutoff every forecast is scored on the deals open then that closed by as_of. "
        "score = the learned deal score; stage_rate = win rate of the deal's stage and "
        "pipeline before the cutoff; base_rate = the win rate before it; static = hub.yml's "
        "stage probabilities. Brier and log loss: lower is better; AUC: 0.5 is a coin. "
        "Scores are written to the CRMs only when the score's Brier over all cutoffs beats "
        "the stage rate's.",
        facts={"run_id": run["run_id"], **pooled},
    )


def score_calibration(m: Marts) -> Figure:
    """Predicted vs observed per tenth of the predicted range, each forecast, over every
    cutoff of the latest backtest (hub_meta.hub_score_calibration, weighted by deals)."""
    columns = [
        Column("model", "forecast"),
        Column("decile", "predicted range", "decile"),
        Column("n", "deals", "int"),
        Column("mean_predicted", "mean predicted", "rate"),
        Column("observed_rate", "observed win rate", "rate"),
    ]
    title = "Deal score calibration"
    run = m.latest_backtest
    if run is None:
        return Figure("score_calibration", title, columns, note=NO_BACKTEST)
    rows = m.backtest_rows(
        "hub_score_calibration",
        """model, decile, sum(n) AS n,
        sum(n * mean_predicted) / sum(n) AS mean_predicted,
        sum(n * observed_rate) / sum(n) AS observed_rate""",
        group_by="model, decile",
    )
    rows.sort(key=lambda r: (*_model_rank(r["model"]), r["decile"]))
    return Figure(
        "score_calibration",
        title,
        columns,
        rows,
        note="Deals of every cutoff of the latest backtest, grouped by forecast and by tenth "
        "of the predicted probability (0-10%, 10-20% ...): a calibrated forecast's observed "
        "win rate equals its mean prediction, on the diagonal. Few deals in a tenth make its "
        "point noisy.",
        facts={"run_id": run["run_id"]},
    )


def _day(value: Any) -> Any:
    """A backtest instant as its day (cutoffs and as_of are midnights UTC)."""
    return value.date() if isinstance(value, datetime) else value


# The report's figures in page order; each is a ReportData field of the function's name.
FIGURES = (
    kpis,
    board,
    companies,
    funnel,
    time_in_stage,
    win_rate,
    velocity,
    by_dimension,
    stalled,
    forecast,
    coverage,
    rep_activity,
    duplicates,
    score_backtest,
    score_calibration,
)


def _sources(m: Marts) -> list[Source]:
    """Sources with a deal that exists at as_of: counted deals and duplicate copies left out."""
    copies = (
        f"sum(CASE WHEN {EXISTING} AND is_duplicate THEN 1 ELSE 0 END)"
        if m.resolves_duplicates
        else "NULL"
    )
    rows = m.rows(f"""
        SELECT source_name, crm, sum(CASE WHEN {m.counted} THEN 1 ELSE 0 END) AS deals,
               {copies} AS duplicates
        FROM {MARTS}.deals WHERE {EXISTING}
        GROUP BY source_name, crm ORDER BY source_name""")
    return [
        Source(
            r["source_name"],
            r["crm"],
            int(r["deals"]),
            None if r["duplicates"] is None else int(r["duplicates"]),
        )
        for r in rows
    ]


def _load(
    conn: sa.Connection, config: HubConfig, period: Period, dimension: str | None = None
) -> ReportData:
    m = Marts(conn, config, period, dimension)
    figures: dict[str, Any] = {figure.__name__: figure(m) for figure in FIGURES}
    open_names = set(config.open_stage_names)
    return ReportData(
        as_of=m.scalar(f"SELECT max(as_of) FROM {MARTS}.deals"),
        base_currency=config.base_currency,
        period=period,
        stages=m.stages,
        open_stages=[s for s in m.stages if s in open_names or s not in config.stage_names],
        stage_outcomes={s.name: s.outcome for s in config.stages},
        sources=_sources(m),
        rep_names=m.rep_names,
        **figures,
    )
