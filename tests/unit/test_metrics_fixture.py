"""Agreement with SDMetrics 0.32 on the NHANES fixture (expected.json).

Every number of expected.json is checked here. Documented differences:
- dcr_baseline_protection: its random baseline (and so its score) is random; only the
  synthetic median DCR is comparable, and it is checked.
- quality_report.column_pair_trends: null in SDMetrics (no pair shows a real trend);
  ours is NULL with the reason 'no pair with a real trend'.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from synth import metrics
from synth.schema import ColumnSpec

FIXTURE = Path("/work/shared/fixtures/metrics/nhanes_adults")
TOLERANCE = 1e-9

pytestmark = pytest.mark.skipif(not FIXTURE.exists(), reason="the shared fixture is absent")


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads((FIXTURE / "expected.json").read_text())


@pytest.fixture(scope="module")
def con(expected):
    connection = duckdb.connect()
    metrics.load_macros(connection)
    for table in ("real", "synthetic", "holdout"):
        connection.execute(
            f"create table {table} as select * from read_csv(?)", [str(FIXTURE / f"{table}.csv")]
        )
    specs = [ColumnSpec(expected["identifier"], "numeric", role="identifier")]
    specs += [ColumnSpec(name, "numeric") for name in expected["numeric"]]
    specs += [ColumnSpec(name, "categorical") for name in expected["categorical"]]
    metrics.evaluate(
        connection,
        real="real",
        synthetic="synthetic",
        holdout="holdout",
        columns=specs,
        run_id="fixture",
    )
    yield connection
    connection.close()


def _column_values(con) -> dict[tuple[str, str], float | None]:
    rows = con.execute(
        "select column_name, metric, value from evaluation.column_metrics where run_id = ?",
        ["fixture"],
    ).fetchall()
    return {(name, metric): value for name, metric, value in rows}


def _summary(con) -> dict[str, tuple[float | None, str | None]]:
    rows = con.execute(
        "select metric, value, reason from evaluation.summary where run_id = ?", ["fixture"]
    ).fetchall()
    return {metric: (value, reason) for metric, value, reason in rows}


def test_column_metrics_match_sdmetrics(con, expected):
    ours = _column_values(con)
    checked = 0
    for column, numbers in expected["column"].items():
        for metric, value in numbers.items():
            assert ours[(column, metric)] == pytest.approx(value, abs=TOLERANCE), (column, metric)
            checked += 1
    assert checked == 18


def test_pair_metrics_match_sdmetrics(con, expected):
    rows = con.execute(
        "select column_a, column_b, metric, value from evaluation.pair_metrics where run_id = ?",
        ["fixture"],
    ).fetchall()
    ours = {(f"{a}|{b}", metric): value for a, b, metric, value in rows}
    checked = 0
    for pair, numbers in expected["pair"].items():
        for metric, value in numbers.items():
            name = "correlation_similarity" if metric.startswith("correlation") else metric
            assert ours[(pair, name)] == pytest.approx(value, abs=TOLERANCE), (pair, metric)
            checked += 1
    assert checked == 27


def test_quality_report_matches_sdmetrics(con, expected):
    summary = _summary(con)
    report = expected["quality_report"]
    assert summary["column_shapes"][0] == pytest.approx(report["column_shapes"], abs=TOLERANCE)
    assert report["column_pair_trends"] is None
    assert summary["column_pair_trends"] == (None, "no pair with a real trend")
    assert summary["quality_score"][0] == pytest.approx(report["overall"], abs=TOLERANCE)


def test_privacy_matches_sdmetrics(con, expected):
    summary = _summary(con)
    privacy = expected["privacy"]
    baseline = privacy["dcr_baseline_protection"]["median_DCR_to_real_data"]
    assert summary["median_dcr"][0] == pytest.approx(baseline["synthetic_data"], abs=TOLERANCE)
    overfitting = privacy["dcr_overfitting_protection"]["synthetic_data_percentages"]
    assert summary["dcr_share"][0] == pytest.approx(overfitting["closer_to_training"], abs=1e-12)
    assert summary["dcr_share_ideal"][0] == 0.5
    assert summary["exact_copies"][0] == privacy["exact_copies_of_real_rows"]


def test_sql_dcr_macro_agrees_with_python_search(con, expected):
    columns = expected["numeric"] + expected["categorical"]
    kinds = ["numeric"] * len(expected["numeric"]) + ["categorical"] * len(expected["categorical"])
    median, share = con.execute(
        """
        with to_train as (from dcr('synthetic', 'real', 'real', ?, ?)),
            to_holdout as (from dcr('synthetic', 'holdout', 'holdout', ?, ?))
        select median(t.dcr), avg((t.dcr < h.dcr)::int)
        from to_train as t join to_holdout as h using (synthetic_row)
        """,
        [columns, kinds, columns, kinds],
    ).fetchone()
    summary = _summary(con)
    assert median == pytest.approx(summary["median_dcr"][0], abs=1e-12)
    assert share == pytest.approx(summary["dcr_share"][0], abs=1e-12)
