"""hub.yml errors name the file, the key path, the bad value and the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.init_template import HUB_YML
from models.config import load_config
from models.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "sources: [{name: a, kind: csv, options: {}}]\nwarehouse: {kind: oracle}\n",
            ["warehouse.kind", "valid: 'duckdb', 'postgres' or 'dlt'", "'oracle'"],
            id="bad-warehouse-kind-lists-choices",
        ),
        pytest.param(
            "base_currency: dollars\n",
            ["base_currency", "3-letter", "'dollars'"],
            id="bad-currency",
        ),
        pytest.param(
            "sources:\n  - {name: Bad-Name, kind: csv}\n",
            ["sources[0:Bad-Name].name", "lower_snake_case"],
            id="bad-source-name",
        ),
        pytest.param(
            "sources:\n  - {name: a, kind: csv, stage_map: {'*': {Won: winner}}}\n",
            ["stage_map", "'winner' is not a canonical stage", "closed_won"],
            id="stage-map-to-unknown-canonical-stage",
        ),
        pytest.param("sourcez: []\n", ["sourcez", "unknown key"], id="unknown-top-level-key"),
        pytest.param(
            "sources: [\n  {name: a\n",
            ["hub.yml", "line", "not valid YAML"],
            id="broken-yaml-gives-line",
        ),
        pytest.param("fx_rates: {EUR: -1}\n", ["fx_rates", "positive"], id="negative-fx-rate"),
        pytest.param(
            "sources:\n  - {name: a, kind: csv}\n  - {name: a, kind: csv}\n",
            ["duplicate source names ['a']"],
            id="duplicate-sources",
        ),
        pytest.param("- just\n- a list\n", ["top level must be a mapping"], id="top-level-list"),
    ],
)
def test_config_errors_name_where_and_what(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    message = str(info.value)
    assert str(tmp_path / "hub.yml") in message or "hub.yml" in message
    for fragment in expected:
        assert fragment in message, message


def test_missing_config_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hub init"):
        load_config(tmp_path / "nope.yml")


def test_init_template_is_a_valid_config(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, HUB_YML))
    assert [s.name for s in config.stages][-2:] == ["closed_won", "closed_lost"]
    assert config.sources[0].kind == "csv"
    assert config.warehouse.path == ".hub/hub.duckdb"


def test_unknown_connector_kind_lists_the_valid_kinds() -> None:
    from connectors.registry import get_connector

    with pytest.raises(ConfigError) as info:
        get_connector("hubsopt")
    assert "'hubsopt' is not a known connector kind" in str(info.value)
    assert "csv" in str(info.value)


def test_csv_options_errors_name_the_option_path(tmp_path: Path) -> None:
    from connectors.registry import get_connector

    config = load_config(
        _write(
            tmp_path,
            "sources:\n  - name: exp\n    kind: csv\n    options:\n"
            "      deals: {path: d.csv, columns: {deal_id: id}}\n",
        )
    )
    with pytest.raises(ConfigError) as info:
        get_connector("csv").parse_options(config.sources[0], config)
    message = str(info.value)
    assert "sources[exp].options.deals" in message
    assert "source_deal_id" in message  # the valid field names are listed


# ----- source names: the dataset dlt really loads into -------------------------------------


def _sources(*names: str, warehouse: str = "") -> str:
    entries = ", ".join(f"{{name: '{n}', kind: csv}}" for n in names)
    return f"{warehouse}sources: [{entries}]\n"


POSTGRES = "warehouse: {kind: postgres, host: h, user: u, database: d}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            _sources("crm_"),
            ["sources[crm_].name", "'src_crmx'", "'src_crm_'"],
            id="trailing-underscore",
        ),
        pytest.param(
            _sources("crm²"), ["sources[crm²].name", "'src_crmx'"], id="superscript-digit"
        ),
        pytest.param(_sources("crmé"), ["sources[crmé].name", "'src_crmx'"], id="accented-letter"),
        pytest.param(
            _sources("crm_x", "crm__x"),
            ["sources 'crm__x' and 'crm_x' collide", "'src_crm_x'"],
            id="double-underscore-shares-a-dataset",
        ),
        pytest.param(
            _sources("sales", "sales_staging"),
            ["sources 'sales' and 'sales_staging' collide", "merge staging dataset of 'sales'"],
            id="a-dataset-named-like-another-sources-staging",
        ),
        pytest.param(
            _sources("n" * 70, warehouse=POSTGRES),
            ["dlt would load this source into dataset 'src_nnnnn", "identifiers"],
            id="too-long-for-postgres",
        ),
    ],
)
def test_source_names_dlt_would_rename_or_share_are_refused(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    for fragment in expected:
        assert fragment in str(info.value), str(info.value)


def test_plain_names_are_accepted_and_length_depends_on_the_warehouse(tmp_path: Path) -> None:
    load_config(_write(tmp_path, _sources("crm_export", "hubspot_eu", "crm2", "a1_b2_c3")))
    load_config(_write(tmp_path, _sources("n" * 70)))  # DuckDB identifiers are not cut


def test_the_names_accepted_are_exactly_where_real_dlt_loads(tmp_path: Path) -> None:
    """Independent of the check: a real dlt pipeline into DuckDB per name, and the schema
    that appears. Accepted names land in src_<name>; refused ones land elsewhere."""
    import dlt
    import duckdb

    accepted_names = []
    for i, name in enumerate(["crm_export", "crm2", "crm_", "crm__x", "crm²"]):
        db = tmp_path / f"w{i}.duckdb"
        dlt.pipeline(
            pipeline_name=f"p{i}",
            destination=dlt.destinations.duckdb(str(db)),
            dataset_name=f"src_{name}",
            pipelines_dir=str(tmp_path / "pipelines"),
        ).run([{"id": 1}], table_name="t")
        with duckdb.connect(str(db), read_only=True) as con:
            schemas = con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()
        (landed,) = {s for (s,) in schemas if s.startswith("src_")}
        try:
            load_config(_write(tmp_path, _sources(name)))
            accepted = True
        except ConfigError:
            accepted = False
        assert accepted == (landed == f"src_{name}"), (name, landed)
        accepted_names += [name] if accepted else []
    assert accepted_names == ["crm_export", "crm2"]


def test_config_given_a_folder_says_to_pass_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "sources: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert "is a folder" in str(info.value)
    assert f"--config {tmp_path / 'hub.yml'}" in str(info.value)
