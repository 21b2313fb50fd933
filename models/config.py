"""The ``hub.yml`` configuration model.

Validation lives here so every error can name the file, the key path, the bad value and
the valid choices. Connector-specific ``options`` are validated later, by the connector's
own options model, through :func:`models.errors.config_error_from_validation`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from models.canonical import ActivityType
from models.errors import ConfigError, config_error_from_validation

DEFAULT_CANONICAL_STAGES: tuple[tuple[str, str | None, float | None], ...] = (
    ("prospecting", None, 0.10),
    ("qualification", None, 0.20),
    ("meeting", None, 0.40),
    ("proposal", None, 0.60),
    ("negotiation", None, 0.80),
    ("closed_won", "won", 1.0),
    ("closed_lost", "lost", 0.0),
)
UNMAPPED = "unmapped"
ANY_PIPELINE = "*"
DATASET_PREFIX = "src_"  # a source's dataset is src_<name> (hub.warehouse.dataset_name)
SECRET_REFERENCES = ("env:", "dlt:")


class StrictModel(BaseModel):
    """A hub.yml section: an unknown (e.g. misspelt) key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


class CanonicalStage(StrictModel):
    """One canonical stage; terminal stages carry their outcome."""

    name: str
    outcome: Literal["won", "lost"] | None = None
    probability: float | None = Field(default=None, ge=0, le=1)
    stall_days: float | None = Field(
        default=None, gt=0, description="days in stage after which an open deal is stalled"
    )

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum() or not value[0].isalpha() or value != value.lower():
            raise ValueError("a stage name is lower_snake_case, e.g. 'proposal'")
        if value == UNMAPPED:
            raise ValueError(f"'{UNMAPPED}' is reserved for native stages with no mapping")
        return value


class WarehouseConfig(StrictModel):
    """Where the hub writes. ``duckdb`` and ``postgres`` are built in and tested; ``dlt``
    reaches any other warehouse through its dlt destination, its sqlalchemy dialect and
    a dbt profile (docs/warehouses.md; not tested here)."""

    kind: Literal["duckdb", "postgres", "dlt"] = "duckdb"
    path: str = ".hub/hub.duckdb"
    dsn: str | None = Field(default=None, description="postgres only; no password in it")
    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None
    password: str | None = Field(default=None, description="a reference: env:NAME or dlt:NAME")
    memory_limit: str = Field(
        default="1GB",
        description="duckdb only: memory DuckDB may use in loads before spilling to disk",
    )
    transform_memory_limit: str = Field(
        default="2.5GB",
        description=(
            "duckdb only: the same for dbt, whose window functions over every stage event "
            "cannot spill everything (1M deals from three CRMs ran out at 1GB; 2.5GB peaks "
            "at 2.7 GB RSS)"
        ),
    )
    load_format: Literal["copy", "insert"] = Field(
        default="copy",
        description=(
            "postgres only: how pulls load rows: copy (COPY of CSV files) or insert (SQL "
            "INSERT statements, several times slower; for a server or proxy that refuses COPY)"
        ),
    )
    jit: bool = Field(
        default=False,
        description=(
            "postgres only: let the server JIT-compile the hub's queries (dbt's models and "
            "tests, the deal score). Off by default: the transforms' row estimates cross "
            "PostgreSQL's JIT cost threshold, and compiling cost more than it saved"
        ),
    )
    destination: str | None = Field(
        default=None, description="dlt only: a dlt destination name such as snowflake"
    )
    sqlalchemy_url: str | None = Field(
        default=None, description="dlt only: env:NAME holding the sqlalchemy URL"
    )
    dbt_profiles_dir: str | None = Field(
        default=None, description="dlt only: folder of a profiles.yml with a 'hub' profile"
    )
    dbt_target: str | None = Field(default=None, description="dlt only: the output to use")

    @model_validator(mode="after")
    def _complete(self) -> WarehouseConfig:
        if self.kind == "dlt":
            missing = [
                k
                for k in ("destination", "sqlalchemy_url", "dbt_profiles_dir", "dbt_target")
                if not getattr(self, k)
            ]
            if missing:
                raise ValueError(f"kind dlt needs {', '.join(missing)} (see docs/warehouses.md)")
        return self


class StageRule(StrictModel):
    """An outbound stage rule: open deals in ``from_stages`` with a completed activity of
    ``activity_type`` move to ``to_stage`` (canonical names; the native target stage is
    resolved per pipeline through the reverse stage mapping)."""

    name: str
    activity_type: ActivityType = "meeting"
    from_stages: list[str] = Field(min_length=1)
    to_stage: str


class PushConfig(StrictModel):
    auto: bool = False
    max_share: float = Field(default=0.25, gt=0, le=1)
    stage_rules: bool = False
    rules: list[StageRule] = Field(
        default_factory=lambda: [
            StageRule(
                name="meeting_held",
                activity_type="meeting",
                from_stages=["prospecting", "qualification"],
                to_stage="meeting",
            )
        ],
        description="stage rules applied when stage_rules is true",
    )
    models: list[str] = Field(
        default_factory=lambda: ["deal_scores", "stage_updates"],
        description="relations in schema 'outbound' that hub push reads",
    )
    max_attempts: int = Field(default=3, ge=1, le=10, description="rounds for retryable rows")
    require_better_score: bool = Field(
        default=True,
        description="write deal scores only when the latest 'hub score --backtest' shows "
        "them beating the stage win rate on Brier",
    )


class SourceConfig(StrictModel):
    name: str
    kind: str
    enabled: bool = True
    credentials: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    use_default_stage_map: bool = True
    stage_map: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="pipeline id or label ('*' for any) -> native stage id or label -> canonical",
    )

    @field_validator("name")
    @classmethod
    def _dataset_safe(cls, value: str) -> str:
        if not value or not value.replace("_", "").isalnum() or value != value.lower():
            raise ValueError("a source name is lower_snake_case, e.g. 'hubspot_eu'")
        return value

    @field_validator("stage_map", mode="before")
    @classmethod
    def _stringify_ids(cls, value: Any) -> Any:
        """YAML reads numeric stage ids as ints; ids are strings everywhere else."""
        if not isinstance(value, dict):
            return value
        return {
            str(p): ({str(k): v for k, v in m.items()} if isinstance(m, dict) else m)
            for p, m in value.items()
        }


def _snake(value: str, what: str) -> str:
    if not value or not value.replace("_", "").isalnum() or value != value.lower():
        raise ValueError(f"{what} is lower_snake_case, e.g. 'lead_source'; got {value!r}")
    return value


class AccountsConfig(StrictModel):
    """Overrides for cross-CRM account resolution (docs/accounts.md). Keys are canonical
    account keys, ``<source_name>:<native id>``."""

    same_company: list[list[str]] = Field(
        default_factory=list,
        description="groups of account keys that are one company whatever their domain or name",
    )
    different_companies: list[list[str]] = Field(
        default_factory=list,
        description="groups of account keys never resolved into one company with each other",
    )

    @field_validator("same_company", "different_companies")
    @classmethod
    def _groups(cls, value: list[list[str]]) -> list[list[str]]:
        for group in value:
            if len(group) < 2:
                raise ValueError(f"a group names two or more account keys; got {group}")
            for key in group:
                if ":" not in key:
                    raise ValueError(
                        f"'{key}' is not an account key; write '<source_name>:<account id>'"
                    )
        return value


class DuplicatesConfig(StrictModel):
    """How the hub finds the same deal in two CRMs and which copy the marts count."""

    enabled: bool = True
    legacy_id_field: str | None = Field(
        default=None,
        description="deal custom field (column name) holding the deal's id in another source",
    )
    prefer: list[str] = Field(
        default_factory=list,
        description="source names, first wins; unlisted sources lose, ties: earliest created",
    )
    name_similarity: float = Field(default=0.85, gt=0, le=1)
    max_days_apart: int = Field(default=31, ge=0, description="between the two created dates")


class HubConfig(StrictModel):
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    as_of: datetime | None = Field(
        default=None, description="the instant every mart is computed at; default: run start"
    )
    base_currency: str = "USD"
    fx_rates: dict[str, float] = Field(
        default_factory=dict, description="units of base currency per one unit of the key"
    )
    stages: list[CanonicalStage] = Field(
        default_factory=lambda: [
            CanonicalStage(name=n, outcome=o, probability=p)  # type: ignore[arg-type]
            for n, o, p in DEFAULT_CANONICAL_STAGES
        ]
    )
    sources: list[SourceConfig] = Field(default_factory=list)
    push: PushConfig = Field(default_factory=PushConfig)
    dimensions: list[str] = Field(
        default_factory=list,
        description="deal or account fields (canonical or custom) the breakdown marts group by",
    )
    accounts: AccountsConfig = Field(default_factory=AccountsConfig)
    duplicates: DuplicatesConfig = Field(default_factory=DuplicatesConfig)
    lookback_minutes: int = Field(default=10, ge=0)
    response_sla_hours: float = Field(default=24, gt=0)
    quotas_path: str | None = None
    allow_literal_secrets: bool = Field(
        default=False,
        description=(
            "accept passwords and tokens written in hub.yml itself (with a warning) instead "
            "of env:NAME or dlt:NAME references; docs/configuration.md"
        ),
    )

    # Where the file was read from; relative paths resolve against its folder.
    config_path: Path | None = Field(default=None, exclude=True)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_is_end_of_day(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("base_currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError("a currency is a 3-letter ISO code such as USD")
        return value.upper()

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, value: list[str]) -> list[str]:
        for name in value:
            _snake(name, "a dimension")
        if len(set(value)) != len(value):
            raise ValueError(
                f"dimensions: listed twice: {sorted({v for v in value if value.count(v) > 1})}"
            )
        return value

    @field_validator("fx_rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        for code, rate in value.items():
            if rate <= 0:
                raise ValueError(f"the rate for {code} must be positive, got {rate}")
        return {k.upper(): v for k, v in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> HubConfig:
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stages: duplicate canonical stage names {dupes}")
        if not any(s.outcome == "won" for s in self.stages) or not any(
            s.outcome == "lost" for s in self.stages
        ):
            raise ValueError("stages: one stage needs 'outcome: won' and one 'outcome: lost'")
        source_names = [s.name for s in self.sources]
        dupes = sorted({n for n in source_names if source_names.count(n) > 1})
        if dupes:
            raise ValueError(f"sources: duplicate source names {dupes}; each name must be unique")
        unknown = [s for s in self.duplicates.prefer if s not in source_names]
        if unknown:
            raise ValueError(
                f"duplicates.prefer: {unknown} not among the sources; valid: {', '.join(source_names)}"
            )
        for src in self.sources:
            for pipeline, mapping in src.stage_map.items():
                for native, canonical in mapping.items():
                    if canonical not in names:
                        raise ValueError(
                            f"sources[{src.name}].stage_map.{pipeline}.{native}: "
                            f"'{canonical}' is not a canonical stage; valid: {', '.join(names)}"
                        )
        return self

    @property
    def warnings(self) -> list[str]:
        """What is accepted but unsafe (literal secrets under allow_literal_secrets)."""
        return list(self._warnings)

    # ----- derived values -------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    def resolve_path(self, value: str | Path) -> Path:
        path = Path(os.path.expandvars(str(value))).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def hub_dir(self) -> Path:
        """Where the hub keeps local state (dlt pipelines, dbt target, logs)."""
        return self.base_dir / ".hub"

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    @property
    def open_stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.outcome is None]

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        valid = ", ".join(s.name for s in self.sources) or "(none configured)"
        raise ConfigError(f"no source named '{name}'; configured sources: {valid}")

    def effective_as_of(self, run_started_at: datetime) -> datetime:
        return self.as_of or run_started_at


# ----- dataset names: exactly as dlt writes them ------------------------------------------------


# A name every naming convention dlt ships (snake_case, the default; duck_case, sql_ci_v1,
# sql_cs_v1, direct) leaves as it is: lower-case ASCII letters and digits, single underscores
# between them, and a ``src_`` prefix so it never starts with a digit.
_PLAIN_NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*\Z")
_DEFAULT_STAGING_LAYOUT = "%s_staging"  # dlt's default for every SQL destination
_SHORTEST_IDENTIFIER = 63  # PostgreSQL's identifier limit; DuckDB's is 65,536


def _dataset_naming(warehouse: WarehouseConfig) -> tuple[Any, str]:
    """dlt's naming convention for the configured destination, and its staging-dataset
    layout: the very objects dlt uses to turn ``dataset_name`` into a schema name (a
    schema made under the destination's capabilities, as a pipeline makes it, so dlt's own
    config such as ``schema.naming`` applies too)."""
    from dlt.common.configuration.container import Container
    from dlt.common.destination import Destination
    from dlt.common.schema import Schema

    reference = warehouse.destination if warehouse.kind == "dlt" else warehouse.kind
    try:
        destination = Destination.from_reference(reference)
        assert destination is not None  # from_reference raises for an unknown reference
        capabilities = destination.capabilities()
    except Exception as exc:  # an unknown destination, or one whose package is missing
        raise ValueError(
            f"warehouse.destination: dlt cannot load destination '{reference}' "
            f"({type(exc).__name__}: {str(exc).split('. ')[0][:200]})"
        ) from None
    with Container().injectable_context(capabilities):
        naming = Schema("hub").naming
    layout: str = getattr(destination.spec(), "staging_dataset_name_layout", "%s_staging")
    return naming, layout


class _Unchanged:
    """The naming of a plain name (``_PLAIN_NAME``) under dlt's default settings: itself."""

    @staticmethod
    def normalize_table_identifier(name: str) -> str:
        return name


def _plain_names(config: HubConfig) -> bool:
    """Whether dlt, with its default settings for a built-in warehouse, would name every
    source's dataset and merge-staging dataset exactly as the hub does: plain names, short
    enough for any identifier limit. Decided without importing dlt (about a second at every
    command); ``hub pull`` asks dlt itself before it loads (:func:`check_datasets_with_dlt`),
    so dlt's own settings (``schema.naming``, a staging layout) are still honoured there."""
    return config.warehouse.kind != "dlt" and all(
        _PLAIN_NAME.match(source.name)
        and len(_DEFAULT_STAGING_LAYOUT % (DATASET_PREFIX + source.name)) <= _SHORTEST_IDENTIFIER
        for source in config.sources
    )


def _check_datasets(config: HubConfig, path: Path | None, *, ask_dlt: bool = False) -> None:
    """Every source loads into the dataset the hub reads, ``src_<name>``, and no two sources
    share a dataset or a merge-staging dataset. dlt normalizes dataset names for the
    destination (``crm_`` -> ``src_crmx``, ``crm__x`` -> ``src_crm_x``, ``crm²`` ->
    ``src_crmx``, long names cut on PostgreSQL), so a name it changes is refused here.
    Plain names are checked without dlt unless ``ask_dlt``."""
    if not config.sources:
        return
    naming: Any
    if not ask_dlt and _plain_names(config):
        naming, staging_layout = _Unchanged(), _DEFAULT_STAGING_LAYOUT
    else:
        try:
            naming, staging_layout = _dataset_naming(config.warehouse)
        except ValueError as exc:
            raise ConfigError(f"{path or 'hub.yml'}: {exc}") from None
    users: dict[str, list[tuple[str, str]]] = {}  # dataset -> [(source, what it is to it)]
    renamed = []
    for source in config.sources:
        wanted = DATASET_PREFIX + source.name
        dataset = naming.normalize_table_identifier(wanted)
        # as dlt does: the layout takes the name before normalizing (crm_ -> src_crm_staging)
        staging = staging_layout % wanted if "%s" in staging_layout else staging_layout
        users.setdefault(dataset, []).append((source.name, "dataset"))
        users.setdefault(naming.normalize_table_identifier(staging), []).append(
            (source.name, "merge staging dataset")
        )
        if dataset != wanted:
            renamed.append(
                f"sources[{source.name}].name: dlt would load this source into dataset "
                f"'{dataset}', not '{wanted}' where the hub reads it; use plain "
                "lower_snake_case (letters and digits, single underscores between them), "
                "short enough for the warehouse's identifiers"
            )
    collisions: dict[frozenset[str], str] = {}
    for dataset, sharing in users.items():
        names = frozenset(source for source, _ in sharing)
        if len(names) > 1 and names not in collisions:
            roles = " and ".join(f"the {what} of '{source}'" for source, what in sharing)
            collisions[names] = (
                f"sources {' and '.join(repr(n) for n in sorted(names))} collide: dlt names "
                f"{roles} '{dataset}'; rename one of them"
            )
    problems = [*collisions.values(), *renamed]
    if problems:
        where = f"{path}: " if path else ""
        lines = problems[0] if len(problems) == 1 else "\n  " + "\n  ".join(problems)
        raise ConfigError(where + lines)


def check_datasets_with_dlt(config: HubConfig) -> None:
    """The dataset check asked of dlt itself, under its own settings: what a pull runs
    before it loads (it imports dlt anyway)."""
    _check_datasets(config, config.config_path, ask_dlt=True)


# ----- secrets written in hub.yml itself ---------------------------------------------------------


def _is_reference(value: str) -> bool:
    return value.startswith(SECRET_REFERENCES)


def _url_password(value: str) -> bool:
    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def _loopback_only(options: dict[str, Any]) -> bool:
    """True when every URL in a source's options is on this machine (a sandbox): its
    throwaway credentials may be written down (``hub sandbox``, ``hub demo``)."""
    urls = [
        v for v in options.values() if isinstance(v, str) and v.startswith(("http://", "https://"))
    ]
    if not urls:
        return False
    for url in urls:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return False
        if host != "localhost":
            try:
                if not ipaddress.ip_address(host).is_loopback:
                    return False
            except ValueError:
                return False
    return True


def literal_secrets(config: HubConfig) -> list[str]:
    """Key paths of secrets written into hub.yml rather than referenced (env:NAME, dlt:NAME).
    Every source credential counts (the resolver treats them all as secrets), except for a
    source whose options point only at 127.0.0.1 (a sandbox); a warehouse password counts, and
    a sqlalchemy_url with a password in it. Values are never returned."""
    found = []
    warehouse = config.warehouse
    if warehouse.password and not _is_reference(warehouse.password):
        found.append("warehouse.password")
    url = warehouse.sqlalchemy_url
    if url and not _is_reference(url) and _url_password(url):
        found.append("warehouse.sqlalchemy_url")
    for source in config.sources:
        if _loopback_only(source.options):
            continue
        found += [
            f"sources[{source.name}].credentials.{key}"
            for key, value in source.credentials.items()
            if not _is_reference(str(value))
        ]
    return found


def _check_secrets(config: HubConfig, path: Path | None) -> None:
    literal = literal_secrets(config)
    if not literal:
        return
    where = f"{path}: " if path else ""
    if not config.allow_literal_secrets:
        raise ConfigError(
            f"{where}{', '.join(literal)}: a password or token written in the file itself "
            "(hub.yml gets committed and shared); put it in an environment variable and write "
            "env:NAME (or dlt:NAME for .dlt/secrets.toml), or set 'allow_literal_secrets: true' "
            "to accept it (docs/configuration.md)"
        )
    config._warnings = [
        f"{where}{key}: a literal secret, accepted because allow_literal_secrets is true; "
        "prefer env:NAME"
        for key in literal
    ]


def load_config(path: str | Path) -> HubConfig:
    """Read and validate ``hub.yml``; every failure is a :class:`ConfigError`."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"{path}: no such file; run 'hub init' to write a commented hub.yml, "
            "or pass --config PATH"
        )
    if path.is_dir():
        inside = path / "hub.yml"
        hint = f"--config {inside}" if inside.is_file() else "--config PATH/TO/hub.yml"
        raise ConfigError(f"{path}: is a folder, not a hub.yml file; pass the file: {hint}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{path}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys such as 'sources:'")
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path | None = None) -> HubConfig:
    try:
        config = HubConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from_validation(exc, file=path, raw=raw) from None
    _check_datasets(config, path)
    _check_secrets(config, path)
    config.config_path = path.resolve() if path else None
    return config
