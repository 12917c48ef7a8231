"""Fidelity and privacy metrics of a synthetic table, with the definitions of ``sql/``.

Every metric is an SQL macro in ``sql/`` (one metric per file; the opening comment of
each file gives its inputs, output and definition): the interface for the DuckDB shell
and for dbt. :func:`evaluate` loads the macros and reads the three tables once; it runs
the privacy counts (exact copies, duplicates, small groups) as macros inside DuckDB,
computes the column and pair metrics with the same definitions in numpy from the fetched
columns (a macro call reads the tables again, and 40 columns make about 140 column calls
and 780 pair calls; tests check that both give the same numbers), and measures the
distances to closest records with the exact search of ``synth.distance`` (the macro
``dcr`` is the brute-force definition). It writes the results to three tables:

- ``evaluation.column_metrics(run_id, column_name, metric, value, reason)``
- ``evaluation.pair_metrics(run_id, column_a, column_b, metric, value, reason)``
- ``evaluation.summary(run_id, metric, value, reason)``

An undefined value is SQL NULL with a reason ('zero variance', 'no values', ...), never
NaN. Example::

    con = duckdb.connect()
    load_macros(con)
    summary = evaluate(con, real="marts.train", synthetic="runs.synthetic",
                       holdout="marts.holdout", columns=specs, run_id="run-42")
    print(summary.as_line())
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from synth import distance
from synth.errors import DataError
from synth.schema import ColumnSpec

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).parents[1] / "sql"
EVALUATION_SCHEMA = "evaluation"

# A pair shows a trend in the real data, in the sense of SDMetrics' quality report,
# when |Pearson correlation| exceeds this (numeric pairs) ...
REAL_CORRELATION_THRESHOLD = 0.5
# ... or when Cramer's V of the real contingency table exceeds this (other pairs).
REAL_ASSOCIATION_THRESHOLD = 0.3

_TABLES = {
    "column_metrics": (
        "run_id varchar not null, column_name varchar not null, metric varchar not null, "
        "value double, reason varchar"
    ),
    "pair_metrics": (
        "run_id varchar not null, column_a varchar not null, column_b varchar not null, "
        "metric varchar not null, value double, reason varchar"
    ),
    "summary": "run_id varchar not null, metric varchar not null, value double, reason varchar",
}


@dataclass
class EvaluationSummary:
    """The headline numbers of one evaluation run (None where undefined)."""

    run_id: str
    shape_score: float | None
    trend_score: float | None
    shape_error: float | None
    trend_error: float | None
    dcr_share: float | None
    dcr_share_ideal: float | None
    median_dcr: float | None
    exact_copies: int
    exact_copy_rate: float | None
    n_real: int
    n_synthetic: int
    n_holdout: int
    dcr_share_balanced: float | None = None  # against as many train rows as holdout rows

    def as_line(self) -> str:
        """One log line with the headline numbers, undefined ones shown as 'n/a'."""

        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4f}"

        return (
            f"run {self.run_id}: shape {fmt(self.shape_score)} (error {fmt(self.shape_error)}), "
            f"trend {fmt(self.trend_score)} (error {fmt(self.trend_error)}), "
            f"DCR share {fmt(self.dcr_share)} (ideal {fmt(self.dcr_share_ideal)}), "
            f"balanced {fmt(self.dcr_share_balanced)} (ideal 0.5), "
            f"median DCR {fmt(self.median_dcr)}, exact copies {self.exact_copies} "
            f"({fmt(self.exact_copy_rate)}); rows real {self.n_real}, "
            f"synthetic {self.n_synthetic}, holdout {self.n_holdout}"
        )


def load_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) every metric macro of ``sql/`` in the connection.

    Files run in name order; ``_helpers.sql`` sorts first.
    """
    files = sorted(SQL_DIR.glob("*.sql"))
    if not files:
        raise DataError("no metric macros found; the sql/ folder is missing", source=str(SQL_DIR))
    for path in files:
        con.execute(path.read_text(encoding="utf-8"))


def quote_name(name: str) -> str:
    """Quote a table name, possibly schema-qualified (``schema.table``), for SQL."""
    return ".".join(_quote_ident(part) for part in name.split("."))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table) -> None:
    """Write a pandas frame or Arrow table to a DuckDB table, missing values as NULL.

    NaN in a floating column (numpy float, pandas nullable Float, Arrow float) becomes
    SQL NULL, so no DOUBLE column holds NaN and ``count`` and ``avg`` agree with the
    frame's own count of values. The table is created or replaced; ``table`` may be
    schema-qualified.

    Args:
        con: Open DuckDB connection.
        table: Target table name (``name`` or ``schema.name``).
        frame: The rows to write.
    """
    arrow = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    columns = []
    for column in arrow.columns:
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        columns.append(column)
    clean = pa.Table.from_arrays(columns, names=arrow.column_names)
    view = "_write_frame_source"
    con.register(view, clean)
    try:
        con.execute(f"create or replace table {quote_name(table)} as select * from {view}")
    finally:
        con.unregister(view)


def evaluate(
    con: duckdb.DuckDBPyConnection,
    *,
    real: str,
    synthetic: str,
    holdout: str,
    columns: Sequence[ColumnSpec],
    run_id: str,
    k: int = 10,
    dcr_rows: int | None = None,
    seed: int = 0,
) -> EvaluationSummary:
    """Compute every metric of a synthetic table and store them under ``run_id``.

    Identifier columns take part in no metric. Quasi-identifier columns (role
    ``quasi_identifier``) define the groups of the small-group share. Results replace
    earlier rows of the same run in ``evaluation.*``, in one transaction.

    Args:
        con: Open DuckDB connection holding the three tables.
        real: Training split (table or view name, possibly schema-qualified).
        synthetic: Synthetic table with the same columns.
        holdout: Real rows not used in training, with the same columns.
        columns: Specifications of the columns to evaluate (others are ignored).
        run_id: Key of this run in the evaluation tables.
        k: Group size under which a real quasi-identifier group counts as small.
        dcr_rows: Measure the distances to closest records for a random sample of this
            many synthetic rows (exact for each sampled row, against every real row)
            instead of all of them; None measures every row. The sample is stated in
            ``evaluation.summary`` (``dcr_rows``).
        seed: Seeds the synthetic sample and the train sample of the balanced DCR share.

    Returns:
        The headline numbers.

    Raises:
        DataError: A table lacks a listed column, or no column is left to evaluate.
    """
    started = time.perf_counter()
    load_macros(con)
    features = [spec for spec in columns if not spec.is_identifier]
    if not features:
        raise DataError("no column to evaluate: every listed column is an identifier")
    n_rows = {name: _check_table(con, name, features) for name in (real, synthetic, holdout)}

    names = (real, synthetic, holdout)
    frames = dict(zip(names, _fetch_tables(con, names, features), strict=True))
    log.info("read the three tables in %.2f s", time.perf_counter() - started)
    stage = time.perf_counter()
    column_rows = _column_metrics(frames[real], frames[synthetic], features)
    log.info("column metrics: %d columns in %.2f s", len(features), time.perf_counter() - stage)
    stage = time.perf_counter()
    pair_rows = _pair_metrics(frames[real], frames[synthetic], features)
    log.info(
        "pair metrics: %d pairs in %.2f s",
        len(features) * (len(features) - 1) // 2,
        time.perf_counter() - stage,
    )
    stage = time.perf_counter()
    privacy = _privacy_metrics(con, real, synthetic, features, k)
    privacy += _dcr_metrics(
        frames[synthetic], frames[real], frames[holdout], features, dcr_rows, seed
    )
    log.info("privacy metrics in %.1f s", time.perf_counter() - stage)

    summary_rows = _summary_rows(column_rows, pair_rows, features)
    summary_rows += privacy
    summary_rows += [
        ("n_real", float(n_rows[real]), None),
        ("n_synthetic", float(n_rows[synthetic]), None),
        ("n_holdout", float(n_rows[holdout]), None),
    ]
    _store(con, run_id, column_rows, pair_rows, summary_rows)
    values = {metric: value for metric, value, _ in summary_rows}
    summary = EvaluationSummary(
        run_id=run_id,
        shape_score=values["shape_score"],
        trend_score=values["trend_score"],
        shape_error=values["shape_error"],
        trend_error=values["trend_error"],
        dcr_share=values["dcr_share"],
        dcr_share_ideal=values["dcr_share_ideal"],
        dcr_share_balanced=values["dcr_share_balanced"],
        median_dcr=values["median_dcr"],
        exact_copies=int(values["exact_copies"] or 0),
        exact_copy_rate=values["exact_copy_rate"],
        n_real=n_rows[real],
        n_synthetic=n_rows[synthetic],
        n_holdout=n_rows[holdout],
    )
    log.info("%s (%.1f s)", summary.as_line(), time.perf_counter() - started)
    return summary


# --------------------------------------------------------------------------- helpers


def _check_table(con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[ColumnSpec]) -> int:
    """Return the row count of a table after checking that it holds every column."""
    try:
        result = con.execute("select * from query_table(?) limit 0", [table])
        description = result.description
        result.fetchall()
    except duckdb.Error as error:
        raise DataError(f"table cannot be read ({error}); check the name", source=table) from error
    present = {row[0] for row in description}
    for spec in columns:
        if spec.name not in present:
            raise DataError(
                "the column is missing from this table; all three tables need the same columns",
                source=table,
                column=spec.name,
            )
    return int(con.execute("select count(*) from query_table(?)", [table]).fetchall()[0][0])


def _run_union(
    con: duckdb.DuckDBPyConnection, calls: list[tuple[str, list[Any]]]
) -> list[tuple[Any, ...]]:
    """Run macro calls ``(sql, params)`` as one union-all statement and fetch the rows."""
    if not calls:
        return []
    sql = "\nunion all\n".join(f"select * from {call}" for call, _ in calls)
    params = [value for _, call_params in calls for value in call_params]
    rows = con.execute(sql, params).fetchall()
    return [tuple(_clean(value) for value in row) for row in rows]


def _clean(value: Any) -> Any:
    """Turn a float NaN into None (a guard; the macros never return NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _numeric_kind(spec: ColumnSpec) -> bool:
    return spec.kind in ("numeric", "date")


def _column_metrics(
    real_frame: pd.DataFrame, synthetic_frame: pd.DataFrame, columns: Sequence[ColumnSpec]
) -> list[tuple[Any, ...]]:
    """Every column metric, from the fetched columns.

    The definitions are the macros ``missing_value_similarity``, ``ks_complement``,
    ``boundary_adherence``, ``tail_agreement``, ``tv_complement`` and
    ``category_coverage``, which read the tables once per column and metric (about 200
    calls for 40 columns); here each column is read once, as the pair metrics do. A test
    checks that both give the same numbers. A NaN in a number column is a missing value
    here; tables written with :func:`write_frame` hold NULL instead.
    """
    rows: list[tuple[Any, ...]] = []
    for spec in columns:
        name = spec.name
        real, synthetic = real_frame[name], synthetic_frame[name]
        rows.append((name, *_missing_similarity(real, synthetic)))
        if _numeric_kind(spec):
            r = real.to_numpy(dtype="float64", na_value=np.nan)
            s = synthetic.to_numpy(dtype="float64", na_value=np.nan)
            # The observed values of each side, sorted once for the three metrics.
            r_sorted, s_sorted = np.sort(r[~np.isnan(r)]), np.sort(s[~np.isnan(s)])
            rows.append((name, *_ks_complement(r_sorted, s_sorted)))
            rows.append((name, *_boundary_adherence(r_sorted, s_sorted, len(r), len(s))))
            rows += [(name, *row) for row in _tail_agreement(r_sorted, s_sorted)]
        else:
            rows += [(name, *row) for row in _category_metrics(real, synthetic)]
    return rows


def _missing_similarity(
    real: pd.Series, synthetic: pd.Series
) -> tuple[str, float | None, str | None]:
    metric = "missing_value_similarity"
    if len(real) == 0 or len(synthetic) == 0:
        return metric, None, "no rows"
    return metric, 1 - abs(float(real.isna().mean()) - float(synthetic.isna().mean())), None


def _ks_complement(r: np.ndarray, s: np.ndarray) -> tuple[str, float | None, str | None]:
    """KS complement of two sorted arrays of observed values."""
    if len(r) == 0 or len(s) == 0:
        return "ks_complement", None, "no values"
    # Both CDFs at every observed value; searching sorted values keeps the search local.
    gap = max(
        np.abs(
            np.searchsorted(r, r, "right") / len(r) - np.searchsorted(s, r, "right") / len(s)
        ).max(),
        np.abs(
            np.searchsorted(r, s, "right") / len(r) - np.searchsorted(s, s, "right") / len(s)
        ).max(),
    )
    return "ks_complement", 1 - float(gap), None


def _boundary_adherence(
    r: np.ndarray, s: np.ndarray, n_real: int, n_synthetic: int
) -> tuple[str, float | None, str | None]:
    """Boundary adherence from sorted observed values and the row counts (with blanks)."""
    # Without a blank in the real column, a blank synthetic value counts as outside.
    n_judged = len(s) if len(r) < n_real else n_synthetic
    if len(r) == 0 or n_judged == 0:
        return "boundary_adherence", None, "no values"
    inside = np.searchsorted(s, r[-1], "right") - np.searchsorted(s, r[0], "left")
    return "boundary_adherence", float(inside / n_judged), None


_TAILS = (
    (0.01, "tail_q01_error"),
    (0.05, "tail_q05_error"),
    (0.95, "tail_q95_error"),
    (0.99, "tail_q99_error"),
)


def _tail_agreement(r: np.ndarray, s: np.ndarray) -> list[tuple[str, float | None, str | None]]:
    """Tail errors and agreement from two sorted arrays of observed values."""
    reason = None
    if len(r) == 0 or len(s) == 0:
        reason = "no values"
    elif r[0] == r[-1]:
        reason = "zero variance"
    if reason is not None:
        return [(metric, None, reason) for _, metric in _TAILS] + [("tail_agreement", None, reason)]
    quantiles = [q for q, _ in _TAILS]
    spread = float(r[-1] - r[0])
    errors = np.minimum(np.abs(_quantiles(s, quantiles) - _quantiles(r, quantiles)) / spread, 1.0)
    rows: list[tuple[str, float | None, str | None]] = [
        (metric, float(error), None) for (_, metric), error in zip(_TAILS, errors, strict=True)
    ]
    return [*rows, ("tail_agreement", 1 - float(errors.mean()), None)]


def _quantiles(ordered: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """Interpolated quantiles of sorted values (DuckDB's quantile_cont, numpy's linear)."""
    position = np.asarray(quantiles) * (len(ordered) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _category_metrics(
    real: pd.Series, synthetic: pd.Series
) -> list[tuple[str, float | None, str | None]]:
    """TV complement (without and with missing as a level) and category coverage."""
    codes, levels = pd.factorize(pd.concat([real, synthetic], ignore_index=True))
    # Level 0 counts the missing values (factorize marks them -1).
    size = len(levels) + 1
    real_counts = np.bincount(codes[: len(real)] + 1, minlength=size)
    synthetic_counts = np.bincount(codes[len(real) :] + 1, minlength=size)
    rows: list[tuple[str, float | None, str | None]] = []
    for metric, first in (("tv_complement", 1), ("tv_complement_with_missing", 0)):
        r, s = real_counts[first:], synthetic_counts[first:]
        if r.sum() == 0 or s.sum() == 0:
            rows.append((metric, None, "no values"))
            continue
        rows.append((metric, 1 - 0.5 * float(np.abs(r / r.sum() - s / s.sum()).sum()), None))
    in_real = real_counts[1:] > 0
    if not in_real.any():
        rows.append(("category_coverage", None, "no values"))
    else:
        covered = in_real & (synthetic_counts[1:] > 0)
        rows.append(("category_coverage", int(covered.sum()) / int(in_real.sum()), None))
    return rows


def _pair_metrics(
    real_frame: pd.DataFrame, synthetic_frame: pd.DataFrame, columns: Sequence[ColumnSpec]
) -> list[tuple[Any, ...]]:
    """Every pair metric, all pairs in one pass.

    The definitions are the macros ``contingency_similarity`` and
    ``correlation_similarity`` (one pair per call, the shell interface); with 40 columns
    that is 780 calls, so here the columns are read once and the same cells, counts and
    correlations are computed in numpy. A test checks that both give the same numbers.
    """
    cells = {
        spec.name: _cells(real_frame[spec.name], synthetic_frame[spec.name], spec)
        for spec in columns
    }
    numbers = [spec.name for spec in columns if _numeric_kind(spec)]
    pearson_real = _Correlations(real_frame, numbers)
    pearson_synthetic = _Correlations(synthetic_frame, numbers)
    rows: list[tuple[Any, ...]] = []
    for i, spec_a in enumerate(columns):
        for spec_b in columns[i + 1 :]:
            a, b = spec_a.name, spec_b.name
            rows += [(a, b, *row) for row in _contingency(cells[a], cells[b])]
            if _numeric_kind(spec_a) and _numeric_kind(spec_b):
                rows += [
                    (a, b, *row)
                    for row in _correlation(pearson_real.pair(a, b), pearson_synthetic.pair(a, b))
                ]
    return rows


class _Correlations:
    """Pearson correlations of every pair of number columns, from a few matrix products.

    Each pair uses the rows where both columns have a value, as the macro
    ``correlation_similarity`` does. Each column is first standardised on its own
    values, so that the one-pass sums lose no precision worth speaking of; a pair with
    fewer than two shared rows or with (nearly) no variance on them is computed exactly
    by :func:`_pearson` instead, which also gives the reason of an undefined value.
    """

    def __init__(self, frame: pd.DataFrame, names: list[str]) -> None:
        self.frame = frame
        self.position = {name: j for j, name in enumerate(names)}
        x = (
            np.column_stack(
                [frame[name].to_numpy(dtype="float64", na_value=np.nan) for name in names]
            )
            if names
            else np.zeros((len(frame), 0))
        )
        present = ~np.isnan(x)
        weight = present.astype(np.float64)
        count = weight.sum(axis=0)
        safe = np.where(present, x, 0.0)
        mean = safe.sum(axis=0) / np.maximum(count, 1)
        spread = np.sqrt(((safe - mean) ** 2 * weight).sum(axis=0) / np.maximum(count, 1))
        z = np.where(present, (safe - mean) / np.where(spread > 0, spread, 1.0), 0.0)
        self.n = weight.T @ weight
        sums = z.T @ weight  # sums[a, b]: column a summed over the rows shared with b
        self.variance = (z * z).T @ weight - sums**2 / np.maximum(self.n, 1)
        self.covariance = z.T @ z - sums * sums.T / np.maximum(self.n, 1)

    def pair(self, a: str, b: str) -> tuple[float | None, str | None]:
        """The correlation of columns ``a`` and ``b``, or None with a reason."""
        i, j = self.position[a], self.position[b]
        n, var_a, var_b = self.n[i, j], self.variance[i, j], self.variance[j, i]
        if n < 2 or min(var_a, var_b) <= 1e-9 * n:
            return _pearson(self.frame[a], self.frame[b])
        value = float(self.covariance[i, j] / math.sqrt(var_a * var_b))
        return max(-1.0, min(1.0, value)), None


def _cells(
    real: pd.Series, synthetic: pd.Series, spec: ColumnSpec, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Cell numbers of one column on both sides (None: no real value to bin)."""
    if _numeric_kind(spec):
        r = real.to_numpy(dtype="float64", na_value=np.nan)
        s = synthetic.to_numpy(dtype="float64", na_value=np.nan)
        observed = r[~np.isnan(r)]
        if len(observed) == 0:
            return None
        edges = np.histogram_bin_edges(observed, bins=n_bins)
        edges[0], edges[-1] = -np.inf, np.inf
        # np.digitize sends NaN past the last edge: missing is cell n_bins + 1.
        return np.digitize(r, edges), np.digitize(s, edges), n_bins + 2
    codes, levels = pd.factorize(
        pd.concat([real, synthetic], ignore_index=True), use_na_sentinel=False
    )
    return codes[: len(real)], codes[len(real) :], len(levels)


def _contingency(
    cells_a: tuple[np.ndarray, np.ndarray, int] | None,
    cells_b: tuple[np.ndarray, np.ndarray, int] | None,
) -> list[tuple[str, float | None, str | None]]:
    """Contingency similarity and the real Cramer's V of one pair (as the macro)."""
    if cells_a is None or cells_b is None or len(cells_a[0]) == 0 or len(cells_a[1]) == 0:
        return [
            ("contingency_similarity", None, "no values"),
            ("real_association", None, "no values"),
        ]
    real_a, synthetic_a, n_a = cells_a
    real_b, synthetic_b, n_b = cells_b
    real_counts = np.bincount(real_a * n_b + real_b, minlength=n_a * n_b)
    synthetic_counts = np.bincount(synthetic_a * n_b + synthetic_b, minlength=n_a * n_b)
    score = 1 - 0.5 * np.abs(real_counts / len(real_a) - synthetic_counts / len(synthetic_a)).sum()
    table = real_counts.reshape(n_a, n_b)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return [
            ("contingency_similarity", float(score), None),
            ("real_association", None, "zero variance"),
        ]
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    chi2 = ((table - expected) ** 2 / expected).sum()
    association = math.sqrt(chi2 / (total * (min(table.shape) - 1)))
    return [("contingency_similarity", float(score), None), ("real_association", association, None)]


def _pearson(x: pd.Series, y: pd.Series) -> tuple[float | None, str | None]:
    a = x.to_numpy(dtype="float64", na_value=np.nan)
    b = y.to_numpy(dtype="float64", na_value=np.nan)
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    if len(a) < 2:
        return None, "no values"
    if a.min() == a.max() or b.min() == b.max():
        return None, "zero variance"
    a, b = a - a.mean(), b - b.mean()
    value = float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))
    return max(-1.0, min(1.0, value)), None


def _correlation(
    real: tuple[float | None, str | None], synthetic: tuple[float | None, str | None]
) -> list[tuple[str, float | None, str | None]]:
    """Correlations and their similarity for one numeric pair (as the macro)."""
    corr_real, reason_real = real
    corr_synthetic, reason_synthetic = synthetic
    reasons = [reason for reason in (reason_real, reason_synthetic) if reason]
    if reasons or corr_real is None or corr_synthetic is None:
        reason = min(reasons)
        return [
            (metric, None, reason)
            for metric in ("real_correlation", "synthetic_correlation", "correlation_similarity")
        ]
    return [
        ("real_correlation", corr_real, None),
        ("synthetic_correlation", corr_synthetic, None),
        ("correlation_similarity", 1 - abs(corr_real - corr_synthetic) / 2, None),
    ]


def _mean(values: Iterable[float | None]) -> float | None:
    defined = [value for value in values if value is not None]
    return sum(defined) / len(defined) if defined else None


def _summary_rows(
    column_rows: list[tuple[Any, ...]],
    pair_rows: list[tuple[Any, ...]],
    columns: Sequence[ColumnSpec],
) -> list[tuple[str, float | None, str | None]]:
    """Shape and trend scores, TabSyn's errors and the quality-report pair trends."""
    shape_metric = {
        spec.name: "ks_complement" if _numeric_kind(spec) else "tv_complement" for spec in columns
    }
    shapes = [value for name, metric, value, _ in column_rows if metric == shape_metric[name]]
    by_pair: dict[tuple[str, str], dict[str, float | None]] = {}
    for column_a, column_b, metric, value, _ in pair_rows:
        by_pair.setdefault((column_a, column_b), {})[metric] = value
    trends: list[float | None] = []
    real_trends: list[float | None] = []
    for metrics in by_pair.values():
        if "correlation_similarity" in metrics:
            trend = metrics["correlation_similarity"]
            strength = metrics.get("real_correlation")
            threshold = REAL_CORRELATION_THRESHOLD
        else:
            trend = metrics.get("contingency_similarity")
            strength = metrics.get("real_association")
            threshold = REAL_ASSOCIATION_THRESHOLD
        trends.append(trend)
        if strength is not None and abs(strength) > threshold:
            real_trends.append(trend)

    shape_score = _mean(shapes)
    trend_score = _mean(trends)
    pair_trends = _mean(real_trends)
    rows: list[tuple[str, float | None, str | None]] = [
        ("shape_score", shape_score, None if shape_score is not None else "no defined column"),
        (
            "shape_error",
            None if shape_score is None else 1 - shape_score,
            None if shape_score is not None else "no defined column",
        ),
        ("trend_score", trend_score, None if trend_score is not None else "no defined pair"),
        (
            "trend_error",
            None if trend_score is None else 1 - trend_score,
            None if trend_score is not None else "no defined pair",
        ),
        ("column_shapes", shape_score, None if shape_score is not None else "no defined column"),
        (
            "column_pair_trends",
            pair_trends,
            None if pair_trends is not None else "no pair with a real trend",
        ),
    ]
    overall = _mean([shape_score, pair_trends])
    rows.append(("quality_score", overall, None if overall is not None else "no defined property"))
    return rows


def _privacy_metrics(
    con: duckdb.DuckDBPyConnection,
    real: str,
    synthetic: str,
    columns: Sequence[ColumnSpec],
    k: int,
) -> list[tuple[str, float | None, str | None]]:
    """Exact copies, duplicates and the small-group share, by their macros."""
    names = [spec.name for spec in columns]
    quasi = [spec.name for spec in columns if spec.role == "quasi_identifier"]
    rows: list[tuple[str, float | None, str | None]] = []
    for metric, value, reason in _run_union(
        con,
        [
            ("exact_copies(?, ?, ?)", [real, synthetic, names]),
            ("duplicate_rate(?, ?)", [synthetic, names]),
            ("small_group_share(?, ?, ?, ?)", [real, synthetic, quasi, k]),
        ],
    ):
        rows.append((metric, value, reason))
    return rows


def _dcr_metrics(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    columns: Sequence[ColumnSpec],
    dcr_rows: int | None,
    seed: int,
) -> list[tuple[str, float | None, str | None]]:
    """DCR shares (full and balanced), median DCR and median NNDR of the synthetic rows.

    The balanced share compares each synthetic row with a seeded sample of the larger
    real split cut to the size of the smaller one, so that its ideal is 0.5; each
    search is scaled by the range of the table it searches, as SDMetrics does.
    """
    names = ("dcr_share", "dcr_share_ideal", "dcr_share_balanced", "median_dcr", "median_nndr")
    if len(synthetic) == 0 or len(train) == 0 or len(holdout) == 0:
        return [(metric, None, "no rows") for metric in names]
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, float | None, str | None]] = []
    if dcr_rows is not None and dcr_rows < len(synthetic):
        keep = np.sort(rng.choice(len(synthetic), size=dcr_rows, replace=False))
        synthetic = synthetic.iloc[keep].reset_index(drop=True)
        log.info("DCR measured on a seeded sample of %d synthetic rows", dcr_rows)
    rows.append(("dcr_rows", float(len(synthetic)), None))
    started = time.perf_counter()
    to_train = nearest_distances(synthetic, train, columns, n_nearest=2)
    closer = closer_to_first(synthetic, to_train[:, 0], holdout, columns)
    rows.append(("dcr_share", float(np.mean(closer)), None))
    rows.append(("dcr_share_ideal", len(train) / (len(train) + len(holdout)), None))
    if len(train) > len(holdout):
        sample = train.iloc[np.sort(rng.choice(len(train), size=len(holdout), replace=False))]
        first = nearest_distances(synthetic, sample, columns)[:, 0]
        balanced = closer_to_first(synthetic, first, holdout, columns)
    elif len(train) < len(holdout):
        sample = holdout.iloc[np.sort(rng.choice(len(holdout), size=len(train), replace=False))]
        balanced = closer_to_first(synthetic, to_train[:, 0], sample, columns)
    else:
        balanced = closer
    rows.append(("dcr_share_balanced", float(np.mean(balanced)), None))
    rows.append(("median_dcr", float(np.median(to_train[:, 0])), None))
    if to_train.shape[1] < 2:
        rows.append(("median_nndr", None, "fewer than two training rows"))
    else:
        second = to_train[:, 1]
        ratio = np.divide(to_train[:, 0], second, out=np.ones_like(second), where=second > 0)
        rows.append(("median_nndr", float(np.median(ratio)), None))
    log.info(
        "distances to closest records: %d synthetic rows in %.1f s",
        len(synthetic),
        time.perf_counter() - started,
    )
    return rows


def _fetch_columns(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[ColumnSpec]
) -> pd.DataFrame:
    """Read one table's columns, as :func:`_fetch_tables` does."""
    return _fetch_tables(con, [table], columns)[0]


def _fetch_tables(
    con: duckdb.DuckDBPyConnection, tables: Sequence[str], columns: Sequence[ColumnSpec]
) -> list[pd.DataFrame]:
    """Read the columns of each table: numbers as floats, categories as pandas categoricals.

    Dates become epoch seconds; a missing number is NaN. Categories are the values as
    text, with one set of categories per column shared by all the tables (so their codes
    agree) and a missing value as a missing code; no Python string is made per row.
    """
    parts = []
    for spec in columns:
        ident = _quote_ident(spec.name)
        if spec.kind == "date":
            parts.append(f"epoch({ident})::double as {ident}")
        elif spec.kind == "numeric":
            parts.append(f"{ident}::double as {ident}")
        else:
            parts.append(f"{ident}::varchar as {ident}")
    sql = f"select {', '.join(parts)} from query_table(?)"
    fetched = [con.sql(sql, params=[table]).to_arrow_table() for table in tables]
    lengths = [table.num_rows for table in fetched]
    cuts = np.cumsum(lengths)[:-1]
    data: list[dict[str, Any]] = [{} for _ in tables]
    for spec in columns:
        arrays = [table[spec.name].combine_chunks() for table in fetched]
        if spec.kind != "categorical":
            for frame, array in zip(data, arrays, strict=True):
                frame[spec.name] = array.to_numpy(zero_copy_only=False).astype("float64")
            continue
        encoded = pa.concat_arrays(arrays).dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        categories = pd.Index(encoded.dictionary.to_pylist(), dtype=object)
        for frame, part in zip(data, np.split(codes, cuts), strict=True):
            frame[spec.name] = pd.Categorical.from_codes(part, categories=categories)
    return [
        pd.DataFrame(frame, index=pd.RangeIndex(n), columns=[spec.name for spec in columns])
        for frame, n in zip(data, lengths, strict=True)
    ]


def nearest_distances(
    rows: pd.DataFrame,
    reference: pd.DataFrame,
    columns: Sequence[ColumnSpec],
    n_nearest: int = 1,
) -> np.ndarray:
    """Exact distances from each row to its ``n_nearest`` closest reference rows.

    The distance is the one of ``sql/dcr.sql``: per column |a - b| / range of the
    reference, capped at 1 (0/1 if the range is 0), 0/1 for categories, missing against
    a value 1 and missing against missing 0; the row distance is the mean over columns.
    The search is the exact one of :mod:`synth.distance`.

    Args:
        rows: Rows to measure (numbers as float, categories as text, as ``_fetch_columns``).
        reference: Rows to search.
        columns: The columns (identifiers are left out).
        n_nearest: How many nearest distances to return per row.

    Returns:
        Array of shape (len(rows), min(n_nearest, len(reference))), ascending per row.
    """
    n_keep = min(n_nearest, len(reference))
    if len(rows) == 0 or n_keep == 0:
        return np.zeros((len(rows), n_keep))
    space = distance.DistanceSpace(columns, scale_from=reference)
    found, _ = distance.nearest(space, space.encode(rows), space.encode(reference), n_keep)
    return found


def closer_to_first(
    rows: pd.DataFrame,
    distance_first: np.ndarray,
    other: pd.DataFrame,
    columns: Sequence[ColumnSpec],
) -> np.ndarray:
    """For each row, whether no ``other`` row is as close as ``distance_first``.

    A tie counts as not closer (as SDMetrics' DCROverfittingProtection). Distances to
    ``other`` are scaled by its own range. Only the rows of ``other`` that may lie within
    ``distance_first`` are measured exactly, so this costs less than a nearest search.

    Args:
        rows: Rows to measure.
        distance_first: Each row's distance to the first table (from
            :func:`nearest_distances`).
        other: The second table.
        columns: The columns (identifiers are left out).

    Returns:
        Boolean array of length ``len(rows)``.
    """
    if len(other) == 0:
        return np.ones(len(rows), dtype=bool)
    space = distance.DistanceSpace(columns, scale_from=other)
    limit = np.asarray(distance_first, dtype=np.float64)
    return ~distance.within(space, space.encode(rows), space.encode(other), limit)


def _store(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    column_rows: list[tuple[Any, ...]],
    pair_rows: list[tuple[Any, ...]],
    summary_rows: list[tuple[str, float | None, str | None]],
) -> None:
    """Replace the rows of ``run_id`` in the three evaluation tables, in one transaction."""
    batches = {
        "column_metrics": pa.table(
            {
                "run_id": [run_id] * len(column_rows),
                "column_name": [r[0] for r in column_rows],
                "metric": [r[1] for r in column_rows],
                "value": pa.array([r[2] for r in column_rows], pa.float64()),
                "reason": pa.array([r[3] for r in column_rows], pa.string()),
            }
        ),
        "pair_metrics": pa.table(
            {
                "run_id": [run_id] * len(pair_rows),
                "column_a": [r[0] for r in pair_rows],
                "column_b": [r[1] for r in pair_rows],
                "metric": [r[2] for r in pair_rows],
                "value": pa.array([r[3] for r in pair_rows], pa.float64()),
                "reason": pa.array([r[4] for r in pair_rows], pa.string()),
            }
        ),
        "summary": pa.table(
            {
                "run_id": [run_id] * len(summary_rows),
                "metric": [r[0] for r in summary_rows],
                "value": pa.array([r[1] for r in summary_rows], pa.float64()),
                "reason": pa.array([r[2] for r in summary_rows], pa.string()),
            }
        ),
    }
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {EVALUATION_SCHEMA}")
        for table, ddl in _TABLES.items():
            target = f"{EVALUATION_SCHEMA}.{table}"
            con.execute(f"create table if not exists {target} ({ddl})")
            con.execute(f"delete from {target} where run_id = ?", [run_id])
            view = f"_evaluation_{table}"
            con.register(view, batches[table])
            try:
                con.execute(f"insert into {target} by name select * from {view}")
            finally:
                con.unregister(view)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
