"""Reading what a kind declares loads none of its pull or push code.

Every transform writes the connectors' default stage maps (``stage_map_rows``), which loads
each configured kind's package; a package that imported its source and writer (their
modules, HTTP clients, dlt resources) cost 0.3-0.4 s at every standalone transform. The
built-in kinds name their source and writer builders by dotted path
(``connectors.registry.deferred``), imported when a pull or push first calls them. Checked
in a fresh interpreter, since this test process has everything loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.registry import BUILTIN_KINDS

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from connectors.registry import get_connector
from hub.warehouse import stage_map_rows
from models.config import parse_config

kind, watched, call = json.loads(sys.argv[1])
config = parse_config({"sources": [{"name": "probe", "kind": kind}]})
rows = stage_map_rows(config)
connector = get_connector(kind)
if call:  # a pull: the source builder runs (and fails on the empty options, after importing)
    try:
        connector.build_source(connector.context(config, config.sources[0]))
    except Exception:
        pass
print(json.dumps({"loaded": [m for m in watched if m in sys.modules],
                  "rows": len(rows), "defaults": len(connector.default_stage_map)}))
"""


def _probe(kind: str, call: bool) -> dict[str, object]:
    package = BUILTIN_KINDS[kind].partition(":")[0]
    watched = [f"{package}.source", f"{package}.writer"]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([kind, watched, call])],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("kind", sorted(BUILTIN_KINDS), ids=lambda kind: f"kind={kind}")
def test_the_default_stage_map_is_read_without_the_pull_code(kind: str) -> None:
    seen = _probe(kind, call=False)
    assert seen["loaded"] == []
    assert seen["rows"] == seen["defaults"]  # the defaults were read, all of them


def test_the_probe_sees_the_source_once_a_pull_builds_it() -> None:
    """The check above can fail: building a source imports its module."""
    assert _probe("hubspot", call=True)["loaded"] == ["connectors.hubspot.source"]
