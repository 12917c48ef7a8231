from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from synth import warehouse
from synth.errors import DataError


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("create schema marts")
    connection.execute(
        "create table marts.persons (person_id bigint, age_years integer, bmi double, "
        "sex varchar, is_dead boolean)"
    )
    yield connection
    connection.close()


def _frame(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": range(1, n + 1),
            "age_years": pd.array([40, None, 60, 70][:n], dtype="Int64"),
            "bmi": [22.5, np.nan, 31.0, np.nan][:n],
            "sex": ["F", None, "M", "F"][:n],
            "is_dead": [True, False, None, False][:n],
        }
    )


def test_synthetic_table_takes_the_mart_types(con) -> None:
    warehouse.write_synthetic_table(
        con,
        _frame(),
        like="marts.persons",
        schema="synthetic",
        name="persons__r1",
        latest_view="persons",
    )
    assert warehouse.table_columns(con, "synthetic.persons__r1") == warehouse.table_columns(
        con, "marts.persons"
    )


def test_nan_becomes_null_so_count_and_avg_agree(con) -> None:
    # Case c22: a frame holding NaN, written through Arrow: missing is SQL NULL.
    warehouse.write_synthetic_table(
        con,
        _frame(),
        like="marts.persons",
        schema="synthetic",
        name="persons__r1",
        latest_view="persons",
    )
    n, n_bmi, avg_bmi, n_nan = con.execute(
        "select count(*), count(bmi), avg(bmi), count(*) filter (where isnan(bmi)) "
        "from synthetic.persons"
    ).fetchone()
    assert (n, n_bmi, n_nan) == (4, 2, 0)
    assert math.isclose(avg_bmi, (22.5 + 31.0) / 2)


def test_failed_write_leaves_earlier_table_and_view_intact(con) -> None:
    warehouse.write_synthetic_table(
        con,
        _frame(),
        like="marts.persons",
        schema="synthetic",
        name="persons__r1",
        latest_view="persons",
    )
    bad = _frame().assign(age_years=["x", "y", "z", "w"])  # cannot cast to integer
    with pytest.raises(duckdb.Error):
        warehouse.write_synthetic_table(
            con,
            bad,
            like="marts.persons",
            schema="synthetic",
            name="persons__r2",
            latest_view="persons",
        )
    tables = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'synthetic'"
        ).fetchall()
    }
    assert tables == {"persons__r1", "persons"}
    assert con.execute("select count(*) from synthetic.persons").fetchone()[0] == 4


def test_missing_mart_column_is_named(con) -> None:
    with pytest.raises(DataError, match="sex"):
        warehouse.write_synthetic_table(
            con,
            _frame().drop(columns="sex"),
            like="marts.persons",
            schema="synthetic",
            name="persons__r1",
            latest_view="persons",
        )


def test_runs_table_records_and_updates(tmp_path: Path) -> None:
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.record_run(
            con, "r1", dataset="d", config_hash="h", generator="tabsyn", seed=1, status="fitted"
        )
        warehouse.record_run(con, "r1", status="sampled", n_synthetic=5)
        run = warehouse.get_run(con, "r1")
    assert run["status"] == "sampled"
    assert run["n_synthetic"] == 5
    assert run["config_hash"] == "h"


def test_read_only_connect_to_missing_database_says_what_to_do(tmp_path: Path) -> None:
    with (
        pytest.raises(Exception, match="prepare"),
        warehouse.connect(tmp_path / "none.duckdb", read_only=True),
    ):
        pass
