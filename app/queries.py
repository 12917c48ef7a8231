"""Cohort queries against a dataset's DuckDB database, and the tables the guard sees.

Values always travel as bound parameters; table and column names come from the
configuration and are quoted. Nothing here returns rows about a person: queries count
people by age and sex, and :func:`age_sex_levels` turns those counts into the tables the
guard releases (10-year bands, 20-year bands, all ages).

Example:
    >>> con = duckdb.connect()
    >>> _ = con.execute("create table t as select * from (values (40, 'F'), (41, NULL)) v(a, sex)")
    >>> group_counts(con, "t", ["sex"])
    {('F',): 1, (None,): 1}
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from app.guard import Cohort, CountTable, Group, ValueSet

log = logging.getLogger(__name__)

AGE_DOMAIN = range(0, 131)  # whole years an age column can hold
BMI_OBESE = 30.0  # BMI at and above which a person counts as obese (kg/m2)
BLANK = "(blank)"  # how a NULL group is labelled


@dataclass(frozen=True)
class Threshold:
    """A biomarker threshold the configuration declares (``app.thresholds``).

    Attributes:
        column: A numeric mart column.
        op: One of ``>=``, ``>``, ``<=``, ``<``.
        value: The threshold.
        label: What the cohort builder shows, for example ``BMI >= 30``.
    """

    column: str
    op: str
    value: float
    label: str

    @property
    def key(self) -> str:
        """The name the guard knows this condition by (a derived true/false column)."""
        return f"{self.column} {self.op} {self.value:g}"

    def implies(self, other: Threshold) -> bool:
        """True when everyone meeting this threshold meets ``other`` too."""
        if other.column != self.column:
            return False
        up, other_up = self.op in (">=", ">"), other.op in (">=", ">")
        if up != other_up:
            return False
        if self.value == other.value:
            return self.op == other.op or self.op in (">", "<")
        return self.value > other.value if up else self.value < other.value


@dataclass(frozen=True)
class DxNode:
    """One node of the ICD-10 hierarchy offered by the cohort builder.

    Attributes:
        key: The name the guard knows the condition "has a diagnosis here" by; for a code
            that one flag column stands for alone, the flag column itself.
        level: ``chapter``, ``block`` or ``code``.
        code: The chapter number, block range or code.
        title: What the builder shows.
        flags: The mart flag columns whose codes fall under this node (any of them).
        parent: The key of the node above, or None for a chapter.
    """

    key: str
    level: str
    code: str
    title: str
    flags: tuple[str, ...]
    parent: str | None


@dataclass(frozen=True)
class Columns:
    """Which columns of the mart the cohort builder uses (from the configuration's ``app``)."""

    age: str
    sex: str
    bmi: str | None
    flags: tuple[str, ...]
    thresholds: tuple[Threshold, ...] = ()  # biomarker thresholds the configuration declares
    diagnoses: tuple[DxNode, ...] = ()  # the ICD-10 hierarchy over the flag columns
    strata: tuple[str, ...] = ()  # quasi-identifier columns a table may be split by
    integers: tuple[tuple[str, int, int], ...] = ()  # integer columns and their value ranges

    def domain(self, column: str) -> range | None:
        """The whole numbers an integer column can hold, or None for other columns."""
        if column == self.age:
            return AGE_DOMAIN
        for name, low, high in self.integers:
            if name == column:
                return range(low, high + 1)
        return None

    def implied(self, key: str) -> tuple[str, ...]:
        """Keys that are true whenever ``key`` is (a code's block and chapter, a looser threshold).

        A diagnosis node holds when any of its flag columns does, so a key implies every
        node whose flags include all of its own.
        """
        out: list[str] = []
        mine = self.flags_of(key)
        if mine:
            out += [n.key for n in self.diagnoses if n.key != key and mine <= set(n.flags)]
        for t in self.thresholds:
            if t.key == key:
                out += [u.key for u in self.thresholds if u is not t and t.implies(u)]
        return tuple(dict.fromkeys(out))

    def flags_of(self, key: str) -> set[str]:
        """The flag columns a flag or diagnosis key stands for (any of them)."""
        if key in self.flags:
            return {key}
        return {f for n in self.diagnoses if n.key == key for f in n.flags}


@dataclass(frozen=True)
class Filters:
    """One cohort question. Hashable, so it can be part of a cache key.

    Attributes:
        sexes: Sex values kept (``None`` for a blank); ``None`` keeps everyone.
        age_min: Lowest age kept, or ``None`` for no lower bound.
        age_max: Highest age kept, or ``None`` for no upper bound.
        flags: Diagnosis flags that must all be true.
        obese: Keep only people with BMI of 30 or more.
        diagnoses: ICD-10 nodes (chapter, block or code) the person must have.
        thresholds: Declared biomarker thresholds the person must meet.
    """

    sexes: tuple[str | None, ...] | None = None
    age_min: int | None = None
    age_max: int | None = None
    flags: tuple[str, ...] = ()
    obese: bool = False
    diagnoses: tuple[str, ...] = ()  # DxNode keys, all of which must hold
    thresholds: tuple[str, ...] = ()  # Threshold keys, all of which must hold


@dataclass(frozen=True)
class TableProfile:
    """What the app may know about a table as a whole: sexes present and the age span."""

    rows: int
    sexes: tuple[str | None, ...]
    age_low: int | None
    age_high: int | None
    has_blank_age: bool


def quote_ident(name: str) -> str:
    """Quote a possibly schema-qualified name for DuckDB.

    Example:
        >>> quote_ident("marts.persons")
        '"marts"."persons"'
    """
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def open_readonly(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open a dataset's database read-only (the app never writes to it)."""
    return duckdb.connect(str(path), read_only=True)


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """True when the (schema-qualified) table or view exists."""
    schema, _, name = table.rpartition(".")
    row = con.execute(
        "select count(*) from information_schema.tables where table_name = ?"
        " and (? = '' or table_schema = ?)",
        [name, schema, schema],
    ).fetchone()
    return bool(row and row[0])


def table_version(con: duckdb.DuckDBPyConnection, path: str | Path, table: str) -> str:
    """A key that changes whenever the table's content may have changed.

    The database file's modification time and size, with the table's row count.
    """
    stat = Path(path).stat()
    rows = con.execute(f"select count(*) from {quote_ident(table)}").fetchone()[0]
    return f"{stat.st_mtime_ns}:{stat.st_size}:{rows}"


def profile_table(con: duckdb.DuckDBPyConnection, table: str, cols: Columns) -> TableProfile:
    """Sexes present, age span and whether blanks exist; no count of any group."""
    t, age, sex = quote_ident(table), quote_ident(cols.age), quote_ident(cols.sex)
    rows, low, high, blank_age = con.execute(
        f"select count(*), min({age}), max({age}), count(*) filter (where {age} is null) > 0"
        f" from {t}"
    ).fetchone()
    sexes = [r[0] for r in con.execute(f"select distinct {sex} from {t}").fetchall()]
    ordered = tuple(sorted((s for s in sexes if s is not None), key=str)) + (
        (None,) if None in sexes else ()
    )
    return TableProfile(
        int(rows),
        ordered,
        None if low is None else int(low),
        None if high is None else int(high),
        bool(blank_age),
    )


def where_clause(filters: Filters, cols: Columns) -> tuple[str, list]:
    """The SQL condition and its bound parameters for ``filters``."""
    parts: list[str] = []
    params: list = []
    if filters.sexes is not None:
        sex = quote_ident(cols.sex)
        named = [s for s in filters.sexes if s is not None]
        options = []
        if named:
            options.append(f"{sex} in ({', '.join('?' for _ in named)})")
            params.extend(named)
        if None in filters.sexes:
            options.append(f"{sex} is null")
        parts.append("(" + (" or ".join(options) or "false") + ")")
    if filters.age_min is not None:
        parts.append(f"{quote_ident(cols.age)} >= ?")
        params.append(filters.age_min)
    if filters.age_max is not None:
        parts.append(f"{quote_ident(cols.age)} <= ?")
        params.append(filters.age_max)
    for flag in filters.flags:
        if flag not in cols.flags:
            raise ValueError(f"{flag!r} is not one of the configured flag columns")
        parts.append(f"{quote_ident(flag)} is true")
    if filters.obese:
        if cols.bmi is None:
            raise ValueError("this dataset configures no BMI column")
        parts.append(f"{quote_ident(cols.bmi)} >= ?")
        params.append(BMI_OBESE)
    for key in filters.diagnoses:
        node = _node(cols, key)
        parts.append("(" + " or ".join(f"{quote_ident(f)} is true" for f in node.flags) + ")")
    for key in filters.thresholds:
        t = _threshold(cols, key)
        parts.append(f"{quote_ident(t.column)} {t.op} ?")
        params.append(t.value)
    return (" and ".join(parts) or "true"), params


def _node(cols: Columns, key: str) -> DxNode:
    for node in cols.diagnoses:
        if node.key == key:
            return node
    raise ValueError(f"{key!r} is not a diagnosis this dataset offers")


def _threshold(cols: Columns, key: str) -> Threshold:
    for t in cols.thresholds:
        if t.key == key:
            return t
    raise ValueError(f"{key!r} is not a threshold this dataset declares")


def count_by_age_sex(
    con: duckdb.DuckDBPyConnection, table: str, cols: Columns, filters: Filters
) -> dict[tuple[int | None, str | None], int]:
    """People per (age in years, sex) in the cohort; blanks are groups of their own.

    These raw counts may be small: they go to the guard, never to the screen.
    """
    where, params = where_clause(filters, cols)
    age, sex = quote_ident(cols.age), quote_ident(cols.sex)
    sql = (
        f"select {age}, {sex}, count(*) from {quote_ident(table)} where {where}"
        f" group by {age}, {sex}"
    )
    rows = con.execute(sql, params).fetchall()
    log.info("counted %s: %d age-sex groups", table, len(rows))
    return {(None if a is None else int(a), s): int(n) for a, s, n in rows}


def group_counts(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str]
) -> dict[tuple, int]:
    """People per combination of ``columns``; a blank is a group of its own.

    Example:
        >>> con = duckdb.connect()
        >>> _ = con.execute("create table t as select * from (values (1, NULL), (2, NULL)) v(a, b)")
        >>> group_counts(con, "t", ["b"])
        {(None,): 2}
    """
    names = ", ".join(quote_ident(c) for c in columns)
    rows = con.execute(
        f"select {names}, count(*) from {quote_ident(table)} group by {names} order by all"
    ).fetchall()
    return {tuple(r[:-1]): int(r[-1]) for r in rows}


def cohort_of(filters: Filters, cols: Columns) -> Cohort:
    """The guard's view of the filters: one box of allowed values per column."""
    constraints: dict[str, ValueSet] = {}
    if filters.sexes is not None:
        constraints[cols.sex] = ValueSet.of(*filters.sexes)
    if filters.age_min is not None or filters.age_max is not None:
        low = AGE_DOMAIN.start if filters.age_min is None else filters.age_min
        high = AGE_DOMAIN.stop - 1 if filters.age_max is None else filters.age_max
        constraints[cols.age] = ValueSet.of(*range(low, high + 1))
    for flag in filters.flags:
        constraints[flag] = ValueSet.of(True)
    if filters.obese and cols.bmi is not None:
        constraints[f"{cols.bmi} >= {BMI_OBESE:g}"] = ValueSet.of(True)
    for key in (*filters.diagnoses, *filters.thresholds):
        constraints[key] = ValueSet.of(True)
    return close(Cohort(constraints), cols)


def close(cohort: Cohort, cols: Columns) -> Cohort:
    """The cohort with every implied condition added, so the guard sees nested cohorts.

    I21 implies block I20-I25 and chapter IX; BMI >= 35 implies BMI >= 30.
    """
    constraints = dict(cohort.items)
    for key, values in cohort.items:
        if values == ValueSet.of(True):
            for implied in cols.implied(key):
                constraints[implied] = constraints.get(implied, ValueSet.everything()) & values
    return Cohort(constraints)


def _age_groups(
    width: int | None, profile: TableProfile, filters: Filters, age: str
) -> list[Group]:
    groups = []
    if profile.age_low is not None and profile.age_high is not None:
        low = max(profile.age_low, filters.age_min or profile.age_low)
        high = min(profile.age_high, filters.age_max if filters.age_max is not None else 999)
        if width is None:
            if low <= high:
                groups.append(Group("all ages", Cohort({age: ValueSet.of(*AGE_DOMAIN)})))
        else:
            for start in range(low - low % width, high + 1, width):
                span = range(start, start + width)
                label = f"{start}-{start + width - 1}"
                groups.append(Group(label, Cohort({age: ValueSet.of(*span)})))
    if profile.has_blank_age and filters.age_min is None and filters.age_max is None:
        groups.append(Group(BLANK, Cohort({age: ValueSet.of(None)})))
    return groups


def age_sex_levels(
    counts: dict[tuple[int | None, str | None], int],
    profile: TableProfile,
    filters: Filters,
    cols: Columns,
    widths: Sequence[int | None] = (10, 20, None),
) -> list[CountTable]:
    """The tables the guard chooses from: age bands by sex, finest first.

    Rows and columns come from the table as a whole and the filters, never from which
    groups happen to be non-empty, so an empty cell is a zero the guard hides.
    """
    cohort = cohort_of(filters, cols)
    sexes = (
        profile.sexes
        if filters.sexes is None
        else tuple(s for s in profile.sexes if s in filters.sexes)
    )
    col_groups = tuple(
        Group(BLANK if s is None else str(s), Cohort({cols.sex: ValueSet.of(s)})) for s in sexes
    )
    levels = []
    for width in widths:
        rows = _age_groups(width, profile, filters, cols.age)
        if not rows or not col_groups:
            continue
        grid = [[0] * len(col_groups) for _ in rows]
        row_of = {}
        for i, g in enumerate(rows):
            for a in g.cohort.get(cols.age).values:
                row_of[a] = i
        col_of = {s: j for j, s in enumerate(sexes)}
        for (a, s), n in counts.items():
            if a in row_of and s in col_of:
                grid[row_of[a]][col_of[s]] += n
        level = "all ages" if width is None else f"{width}-year age bands"
        levels.append(
            CountTable(cohort, tuple(rows), col_groups, tuple(tuple(r) for r in grid), level)
        )
    return levels


# ---------------------------------------------------------------------------------------
# The configuration's view: which columns, thresholds and diagnoses the builder offers

SEEDS = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds"


def _read_seed(name: str) -> list[dict[str, str]]:
    path = SEEDS / f"{name}.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def icd10_hierarchy(flag_codes: Mapping[str, Mapping[str, Sequence[str]]]) -> tuple[DxNode, ...]:
    """Chapters, blocks and codes over the flag columns, from the dbt ICD-10 seeds.

    Each flag column says which codes, blocks or chapters it stands for (its ``derive``
    in the configuration). A node "has a diagnosis here" holds when any flag under it
    does, so the hierarchy reads the same on the real and the synthetic mart, which has
    flags but no condition table. A node that one flag stands for alone is known by the
    flag's name.

    Hook: a dataset whose synthetic side also gets a condition table can offer every code
    of ``canonical.condition`` (its ``icd10_code``, ``icd10_block`` and ``icd10_chapter``
    columns) by building the nodes from that table instead, with an ``exists`` subquery
    per node in :func:`where_clause`.

    Args:
        flag_codes: Flag column to ``{"icd10": [...], "block": [...], "chapter": [...]}``.

    Returns:
        Nodes, chapters first, each with the flags under it.
    """
    blocks = _read_seed("icd10_blocks")
    chapters = {c["chapter"]: c for c in _read_seed("icd10_chapters")}

    def block_of(code: str) -> dict[str, str] | None:
        head = code[:3]
        return next((b for b in blocks if b["first_code"] <= head <= b["last_code"]), None)

    nodes: dict[tuple[str, str], dict] = {}

    def add(level: str, code: str, title: str, flag: str, parent: tuple[str, str] | None):
        node = nodes.setdefault((level, code), {"title": title, "flags": set(), "parent": parent})
        node["flags"].add(flag)

    for flag, spec in flag_codes.items():
        for chapter in spec.get("chapter", []):
            add("chapter", chapter, chapters.get(chapter, {}).get("title", ""), flag, None)
        for block in spec.get("block", []):
            row = next((b for b in blocks if b["block"] == block), None)
            chapter = row["chapter"] if row else None
            if chapter:
                add("chapter", chapter, chapters.get(chapter, {}).get("title", ""), flag, None)
            add(
                "block",
                block,
                row["title"] if row else "",
                flag,
                ("chapter", chapter) if chapter else None,
            )
        for code in spec.get("icd10", []):
            row = block_of(code)
            parent = None
            if row:
                add(
                    "chapter",
                    row["chapter"],
                    chapters.get(row["chapter"], {}).get("title", ""),
                    flag,
                    None,
                )
                add("block", row["block"], row["title"], flag, ("chapter", row["chapter"]))
                parent = ("block", row["block"])
            add("code", code, "", flag, parent)

    def key(level: str, code: str) -> str:
        flags = nodes[(level, code)]["flags"]
        return next(iter(flags)) if len(flags) == 1 else f"icd10 {level} {code}"

    order = {"chapter": 0, "block": 1, "code": 2}
    out = []
    for (level, code), node in sorted(nodes.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        parent = node["parent"]
        out.append(
            DxNode(
                key=key(level, code),
                level=level,
                code=code,
                title=node["title"],
                flags=tuple(sorted(node["flags"])),
                parent=key(*parent) if parent in nodes else None,
            )
        )
    return tuple(out)


def columns_from_config(cfg) -> Columns:
    """What the explorer offers for a dataset configuration (no dataset names in the code).

    Reads ``app`` (age, sex, BMI and flag columns, and the optional ``app.thresholds``:
    a list of ``{column, op, value, label}``), the flag columns' ICD-10 ``derive`` and the
    quasi-identifier columns of ``mart.columns`` (integer or categorical ones can split a
    table).

    Args:
        cfg: A :class:`synth.config.DatasetConfig`.
    """
    app = cfg.app
    raw_app = cfg.raw.get("app", {}) or {}
    specs = {c.name: c for c in cfg.mart.columns}
    thresholds = []
    for item in raw_app.get("thresholds", []) or []:
        op = str(item["op"])
        if op not in (">=", ">", "<=", "<") or item["column"] not in specs:
            raise ValueError(f"app.thresholds: cannot use {item!r}")
        value = float(item["value"])
        label = str(item.get("label") or f"{item['column']} {op} {value:g}")
        thresholds.append(Threshold(str(item["column"]), op, value, label))
    if not thresholds and app.bmi_column:
        thresholds.append(Threshold(app.bmi_column, ">=", BMI_OBESE, f"BMI >= {BMI_OBESE:g}"))
    raw_columns = (cfg.raw.get("mart", {}) or {}).get("columns", {}) or {}
    flag_codes = {}
    for flag in app.flag_columns:
        derive = (raw_columns.get(flag) or {}).get("derive") or {}
        codes = {k: list(derive.get(k, [])) for k in ("icd10", "block", "chapter")}
        if any(codes.values()):
            flag_codes[flag] = codes
    strata, integers = [], []
    for spec in cfg.mart.columns:
        if spec.role != "quasi_identifier":
            continue
        if spec.kind == "categorical" or (spec.kind == "numeric" and spec.integer):
            strata.append(spec.name)
        if spec.kind == "numeric" and spec.integer and spec.name != app.age_column:
            low = int(spec.lower) if spec.lower is not None else 0
            high = int(spec.upper) if spec.upper is not None else low + 200
            integers.append((spec.name, low, high))
    for needed in (app.age_column, app.sex_column):
        if needed not in strata:
            strata.insert(0, needed)
    return Columns(
        app.age_column,
        app.sex_column,
        app.bmi_column,
        tuple(app.flag_columns),
        thresholds=tuple(thresholds),
        diagnoses=icd10_hierarchy(flag_codes),
        strata=tuple(strata),
        integers=tuple(integers),
    )


# ---------------------------------------------------------------------------------------
# Any two quasi-identifiers: counts and the levels of detail the guard chooses from

OTHER = "other (merged)"  # the label of rare categories merged together


def count_by(
    con: duckdb.DuckDBPyConnection,
    table: str,
    cols: Columns,
    filters: Filters,
    row: str,
    col: str | None,
) -> dict[tuple, int]:
    """People per (row value, column value) in the cohort; blanks are groups of their own.

    These raw counts may be small: they go to the guard, never to the screen.
    """
    where, params = where_clause(filters, cols)
    names = [quote_ident(row)] + ([quote_ident(col)] if col else [])
    sql = (
        f"select {', '.join(names)}, count(*) from {quote_ident(table)} where {where} group by all"
    )
    rows = con.execute(sql, params).fetchall()
    log.info("counted %s: %d groups", table, len(rows))
    return {(r[0], r[1] if col else None): int(r[-1]) for r in rows}


def distinct_values(con: duckdb.DuckDBPyConnection, table: str, column: str) -> tuple:
    """The values a column holds in the whole table, blank last (no counts)."""
    values = [
        r[0]
        for r in con.execute(
            f"select distinct {quote_ident(column)} from {quote_ident(table)}"
        ).fetchall()
    ]
    return tuple(sorted((v for v in values if v is not None), key=str)) + (
        (None,) if None in values else ()
    )


def _label(value) -> str:
    return BLANK if value is None else str(value)


def _axis_levels(
    column: str,
    values: tuple,
    totals: Mapping,
    cols: Columns,
    filters: Filters,
    k: int,
) -> list[tuple[str, list[Group]]]:
    """Ways to split one axis, finest first: bands for integers, merged rare categories."""
    domain = cols.domain(column)
    if domain is not None:
        low_f = filters.age_min if column == cols.age else None
        high_f = filters.age_max if column == cols.age else None
        present = [v for v in values if v is not None]
        if not present:
            return [("blank", [Group(BLANK, Cohort({column: ValueSet.of(None)}))])]
        low = max(min(present), low_f if low_f is not None else domain.start)
        high = min(max(present), high_f if high_f is not None else domain.stop - 1)
        out = []
        for width in (5, 10, 20, None):
            groups = []
            if width is None:
                groups.append(
                    Group(f"all {_words(column)}", Cohort({column: ValueSet.of(*domain)}))
                )
            else:
                for start in range(low - low % width, high + 1, width):
                    span = [v for v in range(start, start + width) if v in domain]
                    groups.append(
                        Group(f"{start}-{start + width - 1}", Cohort({column: ValueSet.of(*span)}))
                    )
            if None in values and low_f is None and high_f is None:
                groups.append(Group(BLANK, Cohort({column: ValueSet.of(None)})))
            name = (
                f"{width}-year age bands"
                if width and column == cols.age
                else (f"bands of {width}" if width else f"all {_words(column)}")
            )
            out.append((name, groups))
        return out
    groups = [Group(_label(v), Cohort({column: ValueSet.of(v)})) for v in values]
    levels = [(f"each {_words(column)}", groups)]
    rare = [v for v in values if totals.get(v, 0) < k]
    if 1 < len(rare) < len(values):
        kept = [Group(_label(v), Cohort({column: ValueSet.of(v)})) for v in values if v not in rare]
        kept.append(Group(OTHER, Cohort({column: ValueSet.of(*rare)})))
        levels.append((f"{_words(column)} with rare values merged", kept))
    levels.append((f"all {_words(column)}", [Group("all", Cohort())]))
    return levels


def _words(column: str) -> str:
    for prefix in ("has_", "is_"):
        if column.startswith(prefix):
            column = column[len(prefix) :]
    return column.replace("_", " ")


def levels_by(
    counts: Mapping[tuple, int],
    row_values: tuple,
    col_values: tuple,
    filters: Filters,
    cols: Columns,
    row: str,
    col: str | None,
    k: int,
) -> list[CountTable]:
    """The tables the guard chooses from for any two quasi-identifiers, finest first.

    Rows and columns come from the whole table's values and the filters, never from which
    groups of the cohort happen to be non-empty, so an empty cell is a zero the guard hides.
    The row axis is coarsened first (5-, 10-, 20-year bands, all; or rare categories
    merged), then the column axis.
    """
    cohort = cohort_of(filters, cols)
    if col == cols.sex and filters.sexes is not None:
        col_values = tuple(v for v in col_values if v in filters.sexes)
    if row == cols.sex and filters.sexes is not None:
        row_values = tuple(v for v in row_values if v in filters.sexes)
    row_totals: dict = {}
    col_totals: dict = {}
    for (a, b), n in counts.items():
        row_totals[a] = row_totals.get(a, 0) + n
        col_totals[b] = col_totals.get(b, 0) + n
    row_levels = _axis_levels(row, row_values, row_totals, cols, filters, k)
    if col is None:
        col_levels = [("", [Group("all", Cohort())])]
    else:
        col_levels = _axis_levels(col, col_values, col_totals, cols, filters, k)
        col_levels = [lv for lv in col_levels if lv[1] and lv[1][0].label != "all"] or col_levels
    plan = [(r, col_levels[0]) for r in row_levels] + [(row_levels[-1], c) for c in col_levels[1:]]
    levels = []
    for (rname, rgroups), (cname, cgroups) in plan:
        if not rgroups or not cgroups:
            continue
        grid = [[0] * len(cgroups) for _ in rgroups]
        for (a, b), n in counts.items():
            i = _find(rgroups, row, a)
            j = _find(cgroups, col, b) if col else 0
            if i is not None and j is not None:
                grid[i][j] += n
        name = rname if not cname or cname.startswith("each") else f"{rname}, {cname}"
        levels.append(
            CountTable(cohort, tuple(rgroups), tuple(cgroups), tuple(map(tuple, grid)), name)
        )
    return levels


def _find(groups: Sequence[Group], column: str | None, value) -> int | None:
    for n, g in enumerate(groups):
        allowed = g.cohort.get(column) if column else ValueSet.everything()
        if allowed.is_everything() or value in allowed.values:
            return n
    return None
