"""The whole pipeline on a slice of the real NAFLD cohort: real dbt, real (tiny) training."""

from __future__ import annotations

import duckdb
import pytest

from synth import pipeline
from synth.config import DatasetConfig

pytestmark = pytest.mark.integration


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()


def test_prepare_builds_mart_with_split_and_nothing_lost(built_warehouse: DatasetConfig) -> None:
    # Run: the fixture ran `dbt build` on the slice.
    con = duckdb.connect(str(built_warehouse.database), read_only=True)
    try:
        n, n_ids = con.execute(
            "select count(*), count(distinct person_id) from marts.persons"
        ).fetchone()
        splits = dict(
            con.execute("select split, count(*) from marts.persons group by 1").fetchall()
        )
        accounting = con.execute(
            "select source_name, rows_read, rows_kept + rows_rejected + rows_duplicate "
            "from audit.source_row_counts"
        ).fetchall()
    finally:
        con.close()

    # Assert: one row per person, both splits present, holdout about 20%.
    assert n == n_ids == 1200
    assert set(splits) == {"train", "holdout"}
    assert 0.12 < splits["holdout"] / n < 0.28
    for source, read, accounted in accounting:
        assert read == accounted, source


def test_split_is_fixed_by_the_seed(built_warehouse: DatasetConfig) -> None:
    # Setup: the same build twice gives the same split (the fixture built it once).
    con = duckdb.connect(str(built_warehouse.database), read_only=True)
    try:
        first = con.execute(
            "select list(person_id order by person_id) from marts.persons where split = 'holdout'"
        ).fetchone()[0]
    finally:
        con.close()
    # Run: rebuild only the mart.
    pipeline.prepare(built_warehouse, select="persons")
    con = duckdb.connect(str(built_warehouse.database), read_only=True)
    try:
        second = con.execute(
            "select list(person_id order by person_id) from marts.persons where split = 'holdout'"
        ).fetchone()[0]
    finally:
        con.close()
    # Assert
    assert first == second


def test_fit_sample_evaluate_writes_typed_synthetic_table(warehouse_copy: DatasetConfig) -> None:
    # Run
    fitted = pipeline.fit(warehouse_copy)
    sampled = pipeline.sample(warehouse_copy, run_id=fitted.details["run_id"])
    evaluated = pipeline.evaluate(warehouse_copy, run_id=fitted.details["run_id"])

    # Assert: same column names and types as the mart, as many rows as the train split.
    con = duckdb.connect(str(warehouse_copy.database), read_only=True)
    try:
        table = sampled.details["table"].split(".")[1]
        assert _columns(con, "synthetic", table) == _columns(con, "marts", "persons")
        assert _columns(con, "synthetic", "persons") == _columns(con, "marts", "persons")
        n_syn = con.execute(f'select count(*) from synthetic."{table}"').fetchone()[0]
        n_train = con.execute("select count(*) from marts.persons_train").fetchone()[0]
        assert n_syn == n_train
        run = con.execute(
            "select status, config_hash, seed, fit_seconds, sample_seconds, evaluate_seconds "
            "from meta.runs where run_id = ?",
            [fitted.details["run_id"]],
        ).fetchone()
        assert run[0] == "evaluated"
        assert run[1] == warehouse_copy.config_hash
        assert all(x is not None and x > 0 for x in run[3:])
        n_metrics = con.execute(
            "select count(*) from evaluation.column_metrics where run_id = ?",
            [fitted.details["run_id"]],
        ).fetchone()[0]
        assert n_metrics > 0
    finally:
        con.close()
    result = evaluated.details["result"]
    assert 0.0 <= result.shape_score <= 1.0
    assert 0.0 <= result.dcr_share <= 1.0


def test_evaluate_exits_nonzero_when_a_privacy_check_fails(
    warehouse_copy: DatasetConfig,
) -> None:
    # Setup: a "synthetic" table that copies the train split under new identifiers.
    from synth import warehouse
    from synth.cli import EXIT_PRIVACY_FAILED, main

    with warehouse.connect(warehouse_copy.database) as con:
        train = con.execute("select * from marts.persons_train").df()
        frame = train.assign(person_id=range(1, len(train) + 1), split="synthetic")
        table = warehouse.write_synthetic_table(
            con,
            frame,
            like="marts.persons",
            schema="synthetic",
            name="persons__copy",
            latest_view="persons",
        )
        warehouse.record_run(
            con,
            "copy",
            dataset="nafld",
            config_hash=warehouse_copy.config_hash,
            generator="copy",
            seed=0,
            status="sampled",
            n_train=len(train),
            n_synthetic=len(train),
            synthetic_table=table,
        )

    # Run
    code = main(["evaluate", "--config", str(warehouse_copy.path), "--run", "copy"])
    report_code = main(["report", "--config", str(warehouse_copy.path), "--run", "copy"])

    # Assert: exact copies fail the privacy verdict; the report is still written.
    assert code == EXIT_PRIVACY_FAILED
    assert report_code == 0
    with warehouse.connect(warehouse_copy.database, read_only=True) as con:
        failed = {
            r[0]
            for r in con.execute(
                "select check_name from evaluation.verdict "
                "where run_id = 'copy' and kind = 'privacy' and not passed"
            ).fetchall()
        }
    assert any("cop" in name for name in failed), failed
    reports = list((warehouse_copy.run_dir / "reports").glob("copy.html"))
    assert len(reports) == 1
    assert "<html" in reports[0].read_text()[:2000].lower()


def test_metric_macros_are_in_the_built_database(built_warehouse: DatasetConfig) -> None:
    # Run: an analyst's read-only connection calls a macro without loading any file.
    con = duckdb.connect(str(built_warehouse.database), read_only=True)
    try:
        row = con.execute(
            "select metric, value from "
            "ks_complement('marts.persons_train', 'marts.persons_holdout', 'age_years')"
        ).fetchone()
    finally:
        con.close()
    # Assert: train and holdout of one cohort have close age distributions.
    assert row[0] == "ks_complement"
    assert 0.8 < row[1] <= 1.0
