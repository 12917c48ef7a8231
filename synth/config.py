"""The dataset configuration file: one YAML file says everything about a dataset.

dbt, the generator, the metrics and the explorer all read the same file. It is validated
up front, and every error names the key at fault.

Example:
    >>> from synth.config import load_config
    >>> cfg = load_config("configs/nafld.yml")
    >>> cfg.mart.table
    'marts.persons'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

from synth.errors import ConfigError
from synth.schema import ColumnSpec

REPO_ROOT = Path(__file__).resolve().parents[1]

_KINDS = ("numeric", "categorical", "date")
_ROLES = ("identifier", "quasi_identifier", "sensitive", "feature", "target")
_COLUMN_KEYS = {
    "kind",
    "role",
    "integer",
    "decimals",
    "lower",
    "upper",
    "type",
    "derive",
    "missing",
    "out_of_bounds",
    "structural_missing",
    "description",
}
_TOP_KEYS = {
    "dataset",
    "description",
    "run_dir",
    "database",
    "sources",
    "split",
    "mart",
    "privacy",
    "generator",
    "tuning",
    "app",
    "evaluation",
    "rules",
    "recompute",
}


@dataclass(frozen=True)
class SplitConfig:
    """How dbt splits persons into train and holdout."""

    holdout_fraction: float = 0.2  # share of persons kept away from the generator
    seed: int = 0  # fixes which persons are held out


@dataclass(frozen=True)
class MartConfig:
    """The one-row-per-person table the generator learns from."""

    table: str
    split_column: str
    columns: list[ColumnSpec]

    @property
    def identifier(self) -> str | None:
        """The name of the identifier column, if one is declared."""
        ids = [c.name for c in self.columns if c.is_identifier]
        return ids[0] if ids else None

    @property
    def modelled(self) -> list[ColumnSpec]:
        """Columns the generator models: all but identifiers."""
        return [c for c in self.columns if not c.is_identifier]


@dataclass(frozen=True)
class PrivacyConfig:
    """Privacy limits used by evaluation and by the explorer's guard."""

    k: int = 10  # smallest group of people ever shown
    dcr_share_tolerance: float = 0.05  # allowed distance of the DCR share from its ideal
    max_exact_copies: int = 0  # synthetic rows allowed to copy a training row
    # Sampling drops synthetic rows that copy a training row exactly (every modelled
    # column equal, NULL equal to NULL) and samples more in their place; when false
    # such copies are only counted in meta.qc_rejections.
    remove_exact_copies: bool = False


@dataclass(frozen=True)
class RuleConfig:
    """A clinical rule every synthetic row must satisfy (applied by synth/quality.py)."""

    name: str  # recorded in meta.qc_rejections and in the log
    sql: str  # SQL boolean over one row's modelled mart columns; NULL counts as passed
    description: str = ""  # what the rule means, for people


@dataclass(frozen=True)
class RecomputeConfig:
    """A number column that synthetic rows take from a formula over their other columns."""

    column: str  # a modelled numeric mart column
    sql: str  # SQL number over one row's modelled columns; where NULL, the model's value stays
    description: str = ""  # what the formula means, for people


@dataclass(frozen=True)
class AppConfig:
    """Which mart columns the explorer's cohort builder offers."""

    age_column: str
    sex_column: str
    bmi_column: str | None = None
    flag_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetConfig:
    """A validated dataset configuration; paths are absolute."""

    path: Path
    root: Path
    dataset: str
    description: str
    run_dir: Path
    database: Path
    source_dir: Path
    source_tables: list[str]
    split: SplitConfig
    mart: MartConfig
    privacy: PrivacyConfig
    generator: dict[str, Any]
    app: AppConfig
    raw: dict[str, Any]
    # sources.date_formats: {table: {column: strptime format}}; staging parses each
    # declared column with its format and rejects a value that does not match it.
    date_formats: dict[str, dict[str, str]] = field(default_factory=dict)
    # rules: clinical rules sampled rows must pass; failing rows are replaced.
    rules: list[RuleConfig] = field(default_factory=list)
    # recompute: columns that sampled rows take from a formula (applied before the rules).
    recompute: list[RecomputeConfig] = field(default_factory=list)

    @property
    def config_hash(self) -> str:
        """A short, stable hash of the file's content, recorded with every run."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_config(path: str | Path) -> DatasetConfig:
    """Read and validate a dataset configuration file.

    Args:
        path: The YAML file, for example ``configs/nafld.yml``.

    Returns:
        The validated configuration, with every path made absolute against the
        repository root.

    Raises:
        ConfigError: The file is missing, is not YAML, or a key is missing or wrong;
            the message names the key.
    """
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = REPO_ROOT / path
    if not path.exists():
        raise ConfigError("(file)", f"no such file {path}; pass --config configs/<dataset>.yml")
    path = path.resolve()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError("(file)", f"is not valid YAML ({exc})", str(path)) from exc
    if not isinstance(raw, dict):
        raise ConfigError("(file)", "must hold a mapping of keys at the top level", str(path))
    return _parse(raw, path)


def _parse(raw: dict[str, Any], path: Path) -> DatasetConfig:
    where = str(path)
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(unknown[0], f"is not a known key; known keys: {sorted(_TOP_KEYS)}", where)
    root = REPO_ROOT
    dataset = _get(raw, "dataset", str, where)
    sources_raw = _get(raw, "sources", dict, where)
    source_dir = root / _get(sources_raw, "dir", str, where, prefix="sources")
    source_tables = _get(sources_raw, "tables", list, where, prefix="sources")
    if not source_tables or not all(isinstance(t, str) for t in source_tables):
        raise ConfigError("sources.tables", "must list the source tables by name", where)
    extra = sorted(set(sources_raw) - _SOURCE_KEYS)
    if extra:
        raise ConfigError(
            f"sources.{extra[0]}", f"is not a known key; known keys: {sorted(_SOURCE_KEYS)}", where
        )
    date_formats = _parse_date_formats(
        _get(sources_raw, "date_formats", dict, where, prefix="sources", default={}),
        source_tables,
        where,
    )
    split_raw = _get(raw, "split", dict, where, default={})
    split = SplitConfig(
        holdout_fraction=_num(split_raw, "holdout_fraction", "split", where, 0.2, 0.0, 0.9),
        seed=int(_num(split_raw, "seed", "split", where, 0, None, None, integer=True)),
    )
    mart = _parse_mart(_get(raw, "mart", dict, where), where)
    privacy_raw = _get(raw, "privacy", dict, where, default={})
    privacy = PrivacyConfig(
        k=int(_num(privacy_raw, "k", "privacy", where, 10, 2, None, integer=True)),
        dcr_share_tolerance=_num(privacy_raw, "dcr_share_tolerance", "privacy", where, 0.05, 0, 1),
        max_exact_copies=int(
            _num(privacy_raw, "max_exact_copies", "privacy", where, 0, 0, None, integer=True)
        ),
        remove_exact_copies=_get(
            privacy_raw, "remove_exact_copies", bool, where, prefix="privacy", default=False
        ),
    )
    rules = _parse_rules(_get(raw, "rules", list, where, default=[]), raw["mart"], where)
    app = _parse_app(_get(raw, "app", dict, where), mart, where)
    return DatasetConfig(
        path=path,
        root=root,
        dataset=dataset,
        description=str(raw.get("description", "")),
        run_dir=root / _get(raw, "run_dir", str, where, default=f"runs/{dataset}"),
        database=root
        / _get(raw, "database", str, where, default=f"runs/{dataset}/warehouse.duckdb"),
        source_dir=source_dir,
        source_tables=source_tables,
        split=split,
        mart=mart,
        privacy=privacy,
        generator=_get(raw, "generator", dict, where, default={}),
        app=app,
        raw=raw,
        date_formats=date_formats,
        rules=rules,
        recompute=_parse_recompute(
            _get(raw, "recompute", list, where, default=[]), raw["mart"], where
        ),
    )


_SOURCE_KEYS = {"dir", "tables", "date_formats"}
# strptime directives DuckDB reads; a format naming any other is refused up front.
_DATE_DIRECTIVES = set("aAbBcdfgGhHIjmMnpsSTuUVwWxXyYzZ%") | {
    "-d",
    "-m",
    "-H",
    "-I",
    "-M",
    "-S",
    "-j",
    "-y",
}
_DIRECTIVE = re.compile(r"%(-?.)")


def _parse_date_formats(
    raw: dict[str, Any], tables: list[str], where: str
) -> dict[str, dict[str, str]]:
    """Check sources.date_formats: {table: {column: strptime format}}.

    A format must name a year, a month and a day (or a day of the year) with
    directives DuckDB's strptime reads, and must read back what it writes: a
    format is declared, never guessed, so a vague one is refused here.
    """
    parsed: dict[str, dict[str, str]] = {}
    for table, columns in raw.items():
        key = f"sources.date_formats.{table}"
        if table not in tables:
            raise ConfigError(
                key, f"names a table that sources.tables does not list {tables}", where
            )
        if not isinstance(columns, dict) or not columns:
            raise ConfigError(
                key, "must map column names to formats, e.g. {visit_date: '%d/%m/%Y'}", where
            )
        parsed[table] = {}
        for column, fmt in columns.items():
            ckey = f"{key}.{column}"
            if not isinstance(column, str) or not _NAME.match(column):
                raise ConfigError(
                    ckey, "must be a lowercase column name (letters, digits, _)", where
                )
            if not isinstance(fmt, str):
                raise ConfigError(
                    ckey, f"must be a strptime format such as '%Y-%m-%d', got {fmt!r}", where
                )
            _check_date_format(fmt, ckey, where)
            parsed[table][column] = fmt
    return parsed


def _check_date_format(fmt: str, key: str, where: str) -> None:
    directives = _DIRECTIVE.findall(fmt)
    unknown = [d for d in directives if d not in _DATE_DIRECTIVES]
    if unknown:
        raise ConfigError(key, f"uses %{unknown[0]}, which strptime does not read ({fmt!r})", where)
    letters = {d.lstrip("-") for d in directives}
    has_year = bool({"Y", "y", "G"} & letters)
    has_day = "j" in letters or ("d" in letters and bool({"m", "b", "B", "h"} & letters))
    if not (has_year and has_day):
        raise ConfigError(
            key, f"({fmt!r}) must name a year, a month and a day, e.g. '%d/%m/%Y'", where
        )
    # The engine that will read the dates checks the format.
    with duckdb.connect() as con:
        back = con.execute(
            "select try_strptime(strftime(timestamp '2021-04-03 13:14:15.123456', $1), $1)",
            [fmt],
        ).fetchone()[0]
    if back is None or back.date().isoformat() != "2021-04-03":
        raise ConfigError(key, f"({fmt!r}) does not read back the dates it writes", where)


def _parse_mart(raw: dict[str, Any], where: str) -> MartConfig:
    columns_raw = _get(raw, "columns", dict, where, prefix="mart")
    columns = []
    for name, spec in columns_raw.items():
        key = f"mart.columns.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(key, "must be a mapping such as {kind: numeric}", where)
        extra = sorted(set(spec) - _COLUMN_KEYS)
        if extra:
            raise ConfigError(f"{key}.{extra[0]}", "is not a known column setting", where)
        kind = spec.get("kind")
        if kind not in _KINDS:
            raise ConfigError(f"{key}.kind", f"must be one of {list(_KINDS)}, got {kind!r}", where)
        role = spec.get("role", "feature")
        if role not in _ROLES:
            raise ConfigError(f"{key}.role", f"must be one of {list(_ROLES)}, got {role!r}", where)
        lower = _num(spec, "lower", key, where, None, None, None)
        upper = _num(spec, "upper", key, where, None, None, None)
        if lower is not None and upper is not None and lower > upper:
            raise ConfigError(f"{key}.lower", f"({lower}) is above upper ({upper})", where)
        _check_variable(spec, key, where)
        decimals = _num(spec, "decimals", key, where, None, 0, 12, integer=True)
        integer = spec.get("integer", False)
        if not isinstance(integer, bool):
            raise ConfigError(f"{key}.integer", "must be true or false", where)
        columns.append(
            ColumnSpec(
                name=name,
                kind=kind,
                role=role,
                integer=integer,
                decimals=None if decimals is None else int(decimals),
                lower=lower,
                upper=upper,
            )
        )
    if not columns:
        raise ConfigError("mart.columns", "must declare at least one column", where)
    for name, spec in columns_raw.items():
        if "derive" not in spec:
            raise ConfigError(
                f"mart.columns.{name}.derive",
                "is required: say where the value comes from, e.g. "
                "{from: person, column: age_years}",
                where,
            )
    if sum(c.is_identifier for c in columns) > 1:
        raise ConfigError("mart.columns", "may declare at most one identifier column", where)
    return MartConfig(
        table=_get(raw, "table", str, where, prefix="mart"),
        split_column=_get(raw, "split_column", str, where, prefix="mart", default="split"),
        columns=columns,
    )


_SQL_TYPES = ("bigint", "integer", "double", "boolean", "varchar", "date")
_DERIVE_KEYS = {
    "person": {"column"},
    "death": {"column"},
    "measurement": {"measurement", "aggregate", "window"},
    "condition": {"icd10", "block", "chapter", "window"},
    "survey": {"item", "true_answers", "false_answers", "window"},
}
_PERSON_COLUMNS = ("person_id", "sex", "age_years", "birth_year", "index_date")
_DEATH_COLUMNS = ("is_dead", "followup_days", "death_day")
_AGGREGATES = ("last", "first", "mean", "min", "max", "count")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _check_variable(spec: dict[str, Any], key: str, where: str) -> None:
    """Check a mart column's type, derive, missing and structural_missing settings."""
    name = key.rsplit(".", 1)[-1]
    if not _NAME.match(name):
        raise ConfigError(key, "must be a lowercase SQL name (letters, digits, _)", where)
    sql_type = spec.get("type")
    if sql_type is not None and sql_type not in _SQL_TYPES:
        raise ConfigError(f"{key}.type", f"must be one of {list(_SQL_TYPES)}", where)
    if spec.get("out_of_bounds", "null") not in ("null", "clip"):
        raise ConfigError(f"{key}.out_of_bounds", "must be null or clip", where)
    derive = spec.get("derive")
    if derive is not None:
        _check_derive(derive, f"{key}.derive", where)
    missing = spec.get("missing")
    if (
        missing is not None
        and missing != "keep"
        and (
            not isinstance(missing, dict)
            or len(missing) != 1
            or not ({"value", "fill"} & set(missing))
        )
    ):
        raise ConfigError(
            f"{key}.missing",
            "must be keep, {value: <default>} or {fill: <SQL over other columns>}",
            where,
        )
    structural = spec.get("structural_missing")
    if structural is not None:
        if not isinstance(structural, dict) or not isinstance(structural.get("when"), str):
            raise ConfigError(
                f"{key}.structural_missing.when",
                'must be a SQL condition over mart columns, e.g. "age_years < 20"',
                where,
            )
        if not isinstance(structural.get("reason"), str):
            raise ConfigError(
                f"{key}.structural_missing.reason", "must say why the value is absent", where
            )


def _check_derive(derive: Any, key: str, where: str) -> None:
    if not isinstance(derive, dict):
        raise ConfigError(key, "must be a mapping such as {from: person, column: sex}", where)
    source = derive.get("from")
    if source not in _DERIVE_KEYS:
        raise ConfigError(f"{key}.from", f"must be one of {sorted(_DERIVE_KEYS)}", where)
    extra = sorted(set(derive) - _DERIVE_KEYS[source] - {"from"})
    if extra:
        raise ConfigError(f"{key}.{extra[0]}", f"is not a setting of from: {source}", where)
    if source == "person" and derive.get("column") not in _PERSON_COLUMNS:
        raise ConfigError(f"{key}.column", f"must be one of {list(_PERSON_COLUMNS)}", where)
    if source == "death" and derive.get("column") not in _DEATH_COLUMNS:
        raise ConfigError(f"{key}.column", f"must be one of {list(_DEATH_COLUMNS)}", where)
    if source == "measurement":
        if not isinstance(derive.get("measurement"), str):
            raise ConfigError(f"{key}.measurement", "must name a measurement", where)
        if derive.get("aggregate", "last") not in _AGGREGATES:
            raise ConfigError(f"{key}.aggregate", f"must be one of {list(_AGGREGATES)}", where)
    if source == "condition":
        if not any(derive.get(k) for k in ("icd10", "block", "chapter")):
            raise ConfigError(f"{key}.icd10", "give icd10 prefixes, blocks or chapters", where)
        for k in ("icd10", "block", "chapter"):
            value = derive.get(k, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{key}.{k}", "must be a list of text codes", where)
    if source == "survey" and not isinstance(derive.get("item"), str):
        raise ConfigError(f"{key}.item", "must name a questionnaire item", where)
    for k in ("true_answers", "false_answers"):
        value = derive.get(k)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise ConfigError(f"{key}.{k}", 'must be a list of quoted answers, e.g. ["1"]', where)
    window = derive.get("window")
    if window is not None and (
        not isinstance(window, list)
        or len(window) != 2
        or not all(w is None or (isinstance(w, int) and not isinstance(w, bool)) for w in window)
    ):
        raise ConfigError(f"{key}.window", "must be [from_day, to_day]; null = open", where)


_RESERVED_RULE_NAMES = {"exact_copy"}  # the row meta.qc_rejections keeps for copies


def _modelled(mart_raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The raw specs of the mart's modelled columns (identifiers are assigned after QC)."""
    columns = mart_raw["columns"]
    return {name: spec for name, spec in columns.items() if spec.get("role") != "identifier"}


@contextlib.contextmanager
def _mart_row(mart_raw: dict[str, Any]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private DuckDB with an empty table ``mart_row`` of the modelled columns."""
    columns = ", ".join(
        f'"{name}" {_rule_column_type(spec)}' for name, spec in _modelled(mart_raw).items()
    )
    with duckdb.connect() as con:
        con.execute("set enable_external_access = false")
        con.execute(f"create table mart_row ({columns})")
        yield con


def _parse_rules(raw: list[Any], mart_raw: dict[str, Any], where: str) -> list[RuleConfig]:
    """Check rules: a list of {name, sql, description}; each sql is tried on an empty row.

    Every expression is bound by DuckDB against an empty table holding the mart's
    modelled columns (identifiers are assigned after quality control), so a typo, an
    unknown column or an expression that is not true/false fails here, before training.
    """
    rules: list[RuleConfig] = []
    with _mart_row(mart_raw) as con:
        for i, item in enumerate(raw):
            key = f"rules[{i}]"
            if not isinstance(item, dict):
                raise ConfigError(key, "must be a mapping such as {name: ..., sql: ...}", where)
            extra = sorted(set(item) - {"name", "sql", "description"})
            if extra:
                raise ConfigError(f"{key}.{extra[0]}", "is not a rule setting", where)
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"{key}.name", "must be a short text naming the rule", where)
            if name in _RESERVED_RULE_NAMES or name in {r.name for r in rules}:
                raise ConfigError(f"{key}.name", f"({name!r}) is reserved or used twice", where)
            sql = item.get("sql")
            if not isinstance(sql, str) or not sql.strip():
                raise ConfigError(f"{key}.sql", "must be a SQL condition over mart columns", where)
            _check_rule_sql(con, sql, f"{key}.sql", where)
            description = item.get("description", "")
            if not isinstance(description, str):
                raise ConfigError(f"{key}.description", "must be text", where)
            rules.append(RuleConfig(name=name, sql=sql, description=description))
    return rules


def _parse_recompute(raw: list[Any], mart_raw: dict[str, Any], where: str) -> list[RecomputeConfig]:
    """Check recompute entries: a list of {column, sql, description}.

    The column must be a modelled numeric mart column, named once; the expression is
    bound by DuckDB against an empty row of the modelled columns and must give a number.
    """
    specs = _modelled(mart_raw)
    out: list[RecomputeConfig] = []
    with _mart_row(mart_raw) as con:
        for i, item in enumerate(raw):
            key = f"recompute[{i}]"
            if not isinstance(item, dict):
                raise ConfigError(key, "must be a mapping such as {column: ..., sql: ...}", where)
            extra = sorted(set(item) - {"column", "sql", "description"})
            if extra:
                raise ConfigError(f"{key}.{extra[0]}", "is not a recompute setting", where)
            column = item.get("column")
            if column not in specs or specs[column].get("kind") != "numeric":
                raise ConfigError(
                    f"{key}.column",
                    f"({column!r}) must name a modelled numeric column of the mart",
                    where,
                )
            if column in {r.column for r in out}:
                raise ConfigError(f"{key}.column", f"({column!r}) is recomputed twice", where)
            sql = item.get("sql")
            if not isinstance(sql, str) or not sql.strip():
                raise ConfigError(f"{key}.sql", "must be a SQL number over mart columns", where)
            kind = _sql_kind(con, sql, f"{key}.sql", where)
            if kind not in _NUMBER_TYPES and not kind.startswith("DECIMAL"):
                raise ConfigError(f"{key}.sql", f"({sql!r}) must give a number, not {kind}", where)
            description = item.get("description", "")
            if not isinstance(description, str):
                raise ConfigError(f"{key}.description", "must be text", where)
            out.append(RecomputeConfig(column=column, sql=sql, description=description))
    return out


_NUMBER_TYPES = {"DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"}


def _rule_column_type(spec: dict[str, Any]) -> str:
    if spec.get("type") in _SQL_TYPES:
        return str(spec["type"])
    if spec.get("kind") == "numeric":
        return "bigint" if spec.get("integer") else "double"
    return "date" if spec.get("kind") == "date" else "varchar"


def _sql_kind(con: duckdb.DuckDBPyConnection, sql: str, key: str, where: str) -> str:
    """The SQL type of one expression over the empty ``mart_row``, upper case."""
    query = f"select (\n{sql}\n) as value from mart_row"
    try:
        statements = con.extract_statements(query)
        if len(statements) != 1:
            raise ConfigError(key, f"({sql!r}) must be one expression, not statements", where)
        kind = con.execute(query + "\nlimit 0").description[0][1]
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            key, f"({sql!r}) is not valid over the mart's columns: {first}", where
        ) from exc
    return str(kind).upper()


def _check_rule_sql(con: duckdb.DuckDBPyConnection, sql: str, key: str, where: str) -> None:
    kind = _sql_kind(con, sql, key, where)
    if kind != "BOOLEAN":
        raise ConfigError(key, f"({sql!r}) must be true or false per row, not {kind}", where)


def _parse_app(raw: dict[str, Any], mart: MartConfig, where: str) -> AppConfig:
    names = {c.name for c in mart.columns}
    app = AppConfig(
        age_column=_get(raw, "age_column", str, where, prefix="app"),
        sex_column=_get(raw, "sex_column", str, where, prefix="app"),
        bmi_column=raw.get("bmi_column"),
        flag_columns=list(raw.get("flag_columns", [])),
    )
    for key in ("age_column", "sex_column", "bmi_column"):
        value = getattr(app, key)
        if value is not None and value not in names:
            raise ConfigError(f"app.{key}", f"names {value!r}, which is not in mart.columns", where)
    for i, flag in enumerate(app.flag_columns):
        if flag not in names:
            raise ConfigError(
                f"app.flag_columns[{i}]", f"names {flag!r}, which is not in mart.columns", where
            )
    return app


_MISSING = object()


def _get(
    raw: dict[str, Any],
    key: str,
    typ: type,
    where: str,
    *,
    prefix: str | None = None,
    default: Any = _MISSING,
) -> Any:
    full = f"{prefix}.{key}" if prefix else key
    if key not in raw or raw[key] is None:
        if default is _MISSING:
            raise ConfigError(full, "is required but missing", where)
        return default
    value = raw[key]
    if not isinstance(value, typ):
        raise ConfigError(full, f"must be a {typ.__name__}, got {value!r}", where)
    return value


def _num(
    raw: dict[str, Any],
    key: str,
    prefix: str,
    where: str,
    default: float | None,
    low: float | None,
    high: float | None,
    *,
    integer: bool = False,
) -> Any:
    full = f"{prefix}.{key}"
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(full, f"must be a number, got {value!r}", where)
    if integer and int(value) != value:
        raise ConfigError(full, f"must be a whole number, got {value!r}", where)
    if low is not None and value < low:
        raise ConfigError(full, f"must be at least {low}, got {value!r}", where)
    if high is not None and value > high:
        raise ConfigError(full, f"must be at most {high}, got {value!r}", where)
    return value
