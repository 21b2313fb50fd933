"""``--signal`` on ``hub generate`` and ``hub sandbox``: the world the command writes or
serves is ``WorldSpec(signal=...)``'s, and leaving it out keeps the original world.

The expected figures come from the generator's own truth (true win probabilities, outcomes)
and from SignalEffects.base_win_rate, never from what the command printed.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from connectors.pipedrive.sandbox.server import SANDBOX_API_TOKEN
from connectors.synthetic import SignalEffects, World, WorldSpec, write_csv_source

REPO = Path(__file__).resolve().parents[1]
SEED, DEALS = 11, 300


def _win_probabilities(folder: Path) -> dict[str, float]:
    with (folder / "win_probability.csv").open(encoding="utf-8", newline="") as f:
        return {row["deal_id"]: float(row["win_probability"]) for row in csv.DictReader(f)}


def test_generate_signal_writes_that_worlds_truth(cli, tmp_path: Path) -> None:
    args = ["generate", "--seed", str(SEED), "--deals", str(DEALS), "--out"]
    realistic = cli(*args, tmp_path / "one", "--signal", "1")
    assert realistic.exit_code == 0, realistic.output
    assert "win_probability.csv" in realistic.output
    world = World(WorldSpec(seed=SEED, n_deals=DEALS, signal=1.0))
    written = _win_probabilities(tmp_path / "one")
    assert len(written) == DEALS
    for deal in world.iter_deals():
        assert written[deal.deal_id] == world.true_win_probability(deal), deal.deal_id
    spread = statistics.pstdev(written.values())
    assert spread > 0.05, f"drivers should spread the chances to win, SD {spread:.3f}"

    # Signal 0: luck alone, every deal's chance is the base rate.
    luck = cli(*args, tmp_path / "zero", "--signal", "0")
    assert luck.exit_code == 0, luck.output
    base = SignalEffects().base_win_rate
    assert all(abs(p - base) < 1e-9 for p in _win_probabilities(tmp_path / "zero").values())

    # Left out: the original world, which has no per-deal probabilities and other outcomes.
    original = cli(*args, tmp_path / "none")
    assert original.exit_code == 0, original.output
    assert not (tmp_path / "none" / "win_probability.csv").exists()
    assert "win_probability" not in original.output
    deals_csv = [(tmp_path / d / "deals.csv").read_bytes() for d in ("one", "zero", "none")]
    assert len(set(deals_csv)) == 3, "each signal must give its own world"
    original_export = write_csv_source(World(WorldSpec(seed=SEED, n_deals=DEALS)), tmp_path / "o")
    assert deals_csv[2] == original_export.paths["deals"].read_bytes()


def test_generate_refuses_a_signal_outside_0_to_1(cli, tmp_path: Path) -> None:
    for bad in ("1.5", "-0.1"):
        result = cli("generate", "--out", tmp_path / bad, "--deals", "5", "--signal", bad)
        assert result.exit_code == 2, result.output
        assert "--signal" in result.output
        assert not (tmp_path / bad).exists()


def _statuses(world: World) -> Counter[tuple[str, str]]:
    return Counter((d.name, d.status) for d in world.iter_source_deals(0, 1))


def _served_statuses(base_url: str) -> Counter[tuple[str, str]]:
    """Every deal the Pipedrive sandbox serves, live and archived, as (title, status), read
    over HTTP."""
    seen: Counter[tuple[str, str]] = Counter()
    for listing in ("deals", "deals/archived"):
        cursor = ""
        while True:
            url = f"{base_url}/api/v2/{listing}?limit=500"
            request = urllib.request.Request(
                url + (f"&cursor={cursor}" if cursor else ""),
                headers={"x-api-token": SANDBOX_API_TOKEN},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                page = json.load(response)
            seen.update((d["title"], d["status"]) for d in page["data"])
            cursor = (page.get("additional_data") or {}).get("next_cursor") or ""
            if not cursor:
                break
    return seen


def test_sandbox_signal_serves_that_worlds_deals() -> None:
    deals = 60
    signal_world = World(WorldSpec(seed=SEED, n_deals=deals, signal=1.0))
    original_world = World(WorldSpec(seed=SEED, n_deals=deals))
    assert _statuses(signal_world) != _statuses(original_world)  # else the test proves nothing
    for flags, world in ((["--signal", "1"], signal_world), ([], original_world)):
        command = [sys.executable, "-m", "hub.cli", "sandbox", "pipedrive", "--port", "0"]
        command += ["--seed", str(SEED), "--deals", str(deals), "--no-rate-limits", *flags]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # "... sandbox serving N deals at URL (Ctrl-C ...)"
            deadline = time.monotonic() + 120
            while "serving" not in first and time.monotonic() < deadline and first:
                first = proc.stdout.readline()
            assert "serving" in first, first + proc.stderr.read()
            base_url = first.split(" at ")[1].split()[0]
            assert _served_statuses(base_url) == _statuses(world), flags
        finally:
            proc.kill()
            proc.communicate(timeout=30)
