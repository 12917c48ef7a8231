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

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from app.guard import Cohort, CountTable, Group, ValueSet

log = logging.getLogger(__name__)

AGE_DOMAIN = range(0, 131)  # whole years an age column can hold
BMI_OBESE = 30.0  # BMI at and above which a person counts as obese (kg/m2)
BLANK = "(blank)"  # how a NULL group is labelled


@dataclass(frozen=True)
class Columns:
    """Which columns of the mart the cohort builder uses (from the configuration's ``app``)."""

    age: str
    sex: str
    bmi: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Filters:
    """One cohort question. Hashable, so it can be part of a cache key.

    Attributes:
        sexes: Sex values kept (``None`` for a blank); ``None`` keeps everyone.
        age_min: Lowest age kept, or ``None`` for no lower bound.
        age_max: Highest age kept, or ``None`` for no upper bound.
        flags: Diagnosis flags that must all be true.
        obese: Keep only people with BMI of 30 or more.
    """

    sexes: tuple[str | None, ...] | None = None
    age_min: int | None = None
    age_max: int | None = None
    flags: tuple[str, ...] = ()
    obese: bool = False


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
    return (" and ".join(parts) or "true"), params


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
