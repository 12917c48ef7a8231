"""Shared bad-input cases (cases/README.md) against the parsing functions dbt uses.

The functions live in dbt_project/duckdb_macros/parsing.sql; dbt creates them before
every build, and these tests load the very same file into an in-memory DuckDB.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CASES = Path("/work/shared/cases")
PARSING_SQL = REPO / "dbt_project" / "duckdb_macros" / "parsing.sql"

needs_cases = pytest.mark.skipif(not CASES.exists(), reason="shared cases folder absent")


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(PARSING_SQL.read_text())
    yield connection
    connection.close()


def _load_text(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load a case file as the pipeline loads sources: every column text, line numbers."""
    con.execute(
        "create table raw as select row_number() over () + 1 as source_line, * "
        "from read_csv(?, header = true, all_varchar = true)",
        [str(CASES / name)],
    )


@needs_cases
def test_c09_dates_follow_the_declared_format(con: duckdb.DuckDBPyConnection) -> None:
    # Setup: formats as a configuration declares them (year-day-month, packed stamp).
    _load_text(con, "c09_declared_date_formats.csv")
    formats = {"diag_date": "%Y-%d-%m", "lab_ts": "%Y%m%d%H%M%S%f"}

    # Run
    rows = con.execute(
        "select synth_fn.parse_date(diag_date, ?), synth_fn.parse_timestamp(lab_ts, ?) "
        "from raw order by source_line",
        [formats["diag_date"], formats["lab_ts"]],
    ).fetchall()

    # Assert: 2021-26-01 is 26 January, never guessed as anything else.
    assert [r[0] for r in rows] == [
        dt.date(2021, 1, 26),
        dt.date(2021, 1, 30),
        dt.date(2022, 12, 12),
    ]
    assert rows[0][1] == dt.datetime(2022, 9, 2, 11, 4, 43)


@needs_cases
def test_c18_censored_values_keep_bound_and_qualifier(con: duckdb.DuckDBPyConnection) -> None:
    # Setup
    _load_text(con, "c18_censored_lab_values.csv")

    # Run: the parse the lab staging model runs, then the row accounting.
    con.execute(
        "create table parsed as select source_line, test_code, "
        "synth_fn.parse_measurement(result_value) as p from raw"
    )
    kept = con.execute(
        "select test_code, p.value, p.qualifier from parsed where p.problem is null "
        "order by source_line"
    ).fetchall()
    rejects = con.execute(
        "select source_line, p.problem from parsed where p.problem is not null"
    ).fetchall()
    n_in = con.execute("select count(*) from raw").fetchone()[0]

    # Assert
    assert kept == [
        ("HBA1C", 48.0, "="),
        ("HBA1C", 52.0, "="),
        ("HBA1C", 5.0, "<"),
        ("CRP", 200.0, ">"),
    ]
    assert rejects == [(6, "value is not a number: n/a")]
    assert n_in == len(kept) + len(rejects)


@needs_cases
def test_c19_empty_column_keeps_its_declared_type(con: duckdb.DuckDBPyConnection) -> None:
    # Setup
    _load_text(con, "c19_empty_column.csv")

    # Run
    con.execute(
        "create table typed as select synth_fn.parse_measurement(bmi).value as bmi, "
        "synth_fn.parse_measurement(egfr).value as egfr from raw"
    )
    types = dict(con.execute("select column_name, column_type from (describe typed)").fetchall())
    counts = con.execute("select count(bmi), count(egfr) from typed").fetchone()

    # Assert: still numeric although blank everywhere; profiling sees zero values.
    assert types == {"bmi": "DOUBLE", "egfr": "DOUBLE"}
    assert counts == (2, 0)


@needs_cases
def test_c20_day_first_dates_codes_stay_text(con: duckdb.DuckDBPyConnection) -> None:
    # Setup
    _load_text(con, "c20_ambiguous_dates_and_codes.csv")

    # Run: parse with the declared day-first format; a NULL is a reject with row
    # and column.
    rows = con.execute(
        "select source_line, synth_fn.parse_date(visit_date, '%d/%m/%Y'), "
        "synth_fn.clean_text(sample_id), synth_fn.clean_text(test) "
        "from raw order by source_line"
    ).fetchall()
    rejects = [(line, "visit_date") for line, date, _, _ in rows if date is None]

    # Assert
    assert [r[1] for r in rows[:2]] == [dt.date(2021, 4, 3), dt.date(2021, 1, 12)]
    assert rejects == [(4, "visit_date")]
    assert [r[2] for r in rows] == ["41_10_1", "41_10_2", "41_10_3"]
    assert {r[3] for r in rows} == {"SAT"}


def test_c22_nan_never_survives_parsing(con: duckdb.DuckDBPyConnection) -> None:
    # Setup: NaN and infinities as text, through pandas and through Arrow.
    values = ["1.5", "NaN", "nan", "inf", "-inf", None]
    frame = pd.DataFrame({"v": values})
    table = pa.table({"v": values})
    con.register("from_pandas", frame)
    con.register("from_arrow", table)

    # Run
    results = [
        con.execute(
            f"select count(p.value), avg(p.value), count(*) filter (where isnan(p.value)) "
            f"from (select synth_fn.parse_measurement(v) as p from {name})"
        ).fetchone()
        for name in ("from_pandas", "from_arrow")
    ]

    # Assert: one convention on both paths: missing is NULL, count and avg agree.
    assert results[0] == results[1] == (1, 1.5, 0)


@needs_cases
def test_c25_leading_zero_codes_round_trip(con: duckdb.DuckDBPyConnection) -> None:
    # Setup
    _load_text(con, "c25_leading_zero_codes.csv")
    with (CASES / "c25_leading_zero_codes.csv").open(newline="") as f:
        expected = [tuple(row) for row in csv.reader(f)][1:]

    # Run
    rows = con.execute(
        "select synth_fn.normalise_code(code), label from raw order by source_line"
    ).fetchall()

    # Assert: cell by cell; 01 and 001 stay distinct text codes.
    assert rows == expected
    assert len({r[0] for r in rows}) == 3


def _accepted_values_columns() -> list[tuple[str, str, set[str]]]:
    found = []
    for path in (REPO / "models").rglob("*.yml"):
        doc = yaml.safe_load(path.read_text()) or {}
        for model in doc.get("models", []):
            for column in model.get("columns", []):
                names = set()
                for test in column.get("data_tests", []):
                    names.add(test if isinstance(test, str) else next(iter(test)))
                if "accepted_values" in names:
                    found.append((model["name"], column["name"], names))
    return found


@needs_cases
def test_c26_accepted_values_has_a_null_check_beside_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Setup
    _load_text(con, "c26_sex_with_nulls.csv")

    # Run: what accepted_values alone sees, and what the not-null check sees.
    outside = con.execute(
        "select count(*) from raw where sex is not null and sex not in ('F', 'M')"
    ).fetchone()[0]
    blanks = con.execute("select count(*) from raw where sex is null").fetchone()[0]

    # Assert: blanks pass accepted_values, so every such test in the project has a
    # not_null or missing_rate_below test beside it.
    assert outside == 0 and blanks == 2
    columns = _accepted_values_columns()
    assert columns
    for model, column, tests in columns:
        assert tests & {"not_null", "missing_rate_below"}, f"{model}.{column}"
