"""Pulling real data never loads a sandbox: no HTTP server, no fake CRM, no SOQL
interpreter, no synthetic world in the process that imports a connector (and ``hub.pull``)
and builds its source. Checked in a fresh interpreter, since this test process has them all loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.registry import all_connectors, sandbox_class
from connectors.sandbox import SandboxSpec

SANDBOXED = sorted(c.kind for c in all_connectors() if c.sandbox)
FORBIDDEN = ("http.server", "connectors.sandbox", "connectors.synthetic")

PROBE = """
import json, sys
import hub.pull  # the orchestrator's side of a pull
from connectors.registry import get_connector
from models.config import parse_config

kind, entry, forbidden = json.loads(sys.argv[1])
connector = get_connector(kind)
config = parse_config({"sources": [entry]})
connector.build_source(connector.context(config, config.sources[0]))
sandbox_module = connector.sandbox.partition(":")[0]
loaded = [m for m in sys.modules if m.startswith((*forbidden, sandbox_module))]
print(json.dumps(sorted(loaded)))
"""


@pytest.mark.parametrize("kind", SANDBOXED, ids=lambda kind: f"kind={kind}")
def test_importing_a_connector_and_building_its_source_loads_no_sandbox(kind: str) -> None:
    with sandbox_class(kind)(SandboxSpec(n_deals=5, rate_limits=False)) as sandbox:
        entry = sandbox.source_config(f"{kind}_live")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([kind, entry, FORBIDDEN])],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert json.loads(out.stdout) == []


def test_the_probe_would_see_a_sandbox_import() -> None:
    """The check above can fail: loading a sandbox class shows up in ``sys.modules``."""
    code = (
        "import json, sys; from connectors.registry import sandbox_class;"
        "sandbox_class('salesforce');"
        "print(json.dumps([m in sys.modules for m in sys.argv[1:]]))"
    )
    watched = ["http.server", "connectors.synthetic", "connectors.salesforce.sandbox.soql"]
    out = subprocess.run(
        [sys.executable, "-c", code, *watched], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [True, True, True]
