"""Attacks on real NAFLD persons: a copied train split leaks, independent persons do not."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from synth import attacks
from synth.attacks import AttackSettings, DistanceEncoder, run_attacks
from synth.config import load_config
from synth.errors import ConfigError
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
    ColumnSpec("is_dead", "categorical", "sensitive"),
]
SETTINGS = AttackSettings(n_attacks=600, min_attacks=100, seed=1)


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    persons = load_persons(4500)
    return {
        "train": persons.iloc[:1500].reset_index(drop=True),
        "holdout": persons.iloc[1500:3000].reset_index(drop=True),
        "others": persons.iloc[3000:].reset_index(drop=True),
    }


@pytest.fixture(scope="module")
def copied(splits: dict[str, pd.DataFrame]) -> dict[str, attacks.AttackResult]:
    results = run_attacks(
        splits["train"], splits["holdout"], splits["train"].copy(), COLUMNS, SETTINGS
    )
    return {r.attack: r for r in results}


@pytest.fixture(scope="module")
def independent(splits: dict[str, pd.DataFrame]) -> dict[str, attacks.AttackResult]:
    results = run_attacks(splits["train"], splits["holdout"], splits["others"], COLUMNS, SETTINGS)
    return {r.attack: r for r in results}


def test_run_attacks_copied_train_is_high_risk(copied):
    assert copied["singling_out_multivariate"].risk > 0.5
    assert copied["singling_out_univariate"].risk > 0.3
    assert copied["linkability"].risk > 0.5
    assert copied["attribute_inference"].risk > 0.5
    assert copied["membership_inference"].risk > 0.9
    for result in copied.values():
        assert result.status == "ok"
        assert result.n_attacks >= 100
        assert result.ci_low <= result.risk <= result.ci_high


def test_run_attacks_independent_persons_are_low_risk(independent):
    for name in ("singling_out_multivariate", "linkability", "attribute_inference"):
        assert independent[name].risk < 0.1, name
        # A rare secret (8% died) leaves the control little to gain: wider intervals.
        assert independent[name].ci_high < 0.3, name
    membership = independent["membership_inference"]
    assert 0.44 < membership.risk < 0.56
    assert membership.ci_low < 0.5 < membership.ci_high


def test_run_attacks_copy_beats_independent_on_every_attack(copied, independent):
    for name in copied:
        assert copied[name].risk > independent[name].risk, name


def test_run_attacks_too_few_attacks_is_insufficient_not_low(splits):
    settings = dataclasses.replace(SETTINGS, min_attacks=5000)
    results = run_attacks(splits["train"], splits["holdout"], splits["train"], COLUMNS, settings)
    assert {r.status for r in results} == {"insufficient"}
    assert all(r.risk is None and r.ci_high is None for r in results)
    assert all("fewer than min_attacks" in r.detail["reason"] for r in results)


def test_run_attacks_reports_attacks_built(copied):
    assert copied["linkability"].n_attacks == 600
    assert copied["membership_inference"].n_attacks == 3000
    assert copied["attribute_inference[is_dead]"].n_attacks == 600


def test_wilson_interval_matches_known_values():
    low, high = attacks.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3)
    assert high == pytest.approx(0.5962, abs=1e-3)
    low, high = attacks.wilson_interval(0, 20)
    assert low == 0.0
    assert high == pytest.approx(0.1611, abs=1e-3)


def test_attack_risk_scales_by_control():
    risk, low, high = attacks.attack_risk(80, 100, 0.5)
    assert risk == pytest.approx(0.6)
    assert low < risk < high
    assert attacks.attack_risk(30, 100, 0.5)[0] == 0.0


def test_auc_delong_matches_sklearn_and_covers_it():
    rng = np.random.default_rng(0)
    members, others = rng.normal(0.5, 1, 400), rng.normal(0, 1, 500)
    auc, low, high = attacks.auc_delong(members, others)
    labels = np.r_[np.ones(400), np.zeros(500)]
    assert auc == pytest.approx(roc_auc_score(labels, np.r_[members, others]))
    assert low < auc < high
    assert 0.03 < high - low < 0.15


def test_distance_encoder_matches_design_distance():
    specs = [ColumnSpec("a", "numeric"), ColumnSpec("c", "categorical")]
    real = pd.DataFrame({"a": [0.0, 10.0, np.nan], "c": ["x", "y", None]})
    enc = DistanceEncoder(specs, real, [])
    x = enc.transform(real)
    dist = np.abs(x[:, None, :] - x[None, :, :]).sum(axis=2)
    # rows 0-1: |0 - 10| / 10 = 1 and x != y = 1 -> mean 1; rows 0-2: missing number 1,
    # missing category 1 -> 1; a row against itself 0.
    assert dist[0, 1] == pytest.approx(1.0)
    assert dist[0, 2] == pytest.approx(1.0)
    assert np.diag(dist) == pytest.approx(0.0)
    half = enc.transform(pd.DataFrame({"a": [5.0], "c": ["x"]}))
    assert np.abs(half - x[0]).sum() == pytest.approx(0.25)


def test_settings_from_config_rejects_unknown_key():
    cfg = load_config(REPO / "configs" / "nafld.yml")
    raw = {**cfg.raw, "privacy": {**cfg.raw["privacy"], "attacks": {"n_attack": 5}}}
    with pytest.raises(ConfigError, match=r"privacy\.attacks\.n_attack"):
        AttackSettings.from_config(dataclasses.replace(cfg, raw=raw))
    raw["privacy"]["attacks"] = {"n_attacks": 300, "linkability_columns": [["a"], ["b"]]}
    settings = AttackSettings.from_config(dataclasses.replace(cfg, raw=raw))
    assert settings.n_attacks == 300
    assert settings.linkability_columns == (("a",), ("b",))


def test_write_attacks_replaces_run_rows(copied):
    con = duckdb.connect()
    attacks.write_attacks(con, "r1", list(copied.values()))
    attacks.write_attacks(con, "r1", list(copied.values()))
    rows = con.execute(
        "select count(*), count(distinct attack), max(risk) from evaluation.attacks "
        "where run_id = 'r1'"
    ).fetchone()
    con.close()
    assert rows[0] == len(copied)
    assert rows[1] == len(copied)
    assert rows[2] > 0.9
