"""A full disk: said in one line with the path and the space needed, the previous data kept.

The hub folder (hub.yml, ``.hub/``: warehouse, pipelines, dbt logs) lives on a small file
system of its own: the folder named by ``HUB_TEST_SMALL_FS`` when set (nothing sets it; it is
for machines where the test cannot mount), else a tmpfs the test mounts when it runs as root,
else the test is skipped. Free space is set exactly with a filler file. The CSV exports
live elsewhere, and dlt writes its merge SQL in the system temp folder, so its move into the
package crosses file systems, as on the machines where the message read "Invalid
cross-device link".

A small export is synced; then a larger one is pulled with 2 MB free: ``hub pull`` must say
"disk full", where, how much is free and about how much it needs, without a traceback; the
marts must be untouched and no source table may lose a row (dlt loads a package table by
table, so some may already hold the new rows; the next pull finishes the package). With exactly the space
the message asked for, the same pull completes and the warehouse equals one that never ran
out. The transform likewise: refused on a full disk, complete with the space it asked for.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from dlt.common.storages import FileStorage

from hub.generate import generate
from hub.warehouse.disk import find_disk_full
from tests.reliability.harness import HUB, Ran, diff_prints, fingerprint, hub_env

SIZE_MB = 160
NEEDS = re.compile(r"needs about ([\d,.]+) MB free there")


@dataclass
class SmallDisk:
    root: Path

    @property
    def filler(self) -> Path:
        return self.root / ".filler"

    def free(self) -> int:
        return shutil.disk_usage(self.root).free

    def leave_free(self, n_bytes: int) -> None:
        """Grow or shrink the filler so that ``n_bytes`` stay free (to a page)."""
        self.filler.touch()
        size = self.filler.stat().st_size + self.free() - n_bytes
        with self.filler.open("r+b") as handle:
            os.ftruncate(handle.fileno(), 0)
            if size > 0:
                os.posix_fallocate(handle.fileno(), 0, size)
        assert abs(self.free() - n_bytes) < 64 * 1024, (self.free(), n_bytes)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    given = os.environ.get("HUB_TEST_SMALL_FS")
    if given:
        root = Path(given) / uuid.uuid4().hex
        root.mkdir(parents=True)
        try:
            yield SmallDisk(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    if os.geteuid() != 0:
        pytest.skip(
            "needs a small file system to fill: run as root (the test mounts a tmpfs) or "
            "set HUB_TEST_SMALL_FS to a folder on a small, otherwise idle one"
        )
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); set HUB_TEST_SMALL_FS")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def run_hub(*args: str, cwd: Path) -> Ran:
    """``hub ARGS`` as a user runs it: dlt's log level left to the CLI's default (the
    reliability harness turns dlt's error log on)."""
    env = hub_env()
    env.pop("RUNTIME__LOG_LEVEL")
    started = time.perf_counter()
    done = subprocess.run(
        [HUB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=400
    )
    return Ran(list(args), done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def _point_at(folder: Path, export: Path) -> Path:
    """hub.yml in ``folder`` reading the generated export in ``export`` (absolute paths)."""
    config = yaml.safe_load((export / "hub.yml").read_text(encoding="utf-8"))
    for table in config["sources"][0]["options"].values():
        if isinstance(table, dict) and "path" in table:
            table["path"] = str(export / table["path"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hub.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _one_line(ran_stderr: str) -> str:
    lines = [line for line in ran_stderr.splitlines() if line.strip().startswith("error:")]
    assert len(lines) == 1, ran_stderr
    return " ".join(lines[0].split())


def _needed_bytes(message: str) -> int:
    match = NEEDS.search(message)
    assert match, message
    return int(float(match.group(1).replace(",", "")) * 1e6)


def test_disk_full_is_said_with_path_and_space_and_the_previous_data_is_kept(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    small = generate(tmp_path / "small", seed=3, deals=300).config_path
    large = generate(tmp_path / "large", seed=3, deals=4000).config_path
    assert small and large
    hub = small_disk.root / "hub"
    config = _point_at(hub, small.parent)
    cfg = ("--config", str(config))
    assert (synced := run_hub("sync", *cfg, cwd=hub)).code == 0, synced.output
    db = hub / ".hub" / "hub.duckdb"
    before = fingerprint(db)

    # ----- the pull runs out of space --------------------------------------------------------
    _point_at(hub, large.parent)
    small_disk.leave_free(2_000_000)
    failed = run_hub("pull", *cfg, cwd=hub)
    assert failed.code == 1, failed.output
    assert "Traceback" not in failed.output and "cross-device" not in failed.output
    message = _one_line(failed.stderr)
    assert message.startswith(f"error: disk full: {small_disk.root}"), message
    assert " MB free of " in message, message
    assert "nothing is lost" in message, message
    pull_needs = _needed_bytes(message)
    # The marts are untouched. dlt loads a package table by table, so some source tables
    # may already hold this pull's rows (merged on their keys); none lost a row.
    after = fingerprint(db)
    marts = {k for k in before if k.startswith("analytics.")}
    assert not diff_prints({k: before[k] for k in marts}, {k: after[k] for k in marts})
    shrunk = [k for k in before if after[k].rows < before[k].rows or after[k].duplicate_keys]
    assert not shrunk, [(k, before[k], after[k]) for k in shrunk]
    assert run_hub("report", *cfg, "--out", str(tmp_path / "report.html"), cwd=hub).code == 0
    on_full_disk = run_hub("report", *cfg, cwd=hub)  # writes .hub/report.html: no room
    assert on_full_disk.code == 1 and "Traceback" not in on_full_disk.output
    assert _one_line(on_full_disk.stderr).startswith("error: disk full"), on_full_disk.stderr

    # ----- the transform on the full disk ----------------------------------------------------
    refused = run_hub("transform", *cfg, cwd=hub)
    assert refused.code == 1, refused.output
    assert "Traceback" not in refused.output
    assert _one_line(refused.stderr).startswith(f"error: disk full: {small_disk.root}")
    assert "the marts are unchanged" in _one_line(refused.stderr)
    assert fingerprint(db) == after

    # ----- with the space the message asked for, the pull completes ---------------------------
    small_disk.leave_free(pull_needs)
    pulled = run_hub("pull", *cfg, cwd=hub)
    assert pulled.code == 0, pulled.output
    clean = tmp_path / "clean"
    clean_cfg = ("--config", str(_point_at(clean, small.parent)))
    assert run_hub("pull", *clean_cfg, cwd=clean).code == 0
    _point_at(clean, large.parent)
    assert run_hub("pull", *clean_cfg, cwd=clean).code == 0
    want = {k: v for k, v in fingerprint(clean / ".hub" / "hub.duckdb").items() if "src_" in k}
    have = {k: v for k, v in fingerprint(db).items() if "src_" in k}
    assert not diff_prints(want, have), diff_prints(want, have)

    # ----- the transform: refused with 1 MB, complete with what it asked for -----------------
    small_disk.leave_free(1_000_000)
    short = run_hub("transform", *cfg, cwd=hub)
    assert short.code == 1, short.output
    transform_message = _one_line(short.stderr)
    assert transform_message.startswith("error: disk full:"), transform_message
    assert "Traceback" not in short.output
    small_disk.leave_free(_needed_bytes(transform_message))
    built = run_hub("transform", *cfg, cwd=hub)
    assert built.code == 0, built.output
    assert run_hub("report", *cfg, "--out", str(tmp_path / "after.html"), cwd=hub).code == 0
    print(message, transform_message, sep="\n")


def test_a_full_disk_behind_dlts_cross_device_move_is_found(
    small_disk: SmallDisk, tmp_path: Path
) -> None:
    """dlt writes merge SQL in the temp folder and moves it into the package; across file
    systems the rename fails (EXDEV) and the copy that follows fails for want of space. The
    innermost exception is the EXDEV, which the hub used to print."""
    source = tmp_path / "merge.sql"
    source.write_bytes(os.urandom(1_000_000))
    small_disk.leave_free(100_000)
    with pytest.raises(OSError) as caught:
        FileStorage.move_atomic_to_file(str(source), str(small_disk.root / "merge.sql"))
    assert caught.value.errno == errno.ENOSPC
    assert isinstance(caught.value.__context__, OSError)
    assert caught.value.__context__.errno == errno.EXDEV  # what the old message showed
    found = find_disk_full(caught.value)
    assert found is not None and "No space left on device" in found.text
