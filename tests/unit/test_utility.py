"""Utility on real NAFLD persons: a copy keeps it, shuffled labels lose it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from synth import utility
from synth.config import load_config
from synth.errors import ConfigError, DataError
from synth.schema import ColumnSpec
from tests.nafld_persons import load_persons

REPO = Path(__file__).resolve().parents[2]

COLUMNS = [
    ColumnSpec("person_id", "numeric", "identifier", integer=True),
    ColumnSpec("age_years", "numeric", "quasi_identifier", integer=True),
    ColumnSpec("sex", "categorical", "quasi_identifier"),
    ColumnSpec("weight_kg", "numeric"),
    ColumnSpec("height_cm", "numeric"),
    ColumnSpec("bmi_kg_m2", "numeric"),
    ColumnSpec("followup_days", "numeric", integer=True),
    ColumnSpec("is_dead", "categorical", "target"),
]


@pytest.fixture(scope="module")
def splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    persons = load_persons(3000)
    return persons.iloc[:1500].reset_index(drop=True), persons.iloc[1500:].reset_index(drop=True)


def _by_key(results):
    return {(r.model, r.train_on): r for r in results}


def test_evaluate_utility_copy_has_no_gap(splits):
    train, holdout = splits
    results = _by_key(
        utility.evaluate_utility(
            train, holdout, train.copy(), COLUMNS, ["is_dead"], n_bootstrap=100
        )
    )
    for model in utility.MODELS:
        real, syn = results[(model, "real")], results[(model, "synthetic")]
        assert real.metric == "auc"
        assert real.value > 0.65  # age and follow-up predict death
        assert syn.gap == pytest.approx(0.0, abs=1e-9)
        assert syn.gap_ci_low <= 0.0 <= syn.gap_ci_high
        assert real.ci_low < real.value < real.ci_high


def test_evaluate_utility_shuffled_labels_open_a_gap(splits):
    train, holdout = splits
    broken = train.copy()
    broken["is_dead"] = broken["is_dead"].sample(frac=1, random_state=3).to_numpy()
    results = _by_key(
        utility.evaluate_utility(
            train,
            holdout,
            broken,
            COLUMNS,
            ["is_dead"],
            models=["gradient_boosting"],
            n_bootstrap=100,
        )
    )
    syn = results[("gradient_boosting", "synthetic")]
    assert syn.value < 0.65
    assert syn.gap > 0.15
    assert syn.gap_ci_low > 0.05
    assert syn.gap_ci_low < syn.gap < syn.gap_ci_high


def test_evaluate_utility_multiclass_uses_macro_f1(splits):
    train, holdout = (f.copy() for f in splits)
    for frame in (train, holdout):
        frame["age_band"] = pd.cut(
            frame["age_years"], [0, 45, 60, 200], labels=["young", "middle", "old"]
        ).astype(str)
    columns = [*COLUMNS, ColumnSpec("age_band", "categorical")]
    results = utility.evaluate_utility(
        train, holdout, train, columns, ["age_band"], models=["logistic_regression"], n_bootstrap=50
    )
    assert {r.metric for r in results} == {"macro_f1"}
    # age_years is among the features: the bands are almost perfectly recovered.
    assert results[0].value > 0.9


def test_evaluate_utility_one_class_synthetic_scores_chance(splits):
    train, holdout = splits
    constant = train.copy()
    constant["is_dead"] = False
    results = _by_key(
        utility.evaluate_utility(
            train,
            holdout,
            constant,
            COLUMNS,
            ["is_dead"],
            models=["logistic_regression"],
            n_bootstrap=50,
        )
    )
    assert results[("logistic_regression", "synthetic")].value == pytest.approx(0.5)


def test_evaluate_utility_missing_target_raises(splits):
    train, holdout = splits
    with pytest.raises(DataError, match="target"):
        utility.evaluate_utility(
            train, holdout, train.drop(columns="is_dead"), COLUMNS, ["is_dead"]
        )


def test_targets_from_config_reads_roles_and_evaluation_targets():
    cfg = load_config(REPO / "configs" / "nafld.yml")
    assert utility.targets_from_config(cfg) == ["is_dead", "has_diabetes"]
    by_role = dataclasses.replace(cfg, raw={k: v for k, v in cfg.raw.items() if k != "evaluation"})
    assert utility.targets_from_config(by_role) == ["is_dead"]
    listed = dataclasses.replace(
        cfg, raw={**cfg.raw, "evaluation": {"targets": ["is_dead", "has_diabetes"]}}
    )
    assert utility.targets_from_config(listed) == ["is_dead", "has_diabetes"]
    wrong = dataclasses.replace(cfg, raw={**cfg.raw, "evaluation": {"targets": ["nope"]}})
    with pytest.raises(ConfigError, match=r"evaluation.targets\[0\]"):
        utility.targets_from_config(wrong)


def test_write_utility_stores_rows(splits):
    train, holdout = splits
    results = utility.evaluate_utility(
        train, holdout, train, COLUMNS, ["is_dead"], models=["logistic_regression"], n_bootstrap=20
    )
    con = duckdb.connect()
    utility.write_utility(con, "r1", results)
    frame = con.execute("select * from evaluation.utility order by train_on").df()
    con.close()
    assert list(frame.columns) == [
        "run_id",
        "target",
        "model",
        "train_on",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "gap",
        "gap_ci_low",
        "gap_ci_high",
    ]
    assert list(frame["train_on"]) == ["real", "synthetic"]
    assert np.isnan(frame.loc[0, "gap"]) and frame.loc[1, "gap"] == pytest.approx(0.0)


def test_feature_missing_in_every_synthetic_row_is_left_out() -> None:
    # Setup: a synthetic table whose numeric feature is blank everywhere.
    rng = np.random.default_rng(0)
    n = 300
    real = pd.DataFrame(
        {"x": rng.normal(size=n), "z": rng.normal(size=n), "y": rng.integers(0, 2, n).astype(bool)}
    )
    synthetic = real.assign(x=np.nan)
    columns = [
        ColumnSpec("x", "numeric"),
        ColumnSpec("z", "numeric"),
        ColumnSpec("y", "categorical", role="target"),
    ]
    # Run
    results = utility.evaluate_utility(real, real, synthetic, columns, ["y"], n_bootstrap=10)
    # Assert: every model trained and scored.
    assert results
    assert all(r.value is not None for r in results)
