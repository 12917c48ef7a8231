"""Machine-learning utility: does a model trained on synthetic rows predict real outcomes?

For every prediction target, two models (logistic regression and gradient boosting) are
trained twice: on the real train split and on the synthetic rows. Both are tested on the
real holdout. The metric is the AUC for a binary target and the macro F1 for more
classes; the gap is ``real - synthetic`` (positive when synthetic training loses). The
intervals come from one paired bootstrap over the holdout rows: each resample scores
both models on the same rows, so the gap's interval accounts for their correlation.

Targets are the columns with role ``target`` plus any listed under
``evaluation.targets`` in the configuration.

Example:
    >>> from synth.utility import evaluate_utility
    >>> rows = evaluate_utility(train, holdout, synthetic, cfg.mart.columns,
    ...                         targets=["is_dead"])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from synth.attacks import category_values, numeric_values
from synth.config import DatasetConfig
from synth.errors import ConfigError, DataError
from synth.schema import ColumnSpec

log = logging.getLogger(__name__)

UTILITY_DDL = """
create schema if not exists evaluation;
create table if not exists evaluation.utility (
    run_id varchar not null,
    target varchar not null,
    model varchar not null,
    train_on varchar not null,
    metric varchar not null,
    value double,
    ci_low double,
    ci_high double,
    gap double,
    gap_ci_low double,
    gap_ci_high double
);
"""

MODELS = ("logistic_regression", "gradient_boosting")


@dataclass
class UtilityResult:
    """One model's score on the holdout, as one row of ``evaluation.utility``.

    ``gap`` and its interval are set on the ``synthetic`` row (real minus synthetic) and
    left empty on the ``real`` row.
    """

    target: str
    model: str
    train_on: str  # "real" or "synthetic"
    metric: str  # "auc" or "macro_f1"
    value: float
    ci_low: float
    ci_high: float
    gap: float | None = None
    gap_ci_low: float | None = None
    gap_ci_high: float | None = None


def targets_from_config(cfg: DatasetConfig) -> list[str]:
    """The prediction targets: columns with role ``target``, then ``evaluation.targets``.

    Raises:
        ConfigError: ``evaluation.targets`` is not a list of mart column names.
    """
    names = [c.name for c in cfg.mart.columns if c.role == "target"]
    listed = (cfg.raw.get("evaluation") or {}).get("targets", [])
    known = {c.name for c in cfg.mart.modelled}
    if not isinstance(listed, list):
        raise ConfigError("evaluation.targets", "must be a list of column names", str(cfg.path))
    for i, name in enumerate(listed):
        if name not in known:
            raise ConfigError(
                f"evaluation.targets[{i}]",
                f"names {name!r}, which is not a modelled column of mart.columns",
                str(cfg.path),
            )
        if name not in names:
            names.append(name)
    return names


def _features(columns: Sequence[ColumnSpec], target: str) -> list[ColumnSpec]:
    return [c for c in columns if not c.is_identifier and c.name != target]


def _design(frame: pd.DataFrame, features: Sequence[ColumnSpec]) -> pd.DataFrame:
    """Numbers as floats (NaN missing), categories as text (NaN missing)."""
    out = {}
    for col in features:
        if col.kind == "categorical":
            values = category_values(frame[col.name])
            out[col.name] = pd.Series(values, dtype=object).where(pd.notna(values), np.nan)
        else:
            out[col.name] = numeric_values(frame[col.name], col.kind)
    return pd.DataFrame(out)


def _labels(frame: pd.DataFrame) -> np.ndarray:
    return category_values(frame)


def _model(name: str, features: Sequence[ColumnSpec], seed: int) -> Pipeline:
    numeric = [c.name for c in features if c.kind != "categorical"]
    categorical = [c.name for c in features if c.kind == "categorical"]
    if name == "logistic_regression":
        prep = ColumnTransformer(
            [
                (
                    "num",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                            ("scale", StandardScaler()),
                        ]
                    ),
                    numeric,
                ),
                (
                    "cat",
                    Pipeline(
                        [
                            ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                            ("onehot", OneHotEncoder(handle_unknown="ignore")),
                        ]
                    ),
                    categorical,
                ),
            ]
        )
        return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=2000))])
    # Gradient boosting handles NaN itself; categories become codes, with unseen and
    # missing ones sent to the missing branch.
    prep = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                categorical,
            ),
            ("num", "passthrough", numeric),
        ],
        verbose_feature_names_out=False,
    )
    boosting = HistGradientBoostingClassifier(
        categorical_features=list(range(len(categorical))) or None, random_state=seed
    )
    return Pipeline([("prep", prep), ("model", boosting)])


def _fit(
    name: str, features: Sequence[ColumnSpec], x: pd.DataFrame, y: np.ndarray, seed: int
) -> Pipeline | DummyClassifier:
    if len(np.unique(y)) < 2:
        # One class only: the best a model can do is predict it; its AUC is 0.5.
        log.warning("%s: the training rows hold one class only; a constant model stands in", name)
        return DummyClassifier(strategy="most_frequent").fit(x, y)
    # A feature with no observed value in the training rows carries no information
    # (and gradient boosting cannot bin it): the model leaves it out.
    usable = [c for c in features if x[c.name].notna().any()]
    if len(usable) < len(features):
        left_out = sorted({c.name for c in features} - {c.name for c in usable})
        log.info("%s: no observed values in training rows, left out: %s", name, left_out)
    return _model(name, usable, seed).fit(x, y)


def _auc(y_true: np.ndarray, score: np.ndarray) -> float:
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _scorer(classes: np.ndarray, model: Any, x: pd.DataFrame) -> tuple[str, np.ndarray]:
    """The metric's name and the model's scores (binary) or predictions on ``x``."""
    if len(classes) == 2:
        positive = classes[1]
        proba = model.predict_proba(x)
        fitted = list(model.classes_)
        score = proba[:, fitted.index(positive)] if positive in fitted else np.zeros(len(x))
        return "auc", score
    return "macro_f1", model.predict(x)


def evaluate_utility(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: Sequence[ColumnSpec],
    targets: Sequence[str],
    *,
    models: Sequence[str] = MODELS,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[UtilityResult]:
    """Train on real and on synthetic rows, test both on the real holdout.

    Args:
        train: The real train split.
        holdout: The real holdout split (the test set of every model).
        synthetic: The synthetic rows.
        columns: The mart's columns; identifiers are never features.
        targets: Columns to predict; each is left out of its own features.
        models: Any of ``logistic_regression`` and ``gradient_boosting``.
        n_bootstrap: Resamples of the holdout rows for the intervals.
        confidence: Level of the percentile intervals.
        seed: Fixes the models' randomness and the resamples.

    Returns:
        Two rows per target and model: ``train_on`` ``real`` and ``synthetic``; the
        synthetic row carries the gap.

    Raises:
        DataError: A target is missing from a frame, or the holdout has fewer than two
            classes of it.
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise DataError(f"unknown utility models {unknown}; choose from {list(MODELS)}")
    results: list[UtilityResult] = []
    for target in targets:
        for label, frame in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
            if target not in frame.columns:
                raise DataError(f"the {label} rows lack the target column", column=target)
        start = time.perf_counter()
        results.extend(
            _one_target(
                train, holdout, synthetic, columns, target, models, n_bootstrap, confidence, seed
            )
        )
        log.info(
            "utility %s: %d models scored in %.1fs",
            target,
            2 * len(models),
            time.perf_counter() - start,
        )
    return results


def _one_target(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: Sequence[ColumnSpec],
    target: str,
    models: Sequence[str],
    n_bootstrap: int,
    confidence: float,
    seed: int,
) -> list[UtilityResult]:
    features = _features(columns, target)
    test = holdout[pd.notna(holdout[target]).to_numpy()]
    y_test = _labels(test[target])
    classes = np.unique(y_test.astype(str))
    if len(classes) < 2:
        raise DataError(
            "the holdout holds fewer than two classes; no metric is defined", column=target
        )
    x_test = _design(test, features)
    fits = {}
    for train_on, frame in (("real", train), ("synthetic", synthetic)):
        rows = frame[pd.notna(frame[target]).to_numpy()]
        x, y = _design(rows, features), _labels(rows[target])
        for name in models:
            fits[(name, train_on)] = _fit(name, features, x, y, seed)
    rng = np.random.default_rng(seed)
    resamples = [rng.integers(len(test), size=len(test)) for _ in range(n_bootstrap)]
    alpha = (1 - confidence) / 2
    out = []
    for name in models:
        scores = {}
        for train_on in ("real", "synthetic"):
            metric, predicted = _scorer(classes, fits[(name, train_on)], x_test)
            scores[train_on] = predicted
        measure = _measure(metric, classes, y_test)
        point = {k: measure(v, np.arange(len(test))) for k, v in scores.items()}
        boot = np.array(
            [[measure(scores["real"], idx), measure(scores["synthetic"], idx)] for idx in resamples]
        )
        boot = boot[~np.isnan(boot).any(axis=1)]
        low = [float(v) for v in np.quantile(boot, alpha, axis=0)]
        high = [float(v) for v in np.quantile(boot, 1 - alpha, axis=0)]
        gaps = boot[:, 0] - boot[:, 1]
        out.append(UtilityResult(target, name, "real", metric, point["real"], low[0], high[0]))
        out.append(
            UtilityResult(
                target,
                name,
                "synthetic",
                metric,
                point["synthetic"],
                low[1],
                high[1],
                point["real"] - point["synthetic"],
                float(np.quantile(gaps, alpha)),
                float(np.quantile(gaps, 1 - alpha)),
            )
        )
    return out


def _measure(
    metric: str, classes: np.ndarray, y_test: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], float]:
    if metric == "auc":
        positive = y_test == classes[1]

        def auc(score: np.ndarray, idx: np.ndarray) -> float:
            return _auc(positive[idx], score[idx])

        return auc
    truth = y_test.astype(str)

    def macro_f1(predicted: np.ndarray, idx: np.ndarray) -> float:
        return float(
            f1_score(
                truth[idx],
                predicted[idx].astype(str),
                labels=classes,
                average="macro",
                zero_division=0,
            )
        )

    return macro_f1


def results_frame(results: Sequence[UtilityResult]) -> pd.DataFrame:
    """The results as a frame with the columns of ``evaluation.utility`` (less run_id)."""
    return pd.DataFrame([asdict(r) for r in results])


def write_utility(
    con: duckdb.DuckDBPyConnection, run_id: str, results: Sequence[UtilityResult]
) -> None:
    """Replace the run's rows of ``evaluation.utility`` with ``results``."""
    con.execute(UTILITY_DDL)
    con.execute("delete from evaluation.utility where run_id = ?", [run_id])
    rows = [[run_id, *(_plain(v) for v in asdict(r).values())] for r in results]
    if rows:
        con.executemany(
            "insert into evaluation.utility values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )


def _plain(value: object) -> object:
    return float(value) if isinstance(value, np.floating) else value


def evaluate_run_utility(
    con: duckdb.DuckDBPyConnection, cfg: DatasetConfig, run_id: str, *, synthetic: str
) -> list[UtilityResult]:
    """Read train, holdout and a synthetic table, score utility, store the rows.

    Args:
        con: An open, writable connection to the dataset's database.
        cfg: The dataset configuration (targets, seed from ``evaluation``).
        run_id: The run the results belong to.
        synthetic: The synthetic table, e.g. ``synthetic.persons__<run_id>``.
    """
    from synth.warehouse import quote_table

    settings = cfg.raw.get("evaluation") or {}
    train = con.execute(f"select * from {quote_table(cfg.mart.table + '_train')}").df()
    holdout = con.execute(f"select * from {quote_table(cfg.mart.table + '_holdout')}").df()
    syn = con.execute(f"select * from {quote_table(synthetic)}").df()
    results = evaluate_utility(
        train,
        holdout,
        syn,
        cfg.mart.columns,
        targets_from_config(cfg),
        n_bootstrap=int(settings.get("bootstrap", 200)),
        seed=int(settings.get("seed", 0)),
    )
    write_utility(con, run_id, results)
    return results
