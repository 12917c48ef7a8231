"""The verdict: thresholds against measured values, and the privacy gate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from synth import verdict
from synth.attacks import AttackResult, write_attacks
from synth.config import load_config
from synth.errors import ConfigError, PrivacyCheckFailed
from synth.verdict import Thresholds, enforce_privacy, judge

REPO = Path(__file__).resolve().parents[2]

GOOD_SUMMARY = {
    "dcr_share": 0.81,
    "dcr_share_ideal": 0.80,
    "exact_copies": 0,
    "shape_score": 0.95,
    "trend_score": 0.93,
}


def _attacks(risk_high: float = 0.04, auc: float = 0.52, status: str = "ok") -> pd.DataFrame:
    rows = [
        {
            "attack": name,
            "n_attacks": 1000,
            "risk": risk_high / 2,
            "ci_high": risk_high,
            "status": status,
        }
        for name in verdict.CHECKED_ATTACKS
    ]
    rows.append(
        {
            "attack": "attribute_inference[has_stroke]",
            "n_attacks": 1000,
            "risk": 0.5,
            "ci_high": 0.9,
            "status": "ok",
        }
    )
    rows.append(
        {
            "attack": "membership_inference",
            "n_attacks": 2000,
            "risk": auc,
            "ci_high": auc + 0.02,
            "status": "ok",
        }
    )
    return pd.DataFrame(rows)


def _utility(gap: float = 0.02) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "target": "is_dead",
                "model": "gradient_boosting",
                "train_on": "real",
                "metric": "auc",
                "gap": None,
            },
            {
                "target": "is_dead",
                "model": "gradient_boosting",
                "train_on": "synthetic",
                "metric": "auc",
                "gap": gap,
            },
        ]
    )


def _by_name(checks):
    return {c.check_name: c for c in checks}


def test_judge_all_good_passes_and_enforce_is_silent():
    checks = judge(GOOD_SUMMARY, _attacks(), _utility(), Thresholds())
    assert all(c.passed for c in checks)
    assert {c.kind for c in checks} == {"privacy", "fidelity", "utility"}
    # the per-secret row with its wide interval is shown, not checked
    assert "attribute_inference[has_stroke]_risk" not in _by_name(checks)
    enforce_privacy(checks)


@pytest.mark.parametrize(
    ("summary", "attacks", "failed"),
    [
        ({**GOOD_SUMMARY, "dcr_share": 0.90}, _attacks(), "dcr_share_deviation"),
        ({**GOOD_SUMMARY, "exact_copies": 3}, _attacks(), "exact_copies"),
        (GOOD_SUMMARY, _attacks(auc=0.61), "membership_auc"),
        (GOOD_SUMMARY, _attacks(risk_high=0.12), "linkability_risk"),
        (GOOD_SUMMARY, _attacks(status="insufficient"), "singling_out_multivariate_risk"),
    ],
)
def test_judge_failing_privacy_check_raises(summary, attacks, failed):
    checks = _by_name(judge(summary, attacks, _utility(), Thresholds()))
    assert checks[failed].passed is False
    with pytest.raises(PrivacyCheckFailed, match=failed):
        enforce_privacy(list(checks.values()))


def test_judge_dcr_deviation_value_and_threshold():
    check = _by_name(
        judge(
            {**GOOD_SUMMARY, "dcr_share": 0.86},
            _attacks(),
            _utility(),
            Thresholds(dcr_share_tolerance=0.05),
        )
    )["dcr_share_deviation"]
    assert check.value == pytest.approx(0.06)
    assert check.threshold == 0.05
    assert check.passed is False


def test_judge_missing_evidence_fails_privacy_but_not_fidelity():
    checks = _by_name(judge({}, pd.DataFrame(), pd.DataFrame(), Thresholds()))
    assert checks["dcr_share_deviation"].passed is False
    assert checks["membership_auc"].passed is False
    assert checks["shape_score"].passed is None
    assert checks["utility_gap"].passed is None
    with pytest.raises(PrivacyCheckFailed, match="not measured"):
        enforce_privacy(list(checks.values()))


def test_judge_utility_and_fidelity_fail_without_raising():
    checks = judge(
        {**GOOD_SUMMARY, "shape_score": 0.7}, _attacks(), _utility(gap=0.2), Thresholds()
    )
    by_name = _by_name(checks)
    assert by_name["shape_score"].passed is False
    assert by_name["utility_gap[is_dead/gradient_boosting]"].passed is False
    enforce_privacy(checks)


def test_thresholds_from_config_reads_new_keys():
    cfg = load_config(REPO / "configs" / "nafld.yml")
    raw = {
        **cfg.raw,
        "privacy": {**cfg.raw["privacy"], "max_membership_auc": 0.55},
        "evaluation": {"max_utility_gap": 0.2},
    }
    thresholds = Thresholds.from_config(dataclasses.replace(cfg, raw=raw))
    assert thresholds.max_membership_auc == 0.55
    assert thresholds.max_utility_gap == 0.2
    assert thresholds.dcr_share_tolerance == cfg.privacy.dcr_share_tolerance
    raw["privacy"]["max_attack_risk"] = "low"
    with pytest.raises(ConfigError, match=r"privacy\.max_attack_risk"):
        Thresholds.from_config(dataclasses.replace(cfg, raw=raw))


def test_run_verdict_reads_tables_and_writes_verdict():
    cfg = load_config(REPO / "configs" / "nafld.yml")
    con = duckdb.connect()
    con.execute("create schema evaluation")
    con.execute(
        "create table evaluation.summary (run_id varchar, metric varchar, "
        "value double, reason varchar)"
    )
    con.executemany(
        "insert into evaluation.summary values ('r1', ?, ?, null)",
        [[k, v] for k, v in GOOD_SUMMARY.items()],
    )
    results = [
        AttackResult(
            r["attack"], r["n_attacks"], r["risk"], 0.0, r["ci_high"], 0.5, 0.5, 0.1, r["status"]
        )
        for r in _attacks(auc=0.75).to_dict("records")
    ]
    write_attacks(con, "r1", results)
    checks = verdict.run_verdict(con, cfg, "r1")
    stored = con.execute(
        "select check_name, kind, value, threshold, passed from "
        "evaluation.verdict where run_id = 'r1'"
    ).df()
    con.close()
    assert len(stored) == len(checks)
    row = stored.set_index("check_name").loc["membership_auc"]
    assert row["value"] == pytest.approx(0.75)
    assert row["threshold"] == pytest.approx(0.6)
    assert not row["passed"]
