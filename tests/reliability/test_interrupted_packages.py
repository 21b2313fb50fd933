"""A pull after an interrupted one finishes the leftover load packages AND pulls anew.

dlt's ``pipeline.run`` given pending packages loads them and returns without extracting,
so before ``hub.pull.finish_interrupted`` a ``hub pull`` after a crash in normalize or
load reported "ok" and fetched nothing new. Here the leftover is made the way a crash
leaves it (extract and normalize done, load not), the export then changes, and one pull
must load both.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dlt
from dlt.load import Load
from dlt.load.configuration import LoaderConfiguration

from hub.pull import pipeline_for
from hub.warehouse import Warehouse
from models.config import HubConfig
from tests.csv_helpers import csv_config, extract_only, pull, query

HEADER = "id,name,stage,created\n"
COLUMNS = {"source_deal_id": "id", "name": "name", "stage_id": "stage", "created_at": "created"}


def _leave_a_normalized_package(folder: Path) -> None:
    """Extract and normalize the export as it is now, then stop before the load."""
    pipeline, _ = extract_only(csv_config(folder, {"path": "deals.csv", "columns": COLUMNS}))
    pipeline.normalize()
    assert pipeline.list_normalized_load_packages(), "no package left pending"


def _pulled_then_changed(folder: Path, *, leave_pending: bool = False) -> tuple[HubConfig, Path]:
    """Deal 1 pulled in Discovery, then the export moves it to Qualified; with
    ``leave_pending`` that change is extracted and normalized but not loaded."""
    export = folder / "deals.csv"
    export.write_text(HEADER + "1,Alpha,Discovery,2026-01-02\n", encoding="utf-8")
    config = csv_config(folder, {"path": "deals.csv", "columns": COLUMNS})
    assert pull(config).status == "ok"
    export.write_text(HEADER + "1,Alpha,Qualified,2026-01-02\n", encoding="utf-8")
    if leave_pending:
        _leave_a_normalized_package(folder)
    return config, export


def test_pull_after_a_crash_in_load_keeps_the_leftover_and_fetches_the_changes(
    tmp_path: Path,
) -> None:
    export = tmp_path / "deals.csv"
    export.write_text(
        HEADER + "1,Alpha,Discovery,2026-01-02\n2,Beta,Qualified,2026-01-03\n", encoding="utf-8"
    )
    config = csv_config(tmp_path, {"path": "deals.csv", "columns": COLUMNS})
    assert pull(config).status == "ok"
    export.write_text(
        HEADER + "1,Alpha,Qualified,2026-01-02\n2,Beta,Qualified,2026-01-03\n", encoding="utf-8"
    )
    _leave_a_normalized_package(tmp_path)  # deal 1 moved to Qualified: pulled, not loaded
    export.write_text(
        HEADER
        + "1,Alpha,Qualified,2026-01-02\n2,Beta,Won,2026-01-03\n3,Gamma,Discovery,2026-01-04\n",
        encoding="utf-8",
    )

    run = pull(config)

    assert run.status == "ok", run.error
    assert run.recovered_packages == 1
    assert run.rows.get("deals") == 3, run.rows  # this run extracted the new export
    stages = dict(query(config, "SELECT source_deal_id, stage_id FROM src_exp.deals"))
    assert stages == {"1": "Qualified", "2": "Won", "3": "Discovery"}
    pipeline = pipeline_for(config, Warehouse(config), "exp")
    assert not pipeline.list_normalized_load_packages()
    assert not pipeline.list_extracted_load_packages()

    again = pull(config)
    assert again.status == "ok" and again.recovered_packages == 0


def test_pull_after_a_kill_inside_dlts_schema_save_discards_the_torn_file(
    tmp_path: Path,
) -> None:
    """dlt saves a schema through a temporary file named by 16 hex characters; a SIGKILL
    between the write and the rename leaves it beside the real schema, and dlt then reads it
    as a schema with an invalid name: every later pull of the source failed
    (InvalidSchemaName), as the crash test once caught. The torn file is made here the way
    the kill leaves it."""
    export = tmp_path / "deals.csv"
    export.write_text(HEADER + "1,Alpha,Discovery,2026-01-02\n", encoding="utf-8")
    config = csv_config(tmp_path, {"path": "deals.csv", "columns": COLUMNS})
    assert pull(config).status == "ok"
    schemas = config.hub_dir / "pipelines" / "hub_exp" / "schemas"
    (real,) = schemas.glob("*.schema.json")
    (schemas / "4860848654d67c72").write_text(real.read_text()[:100], encoding="utf-8")
    export.write_text(HEADER + "1,Alpha,Qualified,2026-01-02\n", encoding="utf-8")

    run = pull(config)

    assert run.status == "ok", run.error
    assert query(config, "SELECT stage_id FROM src_exp.deals") == [("Qualified",)]
    assert sorted(p.name for p in schemas.iterdir()) == [real.name]


def test_pull_when_dlt_declines_the_leftover_sets_it_aside_and_rereads(
    tmp_path: Path,
) -> None:
    """dlt's ``load`` returns at once, without an error, when the pipeline's saved state
    names no schema (dlt writes such a state itself when it cannot find the schema the state
    names: "restored with inconsistent state"). With a normalized package left, ``run`` then
    loaded nothing and extracted nothing, and the pull said "ok, finished 1 load package(s)"
    with the package still there and the export's changes never pulled: the crash test
    caught it once in CI after a series of SIGKILLs (which kill left that state was not
    pinned down). Here the state is written as dlt writes it."""
    config, export = _pulled_then_changed(tmp_path, leave_pending=True)
    state_file = config.hub_dir / "pipelines" / "hub_exp" / "state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["default_schema_name"], state["schema_names"] = None, []
    state_file.write_text(json.dumps(state), encoding="utf-8")
    export.write_text(
        HEADER + "1,Alpha,Won,2026-01-02\n2,Beta,Discovery,2026-01-03\n", encoding="utf-8"
    )

    run = pull(config)

    assert run.status == "ok", run.error
    assert run.recovered_packages == 0
    assert run.set_aside_packages == 1
    assert any("names no schema" in w for w in run.stats.warnings), run.stats.warnings
    stages = dict(query(config, "SELECT source_deal_id, stage_id FROM src_exp.deals"))
    assert stages == {"1": "Won", "2": "Discovery"}
    pipeline = pipeline_for(config, Warehouse(config), "exp")
    assert not pipeline.list_normalized_load_packages()
    assert not pipeline.list_extracted_load_packages()
    (kept,) = (config.hub_dir / "set-aside" / "exp").glob("*/normalized-*")
    assert (kept / "schema.json").is_file()  # moved, not deleted


def test_pull_after_a_kill_between_dlts_normalize_commit_and_cleanup_loads_the_package(
    tmp_path: Path,
) -> None:
    """dlt's normalize renames the finished package into ``load/normalized`` and then deletes
    the extracted one; a SIGKILL between the two leaves both under one load id (the crash
    loop caught it). Normalizing the extracted copy again failed every later pull of the
    source ("Directory not empty"). The folder is left here as that kill leaves it."""
    config, export = _pulled_then_changed(tmp_path)
    pipeline, load_id = extract_only(config)
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted" / load_id
    copy = tmp_path / "extracted-copy"
    shutil.copytree(extracted, copy)
    pipeline.normalize()
    shutil.copytree(copy, extracted)  # the delete after the commit never ran
    # and a later run, killed while normalizing the copy again, left its half-written twin
    shutil.copytree(copy, Path(pipeline.working_dir) / "load" / "new" / load_id)
    export.write_text(
        HEADER + "1,Alpha,Qualified,2026-01-02\n2,Beta,Discovery,2026-01-03\n", encoding="utf-8"
    )

    run = pull(config)

    assert run.status == "ok", run.error
    assert run.recovered_packages == 1
    assert run.set_aside_packages == 0  # nothing broken: no full re-read
    stages = dict(query(config, "SELECT source_deal_id, stage_id FROM src_exp.deals"))
    assert stages == {"1": "Qualified", "2": "Discovery"}
    pipeline = pipeline_for(config, Warehouse(config), "exp")
    assert not pipeline.list_normalized_load_packages()
    assert not pipeline.list_extracted_load_packages()
    kept = sorted(p.name for p in (config.hub_dir / "set-aside" / "exp").glob("*/*"))
    assert kept == [f"extracted-{load_id}", f"new-{load_id}"]


def test_pull_removes_the_temporary_file_a_kill_left_beside_the_packages(tmp_path: Path) -> None:
    """dlt saves a package's state through a temporary file (16 hex characters) written in the
    stage folder and renamed into the package; a SIGKILL in between left it in
    ``load/normalized`` for good (the crash test caught it twice in CI). Made here the way
    the kill leaves it, beside a pending package."""
    config, _ = _pulled_then_changed(tmp_path, leave_pending=True)
    stage = config.hub_dir / "pipelines" / "hub_exp" / "load" / "normalized"
    (package,) = [p for p in stage.iterdir() if p.is_dir()]
    state = (package / "load_package_state.json").read_text(encoding="utf-8")
    (stage / "5e93bd26803b3556").write_text(state[: len(state) // 2], encoding="utf-8")

    run = pull(config)

    assert run.status == "ok", run.error
    assert run.recovered_packages == 1
    assert list(stage.iterdir()) == []
    assert query(config, "SELECT stage_id FROM src_exp.deals") == [("Qualified",)]


def _run_a_job_and_lose_its_record(
    pipeline: dlt.Pipeline, table: str, *, staged: bool = True
) -> None:
    """Run the pending package's ``table`` job as dlt's loader does (into the staging dataset
    when ``staged``: a merged table), then lose the record that it ran, as a full disk or a
    kill loses it: dlt writes that record (its "pending transition") after the rows are
    committed, and a merge job's file after that. The job stays in ``started_jobs``; its
    rows are in the staging table, or in the table itself for an appended one."""
    client, _ = pipeline._get_destination_clients()
    load = Load(
        pipeline._destination,
        is_storage_owner=False,
        config=LoaderConfiguration(_load_storage_config=pipeline._load_storage_config()),
        initial_client_config=client.config,
    )
    packages = load.load_storage.normalized_packages
    (load_id,) = pipeline.list_normalized_load_packages()
    schema = packages.load_schema(load_id)
    load.initialize_package(load_id, schema, load.get_new_jobs_info(load_id))
    (job_file,) = [f for f in load.load_storage.list_new_jobs(load_id) if f"/{table}." in f]
    job, _, use_staging = load._create_job(job_file, load_id, schema)
    assert use_staging == staged, f"{table}: staged {use_staging}, expected {staged}"
    job._file_path = packages.start_job(load_id, job.file_name())
    destination = load.get_destination_client(schema)  # as dlt's worker thread takes it
    with load.maybe_with_staging_dataset(destination, use_staging):
        job.run_managed(destination, None)
    assert job.state() == "completed", job.exception()
    for marker in packages.list_pending_transitions(load_id):
        (Path(packages.storage.storage_path) / load_id / ".pending_transitions" / marker).unlink()
    assert not packages.list_pending_transitions(load_id)


def _pull_after_a_job_ran_twice(folder: Path, second: str, table: str, staged: bool) -> HubConfig:
    """Pull one deal, change the export to ``second`` (rows after the header), leave its
    package with the ``table`` job run and not recorded (on the row path: DuckDB's own merge
    takes clean files on this warehouse; a full disk sends them to dlt), then pull again."""
    export = folder / "deals.csv"
    config = csv_config(folder, {"path": "deals.csv", "columns": COLUMNS}, fast_path=False)
    export.write_text(HEADER + "1,Alpha,Discovery,2026-01-02\n", encoding="utf-8")
    assert pull(config).status == "ok"
    export.write_text(HEADER + second, encoding="utf-8")
    pipeline, _ = extract_only(config)
    pipeline.normalize()
    _run_a_job_and_lose_its_record(pipeline, table, staged=staged)

    run = pull(config)

    assert run.status == "ok", run.error
    assert run.recovered_packages == 1
    return config


def test_a_job_run_again_after_its_rows_were_staged_leaves_each_deal_once(
    tmp_path: Path,
) -> None:
    """A pull that ran out of disk space after dlt staged a table's rows, but before it
    recorded the job as done, left that job in ``started_jobs``; the next pull's loader ran
    it again, appending the same rows to the staging table a second time. The CSV
    connector declares its deals deduplicated to dlt's merge (ids are unique per file),
    which skips dlt's de-duplication of the staging rows: every deal was then inserted
    twice (CI caught it as ``deal_accounts: 8000 rows ... vs clean 4000`` in the disk-full
    test). Made here the way the full disk leaves it."""
    config = _pull_after_a_job_ran_twice(
        tmp_path, "1,Alpha,Qualified,2026-01-02\n2,Beta,Won,2026-01-03\n", "deals", staged=True
    )
    rows = query(config, "SELECT source_deal_id, stage_id FROM src_exp.deals ORDER BY 1")
    assert rows == [("1", "Qualified"), ("2", "Won")]


def test_an_appended_job_run_again_leaves_each_quarantine_row_once(tmp_path: Path) -> None:
    """The quarantine table is appended to, not merged: a job a killed run had committed but
    not recorded is run again by the next pull's loader, and appends the same rows a second
    time; the rule after the load keeps one copy of rows equal in every column. Made here
    with dlt's own loader, as the kill leaves it."""
    config = _pull_after_a_job_ran_twice(
        tmp_path,
        "1,Alpha,Qualified,not a date\n2,Beta,Won,2026-01-03\n",
        "quarantine",
        staged=False,
    )
    refused = query(config, "SELECT record_id, column_name FROM src_exp.quarantine")
    assert refused == [("1", "created")], refused
