"""The plan and the result as rich tables, for the CLI.

Deal ids, values, reasons and errors come from the CRMs and the warehouse: they are printed
through ``escape`` or as ``Text``, never read as rich markup (``[/]`` in a value would fail).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hub.push.apply import PushResult, apply_push
from hub.push.plan import PushPlan, plan_push
from hub.push.setup import setup_fields
from models.config import HubConfig


def _short(value: str | None, width: int = 40) -> str:
    if value is None:
        return "-"
    return value if len(value) <= width else value[: width - 1] + "…"


def _cells(*values: str) -> list[Text]:
    """Table cells shown as they are (a rich Table reads a plain string as markup)."""
    return [Text(str(value)) for value in values]


def print_plan(console: Console, plan: PushPlan, *, limit: int = 50) -> None:
    for note in plan.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if not plan.sources:
        console.print("nothing to push: no configured source has a writer")
    for name, source in plan.sources.items():
        counts = source.counts
        title = (
            f"{name} ({source.crm}): {counts['write']:,} to write, {counts['conflict']:,} "
            f"conflicts, {counts['missing']:,} missing, {counts['confirm']:,} confirmed; "
            f"{counts['unchanged'] + counts['up_to_date']:,} unchanged; "
            f"{source.deals_to_change:,} of {source.deals_total:,} deals "
            f"({source.share:.0%})"
        )
        if source.error:
            console.print(Text(f"{name}: {source.error}", style="red"), soft_wrap=True)
        if not source.rows:
            console.print(Text(title), highlight=False)
            continue
        table = Table(
            "deal",
            "field",
            "current value",
            "new value",
            "action",
            title=Text(title),
            title_justify="left",
        )
        for row in source.rows[:limit]:
            action = row.action if not row.reason else f"{row.action}: {_short(row.reason, 60)}"
            table.add_row(
                *_cells(
                    row.deal_id,
                    row.field,
                    _short(row.current_value),
                    _short(row.new_value),
                    action,
                )
            )
        console.print(table)
        if len(source.rows) > limit:
            console.print(f"... and {len(source.rows) - limit:,} more rows", highlight=False)
        if source.share > plan.max_share:
            console.print(
                f"[yellow]{escape(name)}: over the safety cap of {plan.max_share:.0%}; "
                "--apply needs --force[/yellow]",
                highlight=False,
            )


def print_result(console: Console, result: PushResult) -> None:
    outcomes = ("written", "conflict", "failed", "retryable")
    columns = ("source", *outcomes, "write requests", "note")
    table = Table(*columns, title=f"push {result.run_id}", title_justify="left")
    for name, s in result.sources.items():
        counts = [f"{s.counts[outcome]:,}" for outcome in outcomes]
        table.add_row(Text(name), *counts, str(s.write_requests), Text(_short(s.error, 60)))
    console.print(table)
    for name, s in result.sources.items():
        if s.counts["by_other_run"]:
            console.print(
                Text(
                    f"{name}: {s.counts['by_other_run']:,} row(s) left to another push run "
                    "that claimed them first"
                ),
                highlight=False,
            )
    console.print("every row's outcome is in hub_meta.hub_push_log", highlight=False)


def push_command(
    config: HubConfig,
    console: Console,
    sources: list[str] | None = None,
    *,
    apply: bool = False,
    force: bool = False,
    setup: bool = False,
    limit: int = 50,
) -> int:
    """The body of ``hub push`` (and of ``hub sync`` when push.auto): its exit code."""
    if setup:
        for name, lines in setup_fields(config, sources).items():
            for line in lines:
                console.print(Text(f"{name}: {line}"), highlight=False, soft_wrap=True)
        return 0
    plan = plan_push(config, sources)
    print_plan(console, plan, limit=limit)
    if not apply:
        if plan.rows:
            console.print("plan only; 'hub push --apply' writes it", highlight=False)
        return 3 if any(s.error for s in plan.sources.values()) else 0
    result = apply_push(config, plan, force=force)
    print_result(console, result)
    bad = result.counts["failed"] + result.counts["retryable"]
    return 3 if bad or any(s.error for s in result.sources.values()) else 0
