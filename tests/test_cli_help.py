"""``hub --help`` and every command's help show a flag as a flag: its names and help, no
value type (typer's rich help printed ``--debug <bool>``, as if the flag took a value),
while an option that takes a value keeps its type; the flags still parse as flags."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from hub.cli import app

GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]


def _row(help_text: str, name: str) -> str:
    """The help table's line that starts the row of option ``name``."""
    for line in help_text.splitlines():
        cells = line.strip("│ ").split()
        if cells and cells[0] == name:
            return line
    raise AssertionError(f"no row for {name} in:\n{help_text}")


def _check(help_text: str, params: list) -> list[str]:
    problems = []
    for param in params:
        if not getattr(param, "opts", None) or param.hidden or param.param_type_name != "option":
            continue
        line = _row(help_text, next(o for o in param.opts if o.startswith("--")))
        shows_type = "<" in line and ">" in line.split("<", 1)[1]
        if param.is_flag and shows_type:
            problems.append(f"flag {param.opts[0]} shows a value type: {line.strip()}")
        if not param.is_flag and not shows_type:
            problems.append(f"option {param.opts[0]} lost its value type: {line.strip()}")
    return problems


def test_no_flag_in_any_help_shows_a_value_type(cli) -> None:
    problems = []
    for name in [None, *COMMANDS]:
        command = GROUP if name is None else GROUP.commands[name]  # type: ignore[attr-defined]
        shown = cli("--help") if name is None else cli(name, "--help")
        assert shown.exit_code == 0, (name, shown.output)
        assert "<bool>" not in shown.output, name
        help_row = _row(shown.output, "--help")  # the flag every command has
        assert "Show this message and exit." in help_row and "<" not in help_row, name
        problems += [f"hub {name or ''}: {p}" for p in _check(shown.output, command.params)]
    assert not problems, "\n".join(problems)


def test_the_commands_have_both_kinds_of_option_to_check() -> None:
    """The test above proves something only if there are flags and valued options."""
    params = [p for n in COMMANDS for p in GROUP.commands[n].params]  # type: ignore[attr-defined]
    flags = {o for p in params if getattr(p, "is_flag", False) for o in p.opts}
    assert {"--apply", "--force", "--json", "--full-refresh", "--rate-limits"} <= flags
    assert {"--deals", "--config", "--signal"} <= {o for p in params for o in p.opts} - flags


def test_flags_still_parse_as_flags(cli, tmp_path: Path) -> None:
    config = tmp_path / "hub.yml"
    assert cli("init", "--config", config).exit_code == 0
    again = cli("init", "--config", config)
    assert again.exit_code == 2 and "--force" in again.output
    config.write_text("edited", encoding="utf-8")
    assert cli("init", "--config", config, "--force").exit_code == 0
    assert config.read_text(encoding="utf-8") != "edited"
    valued = cli("init", "--config", config, "--force=yes")
    assert valued.exit_code == 2 and "--force" in valued.output


def test_the_command_list_shows_each_summary_as_one_sentence() -> None:
    """A multi-line docstring is one paragraph in `hub --help`, not broken mid-sentence."""
    wide = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "400"})
    assert wide.exit_code == 0, wide.output
    for name in COMMANDS:
        docstring = inspect.cleandoc(GROUP.commands[name].help)  # type: ignore[attr-defined]
        summary = " ".join(docstring.split("\n\n")[0].split())
        assert any(summary in line for line in wide.output.splitlines()), (name, summary)
