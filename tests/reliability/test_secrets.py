"""No secret leaks: every ``hub`` command, with known distinctive tokens, including failing
runs (a rejected token, an exhausted quota), and a search for those tokens (also
URL-encoded) in stdout, stderr, every file under the hub's ``.hub/`` folder (dlt state,
traces, schemas, dbt logs and artifacts, the report) and every table of the warehouse
(``hub_meta.*``, ``src_*.*``, ``analytics.*``).

The sandboxes are told to accept exactly these tokens, so the runs succeed with them; the
OAuth access tokens the Salesforce sandbox issues during the runs are searched for too.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb
import pytest

from tests.harness import set_faults, write_hub_yml
from tests.reliability.harness import (
    HUB,
    Ran,
    Sources,
    hub_env,
    run_hub,
    world,
)

TOKENS = {
    "REL_HUBSPOT_TOKEN": "pat-na1-00c0ffee-5ec2-4e7a-9d1b-leak0check01",
    "REL_PIPEDRIVE_TOKEN": "9c1d8e7f6a5b4c3d2e1f0a9b8c7d6e5fleak0c0de",
    "REL_SF_CLIENT_ID": "3MVG9leakcheck.client+id/with=odd&chars",
    "REL_SF_CLIENT_SECRET": "sfSecret-leak0check-7Q2w/9e+Zx==",
    "REL_SF_REFRESH_TOKEN": "5Aep861leak0check.refresh/token+value==",
}
WRONG = {"REL_PIPEDRIVE_TOKEN": "0123456789abcdef0123wrongleak0token456789"}


def variants(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)}


@pytest.fixture(scope="module")
def secret_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sources]:
    with world(tmp_path_factory.mktemp("secrets-world"), n_deals=20, seed=5) as src:
        hs, pd, sf = src.servers["hubspot"], src.servers["pipedrive"], src.servers["salesforce"]
        hs.TOKEN = TOKENS["REL_HUBSPOT_TOKEN"]  # type: ignore[misc]
        pd.api_token = TOKENS["REL_PIPEDRIVE_TOKEN"]  # type: ignore[attr-defined]
        sf.client_id = TOKENS["REL_SF_CLIENT_ID"]  # type: ignore[attr-defined]
        sf.client_secret = TOKENS["REL_SF_CLIENT_SECRET"]  # type: ignore[attr-defined]
        sf.refresh_token = TOKENS["REL_SF_REFRESH_TOKEN"]  # type: ignore[attr-defined]
        refs = {
            "hubspot": {"token": "env:REL_HUBSPOT_TOKEN"},
            "pipedrive": {"api_token": "env:REL_PIPEDRIVE_TOKEN"},
            "salesforce": {
                "client_id": "env:REL_SF_CLIENT_ID",
                "client_secret": "env:REL_SF_CLIENT_SECRET",
                "refresh_token": "env:REL_SF_REFRESH_TOKEN",
            },
        }
        for entry in src.entries:
            kind = entry["kind"]
            if kind in refs:
                entry["credentials"] = refs[kind]
        yield src


def scan_tree(folder: Path, secrets: set[str]) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name == "hub.yml" or path.suffix in (".duckdb", ".wal"):
            continue  # the user's own config (hub demo writes sandbox tokens there); the db below
        text = path.read_bytes().decode("latin-1")
        found += [f"{path.relative_to(folder)}: {s[:12]}…" for s in secrets if s in text]
    return found


def scan_warehouse(db: Path, secrets: set[str]) -> list[str]:
    """Rows of every table that hold a secret, as text. One query per table counts the rows
    for every secret at once: a query per table and secret took ~16 CPU-s per warehouse."""
    if not db.exists():
        return []
    found = []
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                    [schema, table],
                ).fetchall()
            ]
            as_text = " || '|' || ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), '')" for c in cols)
            hits = con.execute(
                f"SELECT secret, count(*) FROM (SELECT {as_text} AS row_text "
                f'FROM "{schema}"."{table}") AS r, unnest(?::VARCHAR[]) AS s(secret) '
                "WHERE strpos(row_text, secret) > 0 GROUP BY secret",
                [sorted(secrets)],
            ).fetchall()
            found += [f"{schema}.{table}: {n} rows contain {secret[:12]}…" for secret, n in hits]
    return found


def test_no_command_leaks_a_token_anywhere(secret_world: Sources, tmp_path: Path) -> None:
    src = secret_world
    project = tmp_path / "project"
    config = write_hub_yml(project, src.config())
    cfg = ["--config", str(config)]
    env = dict(TOKENS)
    ran: list[Ran] = []

    def hub(
        *args: str,
        expect: tuple[int, ...] = (0,),
        extra_env: dict[str, str] | None = None,
        cwd: Path = project,
    ) -> Ran:
        done = run_hub(*args, cwd=cwd, env={**env, **(extra_env or {})})
        ran.append(done)
        assert done.code in expect, (
            f"hub {' '.join(args)} exited {done.code}:\n{done.output[-2000:]}"
        )
        if "--debug" not in args:  # --debug prints a failed source's traceback, scrubbed
            assert "Traceback" not in done.output, done.output[-3000:]
        return done

    hub("--help")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    hub("init", "--config", str(scratch / "hub.yml"), cwd=scratch)
    hub("generate", "--deals", "15", "--out", str(scratch / "generated"), cwd=scratch)
    hub("pull", *cfg)
    hub("transform", *cfg)
    hub("sync", *cfg)
    hub("status", *cfg)
    hub("status", *cfg, "--quarantine", "csv_rel")
    hub("stages", *cfg)
    hub("report", *cfg)
    hub("push", *cfg, expect=(0, 1, 2, 3))
    # Failing runs: a rejected token (the AuthError path) and a spent daily quota.
    wrong = hub("pull", *cfg, "--source", "pipedrive_rel", expect=(1, 3), extra_env=WRONG)
    assert "pipedrive" in wrong.output
    hubspot = src.servers["hubspot"]
    set_faults(hubspot, quota_exhausted=True)
    try:
        spent = hub("pull", *cfg, "--source", "hubspot_rel", expect=(1, 3))
    finally:
        set_faults(hubspot)
    assert "daily" in spent.output
    hub("--debug", "pull", *cfg, "--source", "pipedrive_rel", expect=(1, 3), extra_env=WRONG)

    # `hub sandbox` serves until stopped: start it, read its hub.yml hint, stop it (by its id).
    proc = subprocess.Popen(
        [HUB, "sandbox", "pipedrive", "--port", "0", "--deals", "10"],
        cwd=tmp_path,
        env=hub_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.perf_counter() + 60
        lines: list[str] = []
        assert proc.stdout is not None
        while time.perf_counter() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "api_token" in line:
                break
        assert any("sandbox serving" in line for line in lines), "".join(lines)
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=30)
    ran.append(Ran(["sandbox"], proc.returncode, "".join(lines) + out, err, 0.0))
    demo_dir = tmp_path / "demo"
    hub("demo", "--deals", "12", "--out", str(demo_dir), cwd=tmp_path)

    secrets = set().union(
        *(variants(v) for v in TOKENS.values()), *(variants(v) for v in WRONG.values())
    )
    issued = set(src.servers["salesforce"].tokens)  # type: ignore[attr-defined]
    assert issued, "the Salesforce sandbox issued no access token: the runs did not reach it"
    secrets |= set().union(*(variants(t) for t in issued))
    leaks = []
    for done in ran:
        leaks += [
            f"hub {' '.join(done.args)}: output has {s[:12]}…" for s in secrets if s in done.output
        ]
    leaks += scan_tree(project / ".hub", secrets)
    leaks += scan_warehouse(project / ".hub" / "hub.duckdb", secrets)
    # hub demo runs its own sandboxes with their fixed fake tokens: those must not leak either.
    demo_secrets = set().union(*(variants(v) for v in _demo_tokens()))
    leaks += scan_tree(demo_dir / ".hub", demo_secrets) + scan_tree(demo_dir, demo_secrets)
    leaks += scan_warehouse(_demo_db(demo_dir), demo_secrets)
    ran_demo = ran[-1]
    leaks += [f"hub demo: output has {s[:12]}…" for s in demo_secrets if s in ran_demo.output]
    assert not leaks, "\n".join(leaks)
    # and the runs really happened with these tokens
    with duckdb.connect(str(project / ".hub" / "hub.duckdb"), read_only=True) as con:
        statuses = {r[0] for r in con.execute("SELECT status FROM hub_meta.hub_runs").fetchall()}
    assert {"ok", "failed", "stopped"} <= statuses, statuses


def _demo_tokens() -> list[str]:
    from connectors.hubspot.sandbox import FakeHubspot
    from connectors.pipedrive.sandbox import SANDBOX_API_TOKEN
    from connectors.salesforce.sandbox import FakeSalesforce

    sf = FakeSalesforce(n_deals=1).credentials()  # seed 42, hub demo's default
    return [FakeHubspot.TOKEN, SANDBOX_API_TOKEN, sf["client_secret"], sf["refresh_token"]]


def _demo_db(demo_dir: Path) -> Path:
    found = sorted(demo_dir.rglob("*.duckdb"))
    assert found, f"hub demo wrote no warehouse under {demo_dir}"
    return found[0]
