"""Unit tests of the metric macros and of synth.metrics (cases c12, c15, c22, c23)."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from synth import metrics
from synth.errors import DataError
from synth.schema import ColumnSpec


@pytest.fixture
def con():
    connection = duckdb.connect()
    metrics.load_macros(connection)
    yield connection
    connection.close()


def _frame_table(con, name: str, frame: pd.DataFrame) -> None:
    metrics.write_frame(con, name, frame)


def _summary(con, run_id: str) -> dict[str, tuple[float | None, str | None]]:
    rows = con.execute(
        "select metric, value, reason from evaluation.summary where run_id = ?", [run_id]
    ).fetchall()
    return {metric: (value, reason) for metric, value, reason in rows}


def _assert_agree(fast: dict, by_macro: dict) -> None:
    """The numpy path and the macros give the same keys, reasons and values (to 1e-12)."""
    assert fast.keys() == by_macro.keys()
    for key, (value, reason) in by_macro.items():
        assert fast[key][1] == reason, key
        if value is None:
            assert fast[key][0] is None, key
        else:
            assert fast[key][0] == pytest.approx(value, abs=1e-12), key


def _no_nan_anywhere(con) -> None:
    for table in ("column_metrics", "pair_metrics", "summary"):
        n_nan = con.execute(f"select count(*) from evaluation.{table} where isnan(value)")
        assert n_nan.fetchone()[0] == 0, table


# ---------------------------------------------------------------- c12: constant, empty


def test_evaluate_c12_constant_and_empty_columns_give_null_with_reason(con):
    # Setup: c12_constant_and_empty.csv (a constant country, an all-blank troponin).
    frame = pd.DataFrame(
        {
            "person_id": [1, 2, 3],
            "country": ["NL", "NL", "NL"],
            "troponin": [np.nan, np.nan, np.nan],
            "age": [40.0, 51.0, 62.0],
            "level": [1.0, 1.0, 1.0],
        }
    )
    for table in ("real_t", "synthetic_t", "holdout_t"):
        _frame_table(con, table, frame)
    specs = [
        ColumnSpec("person_id", "numeric", role="identifier"),
        ColumnSpec("country", "categorical"),
        ColumnSpec("troponin", "numeric"),
        ColumnSpec("age", "numeric"),
        ColumnSpec("level", "numeric"),
    ]

    # Run
    summary = metrics.evaluate(
        con,
        real="real_t",
        synthetic="synthetic_t",
        holdout="holdout_t",
        columns=specs,
        run_id="c12",
    )

    # Assert
    column = {
        (name, metric): (value, reason)
        for name, metric, value, reason in con.execute(
            "select column_name, metric, value, reason from evaluation.column_metrics"
        ).fetchall()
    }
    assert column[("troponin", "ks_complement")] == (None, "no values")
    assert column[("troponin", "boundary_adherence")] == (None, "no values")
    assert column[("troponin", "missing_value_similarity")] == (1.0, None)
    assert column[("level", "tail_agreement")] == (None, "zero variance")
    assert column[("age", "ks_complement")] == (1.0, None)
    pair = {
        (a, b, metric): (value, reason)
        for a, b, metric, value, reason in con.execute(
            "select column_a, column_b, metric, value, reason from evaluation.pair_metrics"
        ).fetchall()
    }
    assert pair[("troponin", "age", "correlation_similarity")] == (None, "no values")
    assert pair[("age", "level", "correlation_similarity")] == (None, "zero variance")
    assert pair[("country", "age", "real_association")] == (None, "zero variance")
    assert pair[("country", "age", "contingency_similarity")] == (1.0, None)
    assert summary.shape_score == 1.0
    assert summary.trend_score == 1.0
    _no_nan_anywhere(con)


# ----------------------------------------------------------- c15: copies with new ids


def test_evaluate_c15_copies_under_new_ids_are_all_copies(con):
    # Setup: c15_copy_with_new_ids_real.csv / _synthetic.csv.
    real = pd.DataFrame(
        {"person_id": [1, 2], "sex": ["F", "M"], "age": [54, 61], "dx": ["E11", "I10"]}
    )
    synthetic = real.assign(person_id=[1001, 1002])
    _frame_table(con, "real_t", real)
    _frame_table(con, "synthetic_t", synthetic)
    _frame_table(con, "holdout_t", real.assign(age=[30, 35], dx=["J45", "K21"]))
    specs = [
        ColumnSpec("person_id", "numeric", role="identifier"),
        ColumnSpec("sex", "categorical"),
        ColumnSpec("age", "numeric", integer=True),
        ColumnSpec("dx", "categorical"),
    ]

    # Run
    summary = metrics.evaluate(
        con,
        real="real_t",
        synthetic="synthetic_t",
        holdout="holdout_t",
        columns=specs,
        run_id="c15",
    )

    # Assert
    assert summary.exact_copies == 2
    assert summary.exact_copy_rate == 1.0
    assert summary.median_dcr == 0.0
    assert summary.dcr_share == 1.0


# ------------------------------------------------------------------ c22: NaN to NULL


@pytest.mark.parametrize("path", ["pandas", "pandas_nullable", "arrow"])
def test_write_frame_c22_nan_becomes_null_and_count_avg_agree(con, path):
    # Setup
    values = [1.0, np.nan, 3.0, np.nan]
    if path == "pandas":
        frame = pd.DataFrame({"x": values})
    elif path == "pandas_nullable":
        frame = pd.DataFrame({"x": pd.array(values, dtype="Float64")})
    else:
        frame = pa.table({"x": pa.array(values, pa.float64(), from_pandas=False)})

    # Run
    metrics.write_frame(con, "written", frame)

    # Assert
    n_values, mean, n_nan = con.execute(
        "select count(x), avg(x), count(*) filter (where isnan(x)) from written"
    ).fetchone()
    assert (n_values, mean, n_nan) == (2, 2.0, 0)
    back = con.execute("select x from written").df()["x"]
    assert back.count() == n_values
    assert back.mean() == mean


def test_write_frame_accepts_schema_qualified_and_odd_names(con):
    con.execute('create schema "my schema"')
    metrics.write_frame(con, "my schema.t", pd.DataFrame({"a b": [1.5, np.nan]}))
    assert con.execute('select count("a b") from "my schema".t').fetchone()[0] == 1


# --------------------------------------------------------- c23: constant in a pair


def test_correlation_c23_constant_column_is_null_zero_variance(con):
    # Setup: c23_constant_pair.csv
    con.execute("create table c23 as select * from (values (1, 2), (1, 3), (1, 4)) t(x, y)")

    # Run
    rows = con.execute(
        "select metric, value, reason from "
        "correlation_similarity('c23', 'c23', 'x', 'numeric', 'y', 'numeric')"
    ).fetchall()

    # Assert
    assert {metric: (value, reason) for metric, value, reason in rows} == {
        "real_correlation": (None, "zero variance"),
        "synthetic_correlation": (None, "zero variance"),
        "correlation_similarity": (None, "zero variance"),
    }


def test_trend_average_skips_undefined_pair(con):
    frame = pd.DataFrame(
        {"x": [1.0, 1.0, 1.0, 1.0], "y": [2.0, 3.0, 4.0, 5.0], "z": [1.0, 2.0, 2.5, 4.0]}
    )
    for table in ("r", "s", "h"):
        _frame_table(con, table, frame)
    specs = [ColumnSpec(name, "numeric") for name in ("x", "y", "z")]

    summary = metrics.evaluate(
        con, real="r", synthetic="s", holdout="h", columns=specs, run_id="c23"
    )

    assert summary.trend_score is not None and not math.isnan(summary.trend_score)
    _no_nan_anywhere(con)


# ------------------------------------------------------------------ odd column names


ODD = ['age "years"', "bmi [kg/m2]", "größe cm", "sex; drop", "Ω level", "date of visit"]


def test_evaluate_works_with_quoted_odd_column_names(con):
    rng = np.random.default_rng(3)
    n = 60

    def table(shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                ODD[0]: rng.integers(20, 80, n).astype(float) + shift,
                ODD[1]: rng.normal(27, 4, n),
                ODD[2]: rng.normal(170, 10, n),
                ODD[3]: rng.choice(["F", "M", None], n),
                ODD[4]: rng.choice(["a'b", 'c"d', "é"], n),
                ODD[5]: pd.to_datetime("2020-01-01")
                + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
            }
        )

    con.execute('create schema "odd schema"')
    _frame_table(con, "odd schema.real", table(0.0))
    _frame_table(con, "odd schema.synthetic", table(1.0))
    _frame_table(con, "odd schema.holdout", table(0.0))
    specs = [
        ColumnSpec(ODD[0], "numeric", role="quasi_identifier"),
        ColumnSpec(ODD[1], "numeric"),
        ColumnSpec(ODD[2], "numeric"),
        ColumnSpec(ODD[3], "categorical", role="quasi_identifier"),
        ColumnSpec(ODD[4], "categorical"),
        ColumnSpec(ODD[5], "date"),
    ]

    summary = metrics.evaluate(
        con,
        real="odd schema.real",
        synthetic="odd schema.synthetic",
        holdout="odd schema.holdout",
        columns=specs,
        run_id="odd",
    )

    names = {
        row[0]
        for row in con.execute("select column_name from evaluation.column_metrics").fetchall()
    }
    assert names == set(ODD)
    assert 0 < summary.shape_score <= 1
    assert _summary(con, "odd")["small_group_share"][0] is not None
    _no_nan_anywhere(con)


def test_ks_complement_on_dates_matches_numbers(con):
    con.execute(
        "create table d as select date '2020-01-01' + i::int as day, i::double as n "
        "from range(10) t(i)"
    )
    con.execute(
        "create table e as select date '2020-01-04' + i::int as day, 3 + i::double as n "
        "from range(10) t(i)"
    )
    sql = "select value from ks_complement('d', 'e', ?, kind := ?)"
    by_date = con.execute(sql, ["day", "date"]).fetchone()[0]
    by_number = con.execute(sql, ["n", "numeric"]).fetchone()[0]
    assert by_date == by_number == pytest.approx(0.7)


# -------------------------------------------------------------------- API behaviour


def test_evaluate_replaces_rows_of_the_same_run(con):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]})
    for table in ("r", "s", "h"):
        _frame_table(con, table, frame)
    specs = [ColumnSpec("a", "numeric"), ColumnSpec("b", "categorical")]

    for _ in range(2):
        metrics.evaluate(con, real="r", synthetic="s", holdout="h", columns=specs, run_id="one")
    metrics.evaluate(con, real="r", synthetic="s", holdout="h", columns=specs, run_id="two")

    counts = dict(
        con.execute("select run_id, count(*) from evaluation.summary group by run_id").fetchall()
    )
    assert counts["one"] == counts["two"] > 0


def test_evaluate_raises_data_error_for_missing_column(con):
    _frame_table(con, "r", pd.DataFrame({"a": [1.0]}))
    with pytest.raises(DataError, match="column 'b'"):
        metrics.evaluate(
            con,
            real="r",
            synthetic="r",
            holdout="r",
            columns=[ColumnSpec("b", "numeric")],
            run_id="x",
        )


def test_summary_as_line_shows_undefined_as_na():
    summary = metrics.EvaluationSummary(
        "r", None, 0.9, None, 0.1, 0.5, 0.5, 0.02, 0, 0.0, 10, 10, 5
    )
    assert "shape n/a" in summary.as_line()


def test_nearest_distances_is_exact_against_brute_force():
    rng = np.random.default_rng(11)
    n = 300

    def frame() -> pd.DataFrame:
        x = rng.normal(0, 1, n)
        x[rng.random(n) < 0.1] = np.nan
        return pd.DataFrame(
            {"x": x, "y": rng.uniform(0, 5, n), "c": rng.choice(["a", "b", "c", None], n)}
        )

    rows, reference = frame(), frame()
    rows.loc[:9, "y"] = 9.0  # out of the reference range: the bound is loose there
    specs = [ColumnSpec("x", "numeric"), ColumnSpec("y", "numeric"), ColumnSpec("c", "categorical")]

    ours = metrics.nearest_distances(rows, reference, specs, n_nearest=2)

    brute = np.empty((n, n))
    for name in ("x", "y"):
        a, b = rows[name].to_numpy()[:, None], reference[name].to_numpy()[None, :]
        scale = np.nanmax(reference[name]) - np.nanmin(reference[name])
        term = np.minimum(np.abs(a - b) / scale, 1.0)
        term = np.where(np.isnan(a) | np.isnan(b), 1.0, term)
        brute = term if name == "x" else brute + term
        brute = np.where(np.isnan(a) & np.isnan(b), brute - 1.0, brute)
    ca = rows["c"].to_numpy(dtype=object)[:, None]
    cb = reference["c"].to_numpy(dtype=object)[None, :]
    same = (ca == cb) | (pd.isna(ca) & pd.isna(cb))
    brute = (brute + (~same)) / 3
    expected = np.sort(brute, axis=1)[:, :2]
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_pair_fast_path_agrees_with_the_pair_macros(con):
    # Setup: numbers with blanks, a date, a constant, categories with blanks.
    rng = np.random.default_rng(5)

    def table(n: int) -> pd.DataFrame:
        x = rng.normal(0, 1, n)
        x[rng.random(n) < 0.2] = np.nan
        return pd.DataFrame(
            {
                "x": x,
                "y": x * 0.8 + rng.normal(0, 0.5, n),
                "flat": np.ones(n),
                "day": pd.to_datetime("2021-01-01")
                + pd.to_timedelta(rng.integers(0, 400, n), unit="D"),
                "c": rng.choice(["a", "b", None], n),
            }
        )

    _frame_table(con, "r", table(200))
    _frame_table(con, "s", table(150))
    specs = [
        ColumnSpec("x", "numeric"),
        ColumnSpec("y", "numeric"),
        ColumnSpec("flat", "numeric"),
        ColumnSpec("day", "date"),
        ColumnSpec("c", "categorical"),
    ]

    # Run
    frames = {name: metrics._fetch_columns(con, name, specs) for name in ("r", "s")}
    fast = {
        (a, b, metric): (value, reason)
        for a, b, metric, value, reason in metrics._pair_metrics(frames["r"], frames["s"], specs)
    }
    by_macro = {}
    for i, spec_a in enumerate(specs):
        for spec_b in specs[i + 1 :]:
            params = ["r", "s", spec_a.name, spec_a.kind, spec_b.name, spec_b.kind]
            macros = ["contingency_similarity"]
            if spec_a.kind != "categorical" and spec_b.kind != "categorical":
                macros.append("correlation_similarity")
            for macro in macros:
                for a, b, metric, value, reason in con.execute(
                    f"select * from {macro}(?, ?, ?, ?, ?, ?)", params
                ).fetchall():
                    by_macro[(a, b, metric)] = (value, reason)

    # Assert
    _assert_agree(fast, by_macro)


@pytest.mark.parametrize("n_synthetic", [150, 0])
def test_column_fast_path_agrees_with_the_column_macros(con, n_synthetic):
    # Setup: blanks, ties, a constant, an all-blank number and category, dates, a
    # synthetic level the real column lacks; and an empty synthetic table.
    rng = np.random.default_rng(9)

    def table(n: int, levels: list[str | None]) -> pd.DataFrame:
        x = np.round(rng.normal(0, 1, n), 1)
        x[rng.random(n) < 0.2] = np.nan
        return pd.DataFrame(
            {
                "x": x,
                "flat": np.ones(n),
                "blank": np.full(n, np.nan),
                "day": pd.to_datetime("2021-01-01")
                + pd.to_timedelta(rng.integers(0, 400, n), unit="D"),
                "c": rng.choice(np.array(levels, dtype=object), n),
                "none": np.full(n, None, dtype=object),
            }
        )

    _frame_table(con, "r", table(200, ["a", "b", None]))
    _frame_table(con, "s", table(n_synthetic, ["a", "z", None]))
    specs = [
        ColumnSpec("x", "numeric"),
        ColumnSpec("flat", "numeric"),
        ColumnSpec("blank", "numeric"),
        ColumnSpec("day", "date"),
        ColumnSpec("c", "categorical"),
        ColumnSpec("none", "categorical"),
    ]

    # Run
    frames = {name: metrics._fetch_columns(con, name, specs) for name in ("r", "s")}
    fast = {
        (name, metric): (value, reason)
        for name, metric, value, reason in metrics._column_metrics(frames["r"], frames["s"], specs)
    }
    by_macro = {}
    for spec in specs:
        macros = ["missing_value_similarity"]
        if spec.kind == "categorical":
            macros += ["tv_complement", "category_coverage"]
        else:
            macros += [
                f"{macro}(?, ?, ?, kind := '{spec.kind}')"
                for macro in ("ks_complement", "boundary_adherence", "tail_agreement")
            ]
        for macro in macros:
            call = macro if "(" in macro else f"{macro}(?, ?, ?)"
            for name, metric, value, reason in con.execute(
                f"select * from {call}", ["r", "s", spec.name]
            ).fetchall():
                by_macro[(name, metric)] = (value, reason)

    # Assert
    _assert_agree(fast, by_macro)


def test_dcr_share_balanced_is_near_half_when_train_is_larger(con):
    # Setup: train four times the holdout, all three drawn from one population.
    rng = np.random.default_rng(21)

    def draw(n: int) -> pd.DataFrame:
        return pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.normal(0, 1, n)})

    _frame_table(con, "train", draw(2000))
    _frame_table(con, "holdout", draw(500))
    _frame_table(con, "syn", draw(1500))
    specs = [ColumnSpec("x", "numeric"), ColumnSpec("y", "numeric")]

    # Run
    summary = metrics.evaluate(
        con, real="train", synthetic="syn", holdout="holdout", columns=specs, run_id="b"
    )
    stored = dict(
        con.execute("select metric, value from evaluation.summary where run_id = 'b'").fetchall()
    )

    # Assert: the full share sits above its ideal 0.8 (the smaller holdout has the
    # narrower range, so its distances grow); the balanced one sits near 0.5.
    assert summary.dcr_share_ideal == pytest.approx(0.8)
    assert summary.dcr_share > 0.75
    assert summary.dcr_share_balanced == pytest.approx(0.5, abs=0.05)
    assert stored["dcr_share_balanced"] == summary.dcr_share_balanced
    assert stored["dcr_rows"] == 1500


def test_dcr_rows_measures_a_seeded_sample(con):
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 400)})
    for name in ("t", "h", "s"):
        _frame_table(con, name, frame.sample(frac=1.0, random_state=len(name)))
    specs = [ColumnSpec("x", "numeric")]
    first = metrics.evaluate(
        con, real="t", synthetic="s", holdout="h", columns=specs, run_id="a", dcr_rows=100
    )
    again = metrics.evaluate(
        con, real="t", synthetic="s", holdout="h", columns=specs, run_id="a", dcr_rows=100
    )
    rows = con.execute(
        "select value from evaluation.summary where run_id = 'a' and metric = 'dcr_rows'"
    ).fetchone()
    assert rows[0] == 100
    assert first.median_dcr == again.median_dcr


def test_macros_never_return_nan_on_empty_or_blank_tables(con):
    # Setup: a table with values, an empty one, and one whose every value is missing.
    con.execute(
        "create table full_t as select * from (values (1.0, 'a', date '2020-01-01'), "
        "(2.0, 'b', date '2020-02-01'), (null, null, null)) t(x, c, d)"
    )
    con.execute("create table empty_t as select * from full_t limit 0")
    con.execute(
        "create table blank_t as select null::double x, null::varchar c, null::date d from range(3)"
    )
    tables = ["full_t", "empty_t", "blank_t"]

    # Run: every macro on every ordered pair of tables.
    values = []
    for r in tables:
        for s in tables:
            for call in (
                f"missing_value_similarity('{r}', '{s}', 'x')",
                f"ks_complement('{r}', '{s}', 'x')",
                f"ks_complement('{r}', '{s}', 'd', kind := 'date')",
                f"boundary_adherence('{r}', '{s}', 'x')",
                f"tail_agreement('{r}', '{s}', 'x')",
                f"tv_complement('{r}', '{s}', 'c')",
                f"category_coverage('{r}', '{s}', 'c')",
                f"correlation_similarity('{r}', '{s}', 'x', 'numeric', 'x', 'numeric')",
                f"contingency_similarity('{r}', '{s}', 'x', 'numeric', 'c', 'categorical')",
                f"exact_copies('{r}', '{s}', ['x', 'c'])",
                f"duplicate_rate('{s}', ['x', 'c'])",
                f"small_group_share('{r}', '{s}', ['c'], 10)",
                f"dcr('{s}', '{r}', '{r}', ['x', 'c'], ['numeric', 'categorical'])",
            ):
                for row in con.execute(f"select * from {call}").fetchall():
                    values += [(call, v) for v in row if isinstance(v, float)]

    # Assert: undefined is NULL with a reason, never NaN or infinite.
    assert values
    assert [(call, v) for call, v in values if not math.isfinite(v)] == []


def test_correlation_matrix_path_equals_the_exact_pair_path():
    # Setup: large offsets (epoch seconds), tiny spreads, blanks in different rows, a
    # column constant where another is present, and one with a single value.
    rng = np.random.default_rng(3)
    n = 5000
    base = rng.normal(0, 1, n)
    frame = pd.DataFrame(
        {
            "epoch": 1.6e9 + 86400 * np.round(base * 300),
            "tiny": 1e6 + 1e-3 * (base + rng.normal(0, 0.5, n)),
            "neg": -3 * base + rng.normal(0, 2, n),
            "half": np.where(rng.random(n) < 0.5, np.nan, 7.0),
            "lone": np.where(np.arange(n) == 0, 1.0, np.nan),
        }
    )
    for name in ("epoch", "tiny", "neg"):
        frame.loc[rng.random(n) < 0.3, name] = np.nan
    names = list(frame.columns)

    # Run
    fast = metrics._Correlations(frame, names)

    # Assert
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            value, reason = fast.pair(a, b)
            exact, exact_reason = metrics._pearson(frame[a], frame[b])
            assert reason == exact_reason, (a, b)
            if exact is None:
                assert value is None, (a, b)
            else:
                assert value == pytest.approx(exact, abs=1e-12), (a, b)
