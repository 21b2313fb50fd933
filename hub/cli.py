"""The ``hub`` command line: a thin shell, one library call per command.

Known errors become one line and an exit code: 0 ok, 1 failed, 2 config error, 3 partial
(some sources failed), 4 busy (another run holds the warehouse or a source; ``--wait``).
Only this edge catches broadly; ``--debug`` shows tracebacks.

Everything from data or the user (names, values, messages, paths) goes to the terminal through
``escape`` or as ``rich.text.Text``: rich would read ``[/]`` or ``[red]`` in it as markup and
fail, or swallow text such as ``[hs]`` in ``sources[hs]``.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

# dlt logs what it then raises (with tracebacks); the hub says it once, in one line.
os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandFunctionType

from connectors.values import as_utc
from models.config import HubConfig, load_config
from models.errors import ConfigError, HubError

if TYPE_CHECKING:
    from hub.profile import Profile

# Nor the traceback sqlalchemy's pool logs when it cannot reset a connection a full disk
# broke, nor "--- Logging error ---" when dbt cannot write its log file (a full disk): the
# hub says what happened.
_pool_log = logging.getLogger("sqlalchemy.pool")
_pool_log.addHandler(logging.NullHandler())
_pool_log.propagate = False  # a library's basicConfig on the root logger would print it
logging.raiseExceptions = False


def _flags_as_flags(params: list[Any]) -> list[Any]:
    """Blank the value type of every flag in the help. Typer's rich help prints a type beside
    every option, so flags read ``--debug <bool>`` (``--help`` too) as if they took a value;
    a flag's metavar is used nowhere else (parsing, usage and errors use its names)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class HubCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.short_help is None and self.help:
            # The command list of `hub --help` shows a docstring's first paragraph with its
            # line breaks, mid-sentence; the command's own help joins them. Join them here too.
            first_paragraph = inspect.cleandoc(self.help).split("\n\n")[0]
            self.short_help = " ".join(first_paragraph.split())

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))


class HubGroup(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_as_flags(super().get_params(ctx))


class HubTyper(typer.Typer):
    """typer.Typer whose commands are HubCommands unless a command names its own class."""

    def command(  # type: ignore[override]  # the same arguments, passed on
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", HubCommand)
        return super().command(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The process's entry (the `hub` script, `python -m hub.cli`); a test's CliRunner
        # calls the click command instead, in a process that started long before.
        OWN_PROCESS["on"] = True
        return super().__call__(*args, **kwargs)


app = HubTyper(
    cls=HubGroup,
    help="CRM sync hub: pull CRMs into one canonical pipeline schema, compute metrics, push back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to hub.yml.", envvar="HUB_CONFIG")
]
DEBUG = {"on": False}
OWN_PROCESS = {"on": False}  # the command runs as its own process: its start-up is profiled
# Width when output goes to a file or pipe and COLUMNS is not set: rich would use 80 (or
# the terminal's width) and cut table cells ("hubspo…"); a log or a pager wants them whole.
UNBOUNDED_WIDTH = 1000


def fit_width(*consoles: Console) -> None:
    """COLUMNS when set; a terminal's own width; otherwise wide enough to cut nothing."""
    columns = os.environ.get("COLUMNS", "")
    for console_ in consoles:
        if columns.isdigit():
            console_.width = int(columns)
        elif not console_.is_terminal:
            console_.width = UNBOUNDED_WIDTH
        else:
            console_.width = None  # type: ignore[assignment]  # the terminal size, per print


def _print_version(requested: bool) -> None:
    if requested:
        from importlib.metadata import version

        console.print(f"hub {version('crm-sync-hub')}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    DEBUG["on"] = debug
    fit_width(console, err_console)


def _guard(fn: Callable[[], T]) -> T:
    """Run a command body; turn errors into one line and the documented exit code."""
    try:
        return fn()
    except HubError as exc:
        if DEBUG["on"]:
            raise
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted; state of finished steps is saved, rerun to continue")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # the CLI edge: never a traceback by default
        if DEBUG["on"]:
            raise
        from hub.warehouse.disk import find_disk_full

        full = find_disk_full(exc)
        if full is not None:  # a step that does not say it itself (pull and transform do)
            where = f" writing {full.path}" if full.path else ""
            err_console.print(
                f"[red]error:[/red] disk full{escape(where)}: {escape(full.text[:300])}; "
                "free space there, then rerun",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        from hub.warehouse.damaged import damaged_error, find_damage, warehouse_file

        damage = find_damage(exc)
        if damage is not None:  # wherever DuckDB met it (pull and transform say it themselves)
            loaded = LOADED.get("config")
            path = warehouse_file(loaded) if loaded is not None else None
            error = damaged_error(path, damage)
            err_console.print(
                f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(error.exit_code) from None
        first_line = str(exc).splitlines()[0][:400] if str(exc) else ""
        err_console.print(
            f"[red]unexpected error:[/red] {type(exc).__name__}: {escape(first_line)}"
            " (rerun with 'hub --debug ...' for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


# The hub.yml the command loaded, for errors that reach _guard without naming the warehouse.
LOADED: dict[str, HubConfig] = {}


def _load(path: Path) -> HubConfig:
    """hub.yml, validated; what it accepts but warns about goes to stderr."""
    config = load_config(path)
    LOADED["config"] = config
    for warning in config.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    return config


def cells(*values: str | None) -> list[Text]:
    """Table cells that show data as it is: a rich Table reads a plain string as markup."""
    return [Text(value or "") for value in values]


# ----- init / generate ---------------------------------------------------------------------

SignalOption = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Deals win for reasons a score can learn (rep, account, activity, time in stage, "
        "amount, lead source) plus luck: 1 realistic, 0 luck alone. Left out: the original "
        "world, where the stage funnel and the amount decide.",
    ),
]


@app.command()
def init(
    config: ConfigOption = Path("hub.yml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented hub.yml to start from."""
    from hub.init_template import HUB_YML

    def body() -> None:
        if config.exists() and not force:
            raise ConfigError(f"{config} already exists; pass --force to overwrite it")
        config.write_text(HUB_YML, encoding="utf-8")
        console.print(f"wrote {escape(str(config))}; edit its sources, then run 'hub sync'")

    _guard(body)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder for the CSV files and hub.yml.")] = Path(
        "generated"
    ),
    deals: Annotated[int, typer.Option(min=1, help="Number of deals.")] = 2000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 42,
    activities_per_deal: Annotated[
        float, typer.Option(min=0, help="Mean activities per deal.")
    ] = 3.0,
    signal: SignalOption = None,
) -> None:
    """Write a deterministic synthetic CRM export (CSV), its ground truth and a hub.yml."""
    from hub.generate import generate as run_generate

    def body() -> None:
        with console.status(f"generating {deals:,} deals"):
            result = run_generate(
                out,
                seed=seed,
                deals=deals,
                activities_per_deal=activities_per_deal,
                signal=signal,
            )
        counts = ", ".join(f"{n:,} {t}" for t, n in result.export.row_counts.items())
        truth = result.export.truth_path.name
        if result.export.win_probability_path is not None:
            truth += f" and {result.export.win_probability_path.name}"
        console.print(f"wrote {counts} to {escape(str(out))}/ (truth in {escape(truth)})")
        console.print(f"next: hub sync --config {escape(str(result.config_path))}")

    _guard(body)


# ----- pull / transform / sync ---------------------------------------------------------------


def _pull(
    cfg: HubConfig, only: list[str] | None, full_refresh: bool, profile: Profile | None = None
) -> int:
    from hub.pull import overall_exit_code, run_pull

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}

        def start(source: Any) -> None:
            tasks[source.name] = progress.add_task(
                f"pull {escape(source.name)} ({escape(source.kind)})", total=1
            )

        def done(run: Any) -> None:
            rows = sum(run.rows.values())
            color = {"ok": "green", "stopped": "yellow", "failed": "red"}[run.status]
            note = f"[{color}]{run.status}[/{color}]"
            extra = f", {run.quarantined} quarantined" if run.quarantined else ""
            if run.recovered_packages:
                extra += (
                    f", finished {run.recovered_packages} load package(s) of an interrupted run"
                )
            for said in run.notes:
                extra += f", {escape(said)}"
            if run.set_aside_packages:
                extra += f", re-read in full ({run.set_aside_packages} broken package(s) set aside)"
            progress.update(
                tasks[run.source_name],
                completed=1,
                description=f"pull {escape(run.source_name)}: {note} {rows:,} rows{extra}",
            )

        results = run_pull(
            cfg, only=only, full_refresh=full_refresh, on_source_start=start, on_source_done=done
        )
    if profile is not None:
        profile.add_pull(results)
    for run in results:
        for warning in run.stats.warnings:
            err_console.print(
                f"[yellow]warning:[/yellow] {escape(run.source_name)}: {escape(warning)}",
                highlight=False,
            )
        if run.error:
            err_console.print(
                f"[red]{run.status}:[/red] {escape(run.error)}", highlight=False, soft_wrap=True
            )
        if run.traceback and DEBUG["on"]:
            err_console.print(Text(run.traceback), highlight=False, soft_wrap=True)
    return overall_exit_code(results)


def _transform(
    cfg: HubConfig,
    as_of: datetime | None,
    full_refresh: bool = False,
    profile: Profile | None = None,
) -> None:
    import time

    from hub.transform import run_transform

    started = time.perf_counter()

    with Progress(
        TextColumn("transform"),
        BarColumn(),
        TextColumn("{task.completed} nodes"),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("dbt", total=None)
        result = run_transform(
            cfg,
            as_of=as_of,
            on_node=lambda _id, _status: progress.advance(task),
            full_refresh=full_refresh,
        )
    plan = result.plan
    if plan is not None and plan.skip:
        console.print(
            f"transform: {plan.reason}; the marts are current at as_of {result.as_of}",
            highlight=False,
        )
    else:
        how = "" if plan is None else (f"full ({plan.reason})" if plan.full else plan.reason)
        console.print(
            f"transform: {how + ', ' if how else ''}{result.models} models, {result.tests} "
            f"tests passed at as_of {result.as_of} in {result.duration_s:.1f}s",
            highlight=False,
        )
    if profile is not None:
        wall = time.perf_counter() - started
        profile.add_transform(
            wall,
            result.duration_s,
            result.scores_s,
            result.nodes,
            after_dbt_s=result.after_dbt_s,
        )
    # Resolution (e.g. an override key no account has) and dbt tests that only warn.
    for warning in result.warnings:
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True
        )


def _profile(command: str) -> Profile:
    """A command's profile, made once hub.yml is loaded; in its own process it starts with
    the process's start-up (interpreter, imports, hub.yml)."""
    from hub.profile import Profile, process_age_s

    return Profile(command, startup_s=process_age_s() if OWN_PROCESS["on"] else None)


def _end_profile(cfg: HubConfig, profile: Profile, *, show: bool) -> None:
    """Record the run's profile in hub_meta.hub_profile; print it with --profile."""
    from hub.profile import record, render

    profile.finish()
    try:
        record(cfg, profile)
    except Exception as exc:  # noqa: BLE001 - the run itself is done; say so, keep its exit code
        err_console.print(
            Text(f"warning: the run's profile was not recorded: {str(exc).splitlines()[0][:200]}"),
            highlight=False,
        )
    if show:
        console.print(render(profile))


def _print_undated(cfg: HubConfig) -> None:
    """How many deals had no creation date and what the marts did with them."""
    from hub.status import undated_deals

    undated = undated_deals(cfg)
    line = undated.describe() if undated else None
    if line:
        console.print(f"note: {escape(line)}", highlight=False, soft_wrap=True)


def _set_wait(seconds: float) -> float:
    from hub import locks

    locks.policy.wait_s = seconds
    locks.policy.on_wait = lambda what, wait_s: err_console.print(
        Text(f"waiting up to {wait_s:g} s: {what}")
    )
    return seconds


WaitOption = Annotated[
    float,
    typer.Option(
        min=0,
        callback=_set_wait,
        help="When another hub run is using the warehouse or a source, wait up to this many "
        "seconds for it (default: exit 4 at once).",
    ),
]
SourcesOption = Annotated[
    list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
]
FullRefreshOption = Annotated[bool, typer.Option(help="Re-read everything, ignoring cursors.")]
ProfileOption = Annotated[
    bool,
    typer.Option(
        "--profile",
        help="Print seconds per step when done: per source extract, normalize, load; the "
        "transform's preparation and each dbt model. Every run records them ('hub status "
        "--profile' shows the last).",
    ),
]
AsOfOption = Annotated[
    datetime | None, typer.Option(help="Compute metrics at this instant (default: hub.yml or now).")
]


@app.command()
def pull(
    config: ConfigOption = Path("hub.yml"),
    source: SourcesOption = None,
    full_refresh: FullRefreshOption = False,
    wait: WaitOption = 0.0,
    profile: ProfileOption = False,
) -> None:
    """Pull every source (or --source NAME) into the warehouse."""

    def body() -> int:
        cfg, steps = _load(config), _profile("pull")
        code = _pull(cfg, source, full_refresh, steps)
        _end_profile(cfg, steps, show=profile)
        return code

    raise typer.Exit(_guard(body))


TransformFullRefreshOption = Annotated[
    bool,
    typer.Option(
        "--full-refresh",
        help="Rebuild every deal's stage history, not only the deals that changed.",
    ),
]


@app.command()
def transform(
    config: ConfigOption = Path("hub.yml"),
    as_of: AsOfOption = None,
    full_refresh: TransformFullRefreshOption = False,
    wait: WaitOption = 0.0,
    profile: ProfileOption = False,
) -> None:
    """Rebuild stage history (only for the deals that changed since the last transform) and
    every mart with dbt (no pull); prints warnings, e.g. a hub.yml account override naming no
    account."""

    def body() -> None:
        cfg, steps = _load(config), _profile("transform")
        _transform(cfg, as_utc(as_of), full_refresh, steps)
        _end_profile(cfg, steps, show=profile)

    _guard(body)


@app.command()
def sync(
    config: ConfigOption = Path("hub.yml"),
    source: SourcesOption = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            help="Re-read everything, ignoring cursors, and rebuild every deal's stage history."
        ),
    ] = False,
    as_of: AsOfOption = None,
    strict_stages: Annotated[
        bool,
        typer.Option(
            "--strict-stages",
            help="Exit 1, without transforming, when a native stage maps to no canonical stage.",
        ),
    ] = False,
    wait: WaitOption = 0.0,
    profile: ProfileOption = False,
) -> None:
    """Pull every source, then transform. Exit 3 when some sources failed. Says which native
    stages are unmapped and which stage_map keys match no native stage."""
    from hub.locks import holding_warehouse

    def body() -> int:
        cfg, steps = _load(config), _profile("sync")
        with holding_warehouse(cfg, "sync"):  # no other run between the steps
            code = steps_of(cfg, steps)
            _end_profile(cfg, steps, show=profile)
        return code

    def steps_of(cfg: HubConfig, steps: Profile) -> int:
        code = _pull(cfg, source, full_refresh, steps)
        if code == 1:
            return code
        if _warn_stages(cfg, profile=steps) and strict_stages:
            err_console.print(
                "[red]error:[/red] unmapped native stages and --strict-stages: not "
                "transformed; map them under the source's stage_map in hub.yml "
                "('hub stages' lists them)",
                highlight=False,
            )
            return 1
        _transform(cfg, as_utc(as_of), full_refresh, steps)
        _print_undated(cfg)
        if cfg.push.auto:
            from hub.push.render import push_command

            code = max(code, push_command(cfg, console, source, apply=True))
        return code

    raise typer.Exit(_guard(body))


def _warn_stages(cfg: HubConfig, out: Console = err_console, profile: Profile | None = None) -> int:
    """Print unmapped native stages and stage_map keys that match none; returns how many
    native stages are unmapped. Timed in a sync's profile: it reads every deal and every
    stage-history row back."""
    import time

    from hub.profile import STAGE_WARNINGS
    from hub.stages import stage_warnings

    started = time.perf_counter()
    lines, unmapped = stage_warnings(cfg)
    if profile is not None:
        profile.add(STAGE_WARNINGS, time.perf_counter() - started)
    for line in lines:
        out.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)
    return unmapped


# ----- inspection -------------------------------------------------------------------------------


@app.command()
def status(
    config: ConfigOption = Path("hub.yml"),
    limit: Annotated[
        int, typer.Option(min=0, help="How many runs (or quarantined records) to show.")
    ] = 10,
    quarantine: Annotated[
        str | None,
        typer.Option(
            help="Show quarantined records of SOURCE in line order, each reason written once."
        ),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile", help="Show where the last pull, transform or sync spent its time."
        ),
    ] = False,
) -> None:
    """Last runs: rows per table, requests, quarantined rows, durations, warnings; unmapped
    native stages; undated deals; whether the marts are one complete build."""
    from hub.status import marts_state, quarantine_counts, quarantine_groups, recent_runs

    def body() -> None:
        cfg = _load(config)
        if profile:
            from hub.profile import latest, render

            last = latest(cfg)
            if last is None:
                console.print("no profile recorded yet; run 'hub sync'")
            else:
                console.print(Text(f"started {str(last.started_at)[:19]} UTC"))
                console.print(render(last))
            return
        if quarantine:
            cfg.source(quarantine)
            groups, total = quarantine_groups(cfg, quarantine, limit)
            table = Table(
                "entity",
                "where",
                "column",
                "value",
                "reason",
                title=Text(f"quarantine: {quarantine}"),
            )
            for group in groups:
                for i, q in enumerate(group.rows):
                    table.add_row(
                        *cells(
                            q["entity"],
                            q["location"],
                            q["column_name"],
                            q["value"],
                            group.reason if i == 0 else "",
                        ),
                        end_section=i == len(group.rows) - 1,
                    )
            console.print(table)
            shown = sum(len(g.rows) for g in groups)
            if shown < total:
                console.print(
                    f"showing {shown:,} of {total:,} quarantined records; --limit N shows more",
                    highlight=False,
                )
            return
        runs = recent_runs(cfg, limit)
        if not runs:
            console.print("no runs yet; run 'hub sync'")
            return
        table = Table(
            "started",
            "source",
            "status",
            "rows",
            "requests",
            "429s",
            "retries",
            "quarantined",
            "seconds",
            "note",
            title="recent runs",
        )
        for r in runs:
            rows = ", ".join(f"{t} {n:,}" for t, n in sorted(r.rows.items())) or "-"
            note = next(iter((r.error or r.warnings or "").splitlines()), "")[:80]
            table.add_row(
                *cells(
                    str(r.started_at)[:19],
                    r.source_name or "-",
                    r.status,
                    rows,
                    str(r.requests_total or 0),
                    str(r.throttled or 0),
                    str(r.retries or 0),
                    str(r.quarantined or 0),
                    f"{r.duration_s or 0:.1f}",
                    note,
                )
            )
        console.print(table)
        _warn_stages(cfg, console)
        counts = quarantine_counts(cfg)
        if any(counts.values()):
            listed = ", ".join(f"{s}: {n}" for s, n in counts.items() if n)
            console.print(
                f"quarantined records in total: {escape(listed)} (hub status --quarantine SOURCE)"
            )
        _print_undated(cfg)
        marts = marts_state(cfg)
        if marts is not None and marts.problem:
            err_console.print(Text(f"warning: {marts.problem}", style="yellow"))
        elif marts is not None:
            console.print(
                Text(f"marts: built {str(marts.built_at)[:19]} UTC at as_of {marts.as_of}")
            )

    _guard(body)


@app.command()
def stages(
    config: ConfigOption = Path("hub.yml"),
    strict: Annotated[bool, typer.Option(help="Exit 1 when any native stage is unmapped.")] = False,
) -> None:
    """How each source's native stages map to canonical stages; suggests for unmapped ones."""
    from hub.stages import sources_without_stages, stage_report

    def body() -> int:
        cfg = _load(config)
        rows = stage_report(cfg)
        without = sources_without_stages(cfg)
        if not rows:
            for line in without or ["no stages in the warehouse yet; run 'hub pull' first"]:
                console.print(Text(line))
            return 0
        table = Table("source", "pipeline", "native stage", "deals", "canonical", "suggestion")
        for r in rows:
            native = (
                r.stage_id
                if not r.stage_label or r.stage_label == r.stage_id
                else f"{r.stage_label} ({r.stage_id})"
            )
            table.add_row(
                *cells(r.source_name, r.pipeline_label or r.pipeline_id, native, str(r.deals)),
                Text(r.canonical_stage, style="red" if r.is_unmapped else ""),
                *cells(r.suggestion),
            )
        console.print(table)
        for line in without:
            console.print(Text(line))
        unmapped = [r for r in rows if r.is_unmapped]
        if unmapped:
            console.print(
                f"{len(unmapped)} native stage(s) unmapped; add them under the source's "
                "stage_map in hub.yml, then 'hub transform'"
            )
            if strict:
                return 1
        return 0

    raise typer.Exit(_guard(body))


# ----- sandboxes and demo ------------------------------------------------------------------------


@app.command()
def sandbox(
    kind: Annotated[str, typer.Argument(help="CRM kind: hubspot, pipedrive or salesforce.")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world.")] = 42,
    deals: Annotated[int, typer.Option(min=1, help="Deals in the sandbox.")] = 300,
    rate_limits: Annotated[bool, typer.Option(help="Enforce the vendor's rate limits.")] = True,
    signal: SignalOption = None,
) -> None:
    """Serve a CRM sandbox in the foreground and print how to point hub.yml at it."""
    import yaml

    from connectors.registry import sandbox_class
    from connectors.sandbox import SandboxSpec

    def body() -> None:
        spec = SandboxSpec(
            port=port, seed=seed, n_deals=deals, rate_limits=rate_limits, signal=signal
        )
        server = sandbox_class(kind)(spec)
        base_url = server.start()
        entry = server.source_config(f"{kind}_sandbox")
        console.print(
            f"{escape(kind)} sandbox serving {deals} deals at {escape(base_url)} (Ctrl-C to stop)"
        )
        console.print("add to hub.yml under sources:")
        console.print(Text(yaml.safe_dump([entry], sort_keys=False)), highlight=False)
        server.serve_forever()

    _guard(body)


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option(help="Folder for the demo's data, config and warehouse.")
    ] = Path(".hub/demo"),
    deals: Annotated[int, typer.Option(min=10, help="Deals in the synthetic world.")] = 2000,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """End to end, no credentials: a CSV export and three CRM sandboxes -> sync -> push -> report."""
    from hub.demo import run_demo

    _guard(lambda: run_demo(out, deals=deals, seed=seed, console=console, err_console=err_console))


# ----- report ------------------------------------------------------------------------------------


@app.command()
def report(
    config: ConfigOption = Path("hub.yml"),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="HTML file to write (default: .hub/report.html beside hub.yml)."
        ),
    ] = None,
    period: Annotated[
        str, typer.Option(help="Trend and forecast periods: month or quarter.")
    ] = "month",
    dimension: Annotated[
        str | None,
        typer.Option(
            help="Which of hub.yml's dimensions the 'By <dimension>' figure breaks down by "
            "(default: the first listed)."
        ),
    ] = None,
) -> None:
    """Write the consolidated pipeline report: one self-contained HTML file from the marts."""
    from hub.report import write_report

    def body() -> None:
        if period not in ("month", "quarter"):
            raise ConfigError(f"--period must be month or quarter, not {period!r}")
        path = write_report(
            _load(config),
            out,
            period=period,  # type: ignore[arg-type]
            dimension=dimension,
        )
        console.print(
            f"wrote the report to {escape(str(path))} (one file, opens offline in any browser)"
        )

    _guard(body)


@app.command()
def push(
    config: ConfigOption = Path("hub.yml"),
    source: SourcesOption = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Write the plan (default: only show it).")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Write even past push.max_share of a source's deals.")
    ] = False,
    setup: Annotated[
        bool, typer.Option("--setup", help="Create the hub's score fields in each CRM.")
    ] = False,
    limit: Annotated[int, typer.Option(min=0, help="Plan rows shown per source.")] = 50,
    wait: WaitOption = 0.0,
) -> None:
    """Plan writing stage updates and scores back to the CRMs; --apply writes them."""
    from hub.push.render import push_command

    raise typer.Exit(
        _guard(
            lambda: push_command(
                _load(config),
                console,
                source,
                apply=apply,
                force=force,
                setup=setup,
                limit=limit,
            )
        )
    )


@app.command()
def score(
    config: ConfigOption = Path("hub.yml"),
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Fit before each cutoff, test on what closed after.")
    ] = False,
    cutoff: Annotated[
        list[datetime] | None,
        typer.Option(
            help="A cutoff (repeatable; default: the last four quarter starts with enough deals)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per cutoff.")] = False,
    as_of: AsOfOption = None,
) -> None:
    """Deal scores: --backtest compares the learned score with the base rate, the stage win rate and hub.yml's probabilities."""

    def body() -> None:
        from hub.score.backtest import MODELS, run_backtest

        if not backtest:
            raise ConfigError(
                "deal scores are written by 'hub transform' (analytics.deal_scores); "
                "use 'hub score --backtest' to evaluate them"
            )
        cutoffs = [as_utc(c) for c in cutoff or []]
        run = run_backtest(_load(config), cutoffs=cutoffs, as_of=as_utc(as_of))
        if as_json:
            for result in run.cutoffs:
                print(json.dumps(result.as_json()))
            return
        for result in run.cutoffs:
            console.print(
                f"cutoff {result.cutoff:%Y-%m-%d}: fitted on deals closed before it, scored "
                f"{result.n_scored} deals open then that closed by {run.as_of:%Y-%m-%d} "
                f"({result.n_won} won)"
            )
            table = Table("model", "Brier (lower better)", "log loss", "AUC (higher better)")
            for name in MODELS:
                m = result.metrics[name]
                table.add_row(
                    name,
                    *(
                        "n/a" if m[k] is None else f"{m[k]:.4f}"
                        for k in ("brier", "log_loss", "auc")
                    ),
                )
            console.print(table)
        console.print(f"stored as {run.run_id} in hub_meta.hub_score_backtests")

    _guard(body)


def run() -> None:  # pragma: no cover - console script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
