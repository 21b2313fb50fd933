"""``hub demo``: the whole job end to end with no credentials and no network.

One synthetic world is split over four sources: a CSV export and the HubSpot, Pipedrive
and Salesforce sandboxes, each served over real HTTP on 127.0.0.1 for the length of the
run. The hub pulls all four, transforms, prints one pipeline across them and writes the
consolidated report (``hub report``) to ``<out>/report.html``.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from connectors.registry import available_kinds, sandbox_class
from connectors.sandbox import SandboxSpec
from connectors.synthetic import World, WorldSpec
from connectors.synthetic.csv_export import write_csv_source
from hub.generate import csv_source_entry, demo_config, write_demo_quotas
from hub.pull import SourceRun, run_pull
from hub.push import apply_push, plan_push, setup_fields
from hub.push.render import print_plan, print_result
from hub.report import write_report
from hub.summary import summarize
from hub.transform import run_transform
from hub.warehouse import Warehouse
from models.config import HubConfig, load_config
from models.errors import HubError

SANDBOX_KINDS = ("hubspot", "pipedrive", "salesforce")
# Share of each source's deals the next source also holds (a CRM migration in progress), so
# the demo shows duplicates found and counted once.
DEMO_DUPLICATE_SHARE = 0.03
# Deals win for reasons (rep, account, activity, dwell...) plus luck, so the learned deal
# score has something to find (connectors.synthetic.signal).
DEMO_SIGNAL = 1.0


def write_demo_config(
    out: Path,
    sources: list[dict[str, Any]],
    spec: WorldSpec,
    warehouse: dict[str, Any] | None = None,
    push: dict[str, Any] | None = None,
) -> Path:
    path = out / "hub.yml"
    config = demo_config(spec, sources)
    config["quotas_path"] = write_demo_quotas(out / "quotas.csv", spec).name
    if push:
        config["push"] = push
    if warehouse:
        config = {"warehouse": warehouse, **config}
    path.write_text(
        "# Written by 'hub demo': a CSV export and three CRM sandboxes on 127.0.0.1.\n"
        "# The sandboxes live only while 'hub demo' runs; their ports change every run.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def pulled_line(run: SourceRun) -> str:
    """``pulled NAME: STATUS in N requests; rows per table``, with no part left dangling."""
    head = f"pulled {run.source_name}: {run.status}"
    if run.stats.total:
        head += f" in {run.stats.total:,} requests"
    rows = ", ".join(f"{n:,} {t}" for t, n in sorted(run.rows.items()))
    return f"{head}; {rows or 'no new rows'}"


def run_demo(
    out: Path,
    *,
    deals: int,
    seed: int,
    console: Console,
    err_console: Console,
    warehouse: dict[str, Any] | None = None,
    push: dict[str, Any] | None = None,
) -> Path:
    """Run the demo; ``warehouse`` (a hub.yml warehouse section) defaults to DuckDB;
    ``push`` is hub.yml's push section (tests use it to switch the score guard off)."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in SANDBOX_KINDS if k in available_kinds()]
    n_sources = 1 + len(kinds)
    per_source = max(10, deals // n_sources)
    spec = WorldSpec(
        seed=seed,
        n_deals=per_source * n_sources,
        duplicate_share=DEMO_DUPLICATE_SHARE,
        signal=DEMO_SIGNAL,
    )
    with console.status(f"writing the CSV export ({per_source:,} deals)"):
        export = write_csv_source(World(spec), out / "csv", source_index=0, n_sources=n_sources)
    sources = [csv_source_entry(export, "csv_export", out)]
    with ExitStack() as stack:
        for index, kind in enumerate(kinds, start=1):
            server = sandbox_class(kind)(
                SandboxSpec(
                    seed=seed,
                    n_deals=per_source,
                    source_index=index,
                    n_sources=n_sources,
                    duplicate_share=DEMO_DUPLICATE_SHARE,
                    signal=DEMO_SIGNAL,
                )
            )
            base_url = server.start()
            stack.callback(server.stop)
            sources.append(server.source_config(f"{kind}_demo"))
            console.print(f"{kind} sandbox at {base_url}")
        config_path = write_demo_config(out, sources, spec, warehouse, push)
        config = load_config(config_path)
        with console.status("hub sync: pulling four sources"):
            results = run_pull(config)
        for run in results:
            console.print(pulled_line(run), highlight=False)
        failed = [r for r in results if r.status != "ok"]
        if failed:
            raise HubError("; ".join(r.error or r.status for r in failed))
        with console.status("hub sync: transform (dbt)"):
            transformed = run_transform(config)
        console.print(
            f"transformed: {transformed.models} models, {transformed.tests} tests passed "
            f"in {transformed.duration_s:.1f}s at as_of {transformed.as_of}"
        )
        summary = summarize(config)
        table = Table(
            "source",
            *summary.stages,
            title="deals per canonical stage, all CRMs (duplicates counted once)",
        )
        for source, per in sorted(summary.counts.items()):
            table.add_row(source, *(f"{per.get(s, 0):,}" for s in summary.stages))
        console.print(table)
        rate = summary.win_rate
        console.print(
            f"win rate: {rate:.1%} ({summary.won:,} won, {summary.lost:,} lost)"
            if rate is not None
            else "win rate: n/a (no closed deals)"
        )
        console.print(
            f"accounts: {summary.accounts:,} from {len(summary.counts)} sources resolved into "
            f"{summary.companies:,} companies, {summary.shared_companies:,} of them in 2+ CRMs; "
            f"{summary.duplicates:,} duplicate deals found across CRMs and counted once"
        )

        # ----- the score's backtest: push writes scores only when they beat the stage rate --
        with console.status("hub score --backtest: the learned score against its baselines"):
            console.print(backtest_line(config))

        # ----- push of scores: plan, then apply, while the sandboxes still serve -----------
        with console.status("hub push: creating the score fields, planning, applying"):
            setup_fields(config)
            plan = plan_push(config)
            pushed = apply_push(config, plan)
        print_plan(console, plan, limit=5)
        print_result(console, pushed)

    # ----- report -------------------------------------------------------------------------------
    with console.status("hub report: writing the consolidated pipeline page"):
        report_path = write_report(config, out / "report.html")
    console.print(f"report:    {report_path} (open it in a browser; works offline)")
    console.print(f"warehouse: {Warehouse(config).describe()}")
    console.print(
        f"config:    {config_path} (the sandboxes are stopped now; "
        f"'hub status --config {config_path}' still works)"
    )
    return config_path


def backtest_line(config: HubConfig) -> str:
    """Run the backtest the push guard reads, and say what it decided."""
    from hub.score.backtest import BacktestError, run_backtest
    from hub.score.guard import score_verdict

    try:
        run_backtest(config)
    except BacktestError as exc:
        return f"backtest: {exc}"
    with Warehouse(config).connect() as conn:
        verdict = score_verdict(conn)
    if not verdict.allowed and not config.push.require_better_score:
        return f"backtest: {verdict.message.split(';')[0]}; pushed anyway (guard off in hub.yml)"
    return f"backtest: {verdict.message}"
