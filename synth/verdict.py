"""The verdict on a run: each check's measured value against its configured threshold.

Privacy checks come from ``evaluation.summary`` (DCR share, exact copies) and
``evaluation.attacks``; fidelity checks from ``evaluation.summary`` (shape and trend
scores); utility checks from ``evaluation.utility``. A privacy check whose evidence is
missing fails: privacy has to be shown, not assumed. A fidelity or utility check whose
evidence is missing is recorded with ``passed`` empty (not measured).

Thresholds, with their defaults:

- ``privacy.dcr_share_tolerance`` (0.05): the balanced DCR share lies within 0.5 +/- this;
- ``privacy.max_exact_copies`` (0): synthetic rows that copy a training row;
- ``privacy.max_membership_auc`` (0.6): membership-inference AUC, point value, below this;
- ``privacy.max_attack_risk`` (0.1): upper interval bound of each anonymeter risk
  (singling out, linkability, attribute inference pooled over secrets), below this;
- ``evaluation.min_shape_score`` (0.85), ``evaluation.min_trend_score`` (0.85);
- ``evaluation.max_utility_gap`` (0.1): real minus synthetic, per target and model.

Example:
    >>> checks = run_verdict(con, cfg, run_id)  # doctest: +SKIP
    >>> enforce_privacy(checks)  # raises PrivacyCheckFailed if one failed  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import duckdb
import pandas as pd

from synth.attacks import MEMBERSHIP
from synth.config import DatasetConfig
from synth.errors import ConfigError, PrivacyCheckFailed

log = logging.getLogger(__name__)

VERDICT_DDL = """
create schema if not exists evaluation;
create table if not exists evaluation.verdict (
    run_id varchar not null,
    check_name varchar not null,
    kind varchar not null,
    value double,
    threshold double,
    passed boolean,
    detail varchar
);
"""

# Attacks whose upper risk bound is checked; per-secret attribute-inference rows are
# shown in the report but not checked one by one: for a rare secret the control guesses
# almost always right and the risk's interval spans most of [0, 1] whatever the data.
CHECKED_ATTACKS = (
    "singling_out_univariate",
    "singling_out_multivariate",
    "linkability",
    "attribute_inference",
)

# Names of the rows of evaluation.summary that the checks read.
SUMMARY_DCR_SHARE = "dcr_share"
SUMMARY_DCR_IDEAL = "dcr_share_ideal"
# Against an equal-size sample of the train split, so that the ideal share is 0.5.
SUMMARY_DCR_BALANCED = "dcr_share_balanced"
SUMMARY_EXACT_COPIES = "exact_copies"
SUMMARY_SHAPE = "shape_score"
SUMMARY_TREND = "trend_score"


@dataclass(frozen=True)
class Thresholds:
    """Limits a run must meet; see the module docstring for the configuration keys."""

    dcr_share_tolerance: float = 0.05  # allowed distance of the DCR share from its ideal
    max_exact_copies: int = 0  # synthetic rows allowed to copy a training row
    max_membership_auc: float = 0.6  # membership AUC must stay below (0.5: no leak)
    max_attack_risk: float = 0.1  # upper CI bound of each anonymeter risk, below this
    min_shape_score: float = 0.85  # mean column-shape score, at least
    min_trend_score: float = 0.85  # mean pair-trend score, at least
    max_utility_gap: float = 0.1  # real minus synthetic score, at most

    @classmethod
    def from_config(cls, cfg: DatasetConfig) -> Thresholds:
        """Read the thresholds from ``privacy`` and ``evaluation`` of a configuration.

        Raises:
            ConfigError: A threshold is not a number or out of its range.
        """
        privacy = cfg.raw.get("privacy") or {}
        evaluation = cfg.raw.get("evaluation") or {}
        values = {
            "dcr_share_tolerance": cfg.privacy.dcr_share_tolerance,
            "max_exact_copies": cfg.privacy.max_exact_copies,
        }
        for section, raw, keys in (
            ("privacy", privacy, ("max_membership_auc", "max_attack_risk")),
            ("evaluation", evaluation, ("min_shape_score", "min_trend_score", "max_utility_gap")),
        ):
            for key in keys:
                if key not in raw:
                    continue
                value = raw[key]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigError(
                        f"{section}.{key}", f"must be a number, got {value!r}", str(cfg.path)
                    )
                if not 0 <= value <= 1:
                    raise ConfigError(
                        f"{section}.{key}", f"must lie in [0, 1], got {value}", str(cfg.path)
                    )
                values[key] = float(value)
        return cls(**values)


@dataclass
class Check:
    """One check of the verdict, as one row of ``evaluation.verdict``."""

    check_name: str
    kind: str  # "privacy", "fidelity" or "utility"
    value: float | None
    threshold: float
    passed: bool | None  # None: not measured (fidelity and utility only)
    detail: str = ""


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def judge(
    summary: Mapping[str, float | None],
    attacks: pd.DataFrame,
    utility: pd.DataFrame,
    thresholds: Thresholds,
) -> list[Check]:
    """Compare measured values with thresholds.

    Args:
        summary: Metric name to value, as in ``evaluation.summary``.
        attacks: Rows as in ``evaluation.attacks`` (attack, risk, ci_high, status, ...).
        utility: Rows as in ``evaluation.utility`` (target, model, train_on, gap, ...).
        thresholds: The limits.

    Returns:
        Privacy checks first, then fidelity, then utility.
    """
    checks = _privacy_summary_checks(summary, thresholds)
    checks += _attack_checks(attacks, thresholds)
    for name, key, minimum in (
        ("shape_score", SUMMARY_SHAPE, thresholds.min_shape_score),
        ("trend_score", SUMMARY_TREND, thresholds.min_trend_score),
    ):
        value = _number(summary.get(key))
        passed = None if value is None else value >= minimum
        checks.append(
            Check(
                name,
                "fidelity",
                value,
                minimum,
                passed,
                "not measured" if value is None else f"at least {minimum}",
            )
        )
    checks += _utility_checks(utility, thresholds)
    return checks


def _privacy_summary_checks(
    summary: Mapping[str, float | None], thresholds: Thresholds
) -> list[Check]:
    # The balanced share (train cut to the holdout's size, ideal 0.5) is judged when it
    # was measured; the full-train share against its own ideal otherwise.
    share, ideal = _number(summary.get(SUMMARY_DCR_BALANCED)), 0.5
    if share is None:
        share = _number(summary.get(SUMMARY_DCR_SHARE))
        ideal = _number(summary.get(SUMMARY_DCR_IDEAL))
    tol = thresholds.dcr_share_tolerance
    if share is None or ideal is None:
        dcr = Check(
            "dcr_share_deviation",
            "privacy",
            None,
            tol,
            False,
            "not measured: evaluation.summary lacks dcr_share or dcr_share_ideal",
        )
    else:
        deviation = abs(share - ideal)
        dcr = Check(
            "dcr_share_deviation",
            "privacy",
            deviation,
            tol,
            deviation <= tol,
            f"DCR share {share:.3f} against ideal {ideal:.3f}; at most {tol} apart",
        )
    copies = _number(summary.get(SUMMARY_EXACT_COPIES))
    limit = float(thresholds.max_exact_copies)
    if copies is None:
        exact = Check(
            "exact_copies",
            "privacy",
            None,
            limit,
            False,
            "not measured: evaluation.summary lacks exact_copies",
        )
    else:
        exact = Check(
            "exact_copies",
            "privacy",
            copies,
            limit,
            copies <= limit,
            f"synthetic rows equal to a training row; at most {limit:g}",
        )
    return [dcr, exact]


def _attack_checks(attacks: pd.DataFrame, thresholds: Thresholds) -> list[Check]:
    rows = {str(r["attack"]): r for r in attacks.to_dict("records")} if len(attacks) else {}
    checks = []
    for attack in (*CHECKED_ATTACKS, MEMBERSHIP):
        membership = attack == MEMBERSHIP
        limit = thresholds.max_membership_auc if membership else thresholds.max_attack_risk
        name = "membership_auc" if membership else f"{attack}_risk"
        row = rows.get(attack)
        if row is None:
            checks.append(Check(name, "privacy", None, limit, False, "not measured"))
            continue
        if row["status"] != "ok":
            checks.append(
                Check(
                    name,
                    "privacy",
                    None,
                    limit,
                    False,
                    f"status {row['status']}: {int(row['n_attacks'])} attacks "
                    "built, too few to measure a risk",
                )
            )
            continue
        value = _number(row["risk"] if membership else row["ci_high"])
        what = "AUC" if membership else "upper bound of the risk interval"
        checks.append(
            Check(
                name,
                "privacy",
                value,
                limit,
                value is not None and value < limit,
                f"{what} over {int(row['n_attacks'])} attacks; below {limit}",
            )
        )
    return checks


def _utility_checks(utility: pd.DataFrame, thresholds: Thresholds) -> list[Check]:
    limit = thresholds.max_utility_gap
    rows = utility[utility["train_on"] == "synthetic"] if len(utility) else utility
    if not len(rows):
        return [Check("utility_gap", "utility", None, limit, None, "not measured")]
    checks = []
    for r in rows.to_dict("records"):
        gap = _number(r["gap"])
        checks.append(
            Check(
                f"utility_gap[{r['target']}/{r['model']}]",
                "utility",
                gap,
                limit,
                None if gap is None else gap <= limit,
                f"{r['metric']} real minus synthetic; at most {limit}",
            )
        )
    return checks


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    found = con.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return found is not None


def read_evaluation(con: duckdb.DuckDBPyConnection, table: str, run_id: str) -> pd.DataFrame:
    """A run's rows of ``evaluation.<table>``; an empty frame if the table is absent."""
    if not _table_exists(con, "evaluation", table):
        return pd.DataFrame()
    return con.execute(f'select * from evaluation."{table}" where run_id = ?', [run_id]).df()


def run_verdict(
    con: duckdb.DuckDBPyConnection,
    cfg: DatasetConfig,
    run_id: str,
    thresholds: Thresholds | None = None,
) -> list[Check]:
    """Judge a run from its evaluation tables and store ``evaluation.verdict``.

    Args:
        con: An open, writable connection to the dataset's database.
        cfg: The dataset configuration (thresholds).
        run_id: The run to judge.
        thresholds: Overrides the configuration's thresholds.
    """
    thresholds = thresholds or Thresholds.from_config(cfg)
    summary_rows = read_evaluation(con, "summary", run_id)
    summary = (
        dict(zip(summary_rows["metric"], summary_rows["value"], strict=True))
        if len(summary_rows)
        else {}
    )
    checks = judge(
        summary,
        read_evaluation(con, "attacks", run_id),
        read_evaluation(con, "utility", run_id),
        thresholds,
    )
    write_verdict(con, run_id, checks)
    failed = [c.check_name for c in checks if c.passed is False]
    log.info(
        "verdict for run %s: %d checks, %d failed%s",
        run_id,
        len(checks),
        len(failed),
        f" ({', '.join(failed)})" if failed else "",
    )
    return checks


def write_verdict(con: duckdb.DuckDBPyConnection, run_id: str, checks: Sequence[Check]) -> None:
    """Replace the run's rows of ``evaluation.verdict`` with ``checks``."""
    con.execute(VERDICT_DDL)
    con.execute("delete from evaluation.verdict where run_id = ?", [run_id])
    if checks:
        con.executemany(
            "insert into evaluation.verdict values (?, ?, ?, ?, ?, ?, ?)",
            [
                [run_id, c.check_name, c.kind, c.value, c.threshold, c.passed, c.detail]
                for c in checks
            ],
        )


def checks_frame(checks: Sequence[Check]) -> pd.DataFrame:
    """The checks as a frame with the columns of ``evaluation.verdict`` (less run_id)."""
    return pd.DataFrame([asdict(c) for c in checks])


def enforce_privacy(checks: Sequence[Check]) -> None:
    """Raise if any privacy check failed or could not be measured.

    Raises:
        PrivacyCheckFailed: Names each failed check with its value and threshold.
    """
    failed = [c for c in checks if c.kind == "privacy" and not c.passed]
    if failed:
        parts = "; ".join(
            f"{c.check_name} = {'not measured' if c.value is None else f'{c.value:.4g}'} "
            f"(threshold {c.threshold:g})"
            for c in failed
        )
        raise PrivacyCheckFailed(
            f"The synthetic table failed {len(failed)} privacy check(s): {parts}. Do not "
            "release it; retrain with stronger regularisation or fewer epochs, or review "
            "the thresholds under privacy: in the configuration."
        )
