"""``hub demo``: the whole job end to end on generated data, no credentials, no network."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from hub.generate import generate
from hub.pull import overall_exit_code, run_pull
from hub.summary import summarize
from hub.transform import run_transform
from hub.warehouse import Warehouse
from models.config import load_config
from models.errors import HubError


def run_demo(out: Path, *, deals: int, seed: int, console: Console, err_console: Console) -> None:
    out = out.resolve()
    with console.status(f"generating a synthetic CRM export of {deals:,} deals"):
        generated = generate(out / "data", seed=seed, deals=deals)
    config_path = generated.config_path
    assert config_path is not None
    config = load_config(config_path)
    with console.status("hub sync: pull"):
        results = run_pull(config)
    for run in results:
        console.print(f"pulled {run.source_name}: {run.status}, "
                      + ", ".join(f"{n:,} {t}" for t, n in sorted(run.rows.items())))
    if overall_exit_code(results) != 0:
        raise HubError("; ".join(r.error or r.status for r in results if r.status != "ok"))
    with console.status("hub sync: transform (dbt)"):
        transformed = run_transform(config)
    console.print(f"transformed: {transformed.models} models, {transformed.tests} tests passed "
                  f"in {transformed.duration_s:.1f}s at as_of {transformed.as_of}")
    summary = summarize(config)
    table = Table("source", *summary.stages, title="deals per canonical stage")
    for source, per in sorted(summary.counts.items()):
        table.add_row(source, *(f"{per.get(s, 0):,}" for s in summary.stages))
    console.print(table)
    rate = summary.win_rate
    console.print(f"win rate: {rate:.1%} ({summary.won:,} won, {summary.lost:,} lost)"
                  if rate is not None else "win rate: n/a (no closed deals)")
    console.print(f"warehouse: {Warehouse(config).describe()}")
    console.print(f"config:    {config_path}  (try: hub status --config {config_path})")
