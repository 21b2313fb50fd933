"""A DuckDB warehouse file damaged the way a SIGKILL mid-checkpoint leaves it (one block whose
checksum no longer matches, hub.warehouse.damaged): every command names the file, says it is
damaged and how to rebuild it, and the rebuild it advises gives back the same source tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.reliability.harness import fingerprint, run_hub

BLOCK_0 = 12288  # DuckDB's first block, after its three 4 KiB headers (the CI failure's)


def damage(db: Path) -> None:
    """Overwrite a run of block 0's payload, its stored checksum left as it was."""
    with db.open("r+b") as f:
        f.seek(BLOCK_0 + 4096)
        f.write(b"\xa5" * 8192)


def test_a_damaged_duckdb_file_is_named_with_how_to_rebuild_it(hub_dir: Path) -> None:
    pulled = run_hub("pull", cwd=hub_dir)
    assert pulled.code == 0, pulled.output[-2000:]
    db = hub_dir / ".hub" / "hub.duckdb"
    before = fingerprint(db)
    damage(db)
    with pytest.raises(duckdb.Error, match="Corrupt database file"):
        duckdb.connect(str(db), read_only=True).close()

    for command in ("status", "pull", "transform"):
        ran = run_hub(command, cwd=hub_dir)
        assert ran.code == 1, (command, ran.output[-2000:])
        assert "Traceback" not in ran.output and "unexpected error" not in ran.output
        said = " ".join(ran.stderr.split())  # rich wraps long lines
        assert f"{db} is damaged" in said, (command, said)
        assert "computed checksum" in said and "in block at location" in said
        assert f"mv {db} {db}.damaged" in said and "'hub sync --full-refresh'" in said

    # The advice, followed (its pull half: the transform builds from what the pull loaded).
    shutil.move(db, db.with_name("hub.duckdb.damaged"))
    db.with_name("hub.duckdb.wal").unlink(missing_ok=True)
    rebuilt = run_hub("pull", "--full-refresh", cwd=hub_dir)
    assert rebuilt.code == 0, rebuilt.output[-2000:]
    assert fingerprint(db) == before
