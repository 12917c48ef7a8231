"""Quality control of sampled rows, with a real Gaussian copula fitted on real persons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from synth import quality
from synth.config import RecomputeConfig, RuleConfig, load_config
from synth.copula import GaussianCopula
from synth.errors import ConfigError, SynthError
from synth.schema import ColumnSpec
from tests.nafld_persons import load_persons

REPO = Path(__file__).resolve().parents[2]

SPECS = [
    ColumnSpec("person_id", "numeric", role="identifier"),
    ColumnSpec("age_years", "numeric", integer=True),
    ColumnSpec("sex", "categorical"),
    ColumnSpec("weight_kg", "numeric", decimals=1),
    ColumnSpec("height_cm", "numeric", decimals=1),
    ColumnSpec("bmi_kg_m2", "numeric", decimals=2),
    ColumnSpec("followup_days", "numeric", integer=True),
    ColumnSpec("is_dead", "categorical"),
]
MODELLED = [c.name for c in SPECS if not c.is_identifier]
FEMALE = RuleConfig("female", "sex = 'F'")
UNDER_60 = RuleConfig("under_60", "age_years < 60")


@pytest.fixture(scope="module")
def persons() -> pd.DataFrame:
    return load_persons(600)


@pytest.fixture(scope="module")
def model(persons: pd.DataFrame) -> GaussianCopula:
    return GaussianCopula(seed=1).fit(persons, SPECS)


def _write(tmp_path: Path, rules: object, section: str = "rules") -> Path:
    raw = yaml.safe_load((REPO / "configs" / "nafld.yml").read_text())
    raw[section] = rules
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("rules", "key", "match"),
    [
        ("age_years > 1", "rules", "must be a list"),
        ([{"sql": "age_years > 1"}], "rules[0].name", "naming the rule"),
        ([{"name": "a", "sql": "age_years > 1", "colour": "red"}], "rules[0].colour", "not a"),
        ([{"name": "a", "sql": "age_years > 1"}, {"name": "b"}], "rules[1].sql", "SQL"),
        (
            [{"name": "a", "sql": "age_years > 1"}, {"name": "b", "sql": "age_yeras > 1"}],
            "rules[1].sql",
            "not valid",
        ),
        ([{"name": "a", "sql": "age_years >> > 1"}], "rules[0].sql", "not valid"),
        ([{"name": "a", "sql": "person_id > 0"}], "rules[0].sql", "not valid"),
        ([{"name": "a", "sql": "age_years + 1"}], "rules[0].sql", "true or false"),
        ([{"name": "a", "sql": "true) as ok; select (1"}], "rules[0].sql", "one expression"),
        ([{"name": "exact_copy", "sql": "true"}], "rules[0].name", "reserved"),
        ([{"name": "a", "sql": "true"}, {"name": "a", "sql": "true"}], "rules[1].name", "twice"),
    ],
)
def test_rule_errors_name_the_key(tmp_path: Path, rules: object, key: str, match: str) -> None:
    # Setup
    path = _write(tmp_path, rules)

    # Run
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)

    # Assert
    assert info.value.key == key


def test_remove_exact_copies_must_be_true_or_false(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "configs" / "nafld.yml").read_text())
    raw["privacy"]["remove_exact_copies"] = "yes"
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "privacy.remove_exact_copies"


BMI = "weight_kg / (height_cm / 100) ^ 2"


@pytest.mark.parametrize(
    ("entries", "key", "match"),
    [
        ({"column": "bmi_kg_m2"}, "recompute", "must be a list"),
        ([["bmi_kg_m2", BMI]], "recompute[0]", "mapping"),
        ([{"column": "bmi_kg_m2", "sql": BMI, "colour": 1}], "recompute[0].colour", "not a"),
        ([{"column": "bmi", "sql": BMI}], "recompute[0].column", "numeric column"),
        ([{"column": "sex", "sql": "'F'"}], "recompute[0].column", "numeric column"),
        ([{"column": "person_id", "sql": "1"}], "recompute[0].column", "numeric column"),
        ([{"column": "bmi_kg_m2"}], "recompute[0].sql", "SQL number"),
        ([{"column": "bmi_kg_m2", "sql": "weight_kg / heigth_cm"}], "recompute[0].sql", "valid"),
        ([{"column": "bmi_kg_m2", "sql": "weight_kg > 1"}], "recompute[0].sql", "a number"),
        (
            [{"column": "bmi_kg_m2", "sql": BMI}, {"column": "bmi_kg_m2", "sql": "1.0"}],
            "recompute[1].column",
            "twice",
        ),
    ],
)
def test_recompute_errors_name_the_key(
    tmp_path: Path, entries: object, key: str, match: str
) -> None:
    # Setup
    path = _write(tmp_path, entries, section="recompute")

    # Run
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)

    # Assert
    assert info.value.key == key


def test_recomputed_takes_the_formula_rounded_bounded_and_keeps_nulls() -> None:
    # Setup: the third row lacks a height, the fourth gives a BMI above the upper bound.
    batch = pd.DataFrame(
        {
            "weight_kg": [70.0, 90.0, 80.0, 250.0],
            "height_cm": [175.0, 160.0, None, 120.0],
            "bmi_kg_m2": [30.0, 20.0, 26.5, 40.0],
            "age_years": pd.array([40, 50, 60, 70], dtype="Int64"),
            "followup_days": np.array([100, 200, 300, 400], dtype=np.int64),
        }
    )
    specs = {
        "bmi_kg_m2": ColumnSpec("bmi_kg_m2", "numeric", decimals=2, lower=12, upper=90),
        "age_years": ColumnSpec("age_years", "numeric", integer=True),
    }
    recompute = [
        RecomputeConfig("bmi_kg_m2", BMI),
        RecomputeConfig("age_years", "age_years / 3"),
        RecomputeConfig("followup_days", "height_cm * 2"),  # NULL where height is missing
    ]

    # Run
    with quality.RowChecker([], list(batch.columns), recompute=recompute, specs=specs) as rc:
        out = rc.recomputed(batch)

    # Assert
    assert out["bmi_kg_m2"].tolist() == [22.86, 35.16, 26.5, 90.0]
    assert out["age_years"].tolist() == [13, 17, 20, 23]
    assert out["age_years"].dtype == batch["age_years"].dtype
    assert out["followup_days"].tolist() == [350, 320, 300, 240]
    assert out["followup_days"].dtype == np.int64
    assert batch["bmi_kg_m2"].tolist() == [30.0, 20.0, 26.5, 40.0]  # the input is untouched


def test_a_formula_that_fails_on_rows_names_the_section(persons: pd.DataFrame) -> None:
    broken = [RecomputeConfig("bmi_kg_m2", "weight_kg / no_such_column")]
    with (
        quality.RowChecker([], MODELLED, recompute=broken) as checker,
        pytest.raises(SynthError, match=r"(?s)\['bmi_kg_m2'\].*recompute section"),
    ):
        checker.recomputed(persons)


def test_recompute_replaces_rejection_for_a_formula_rule(
    model: GaussianCopula, persons: pd.DataFrame
) -> None:
    # Setup: the copula does not know BMI = weight / height^2, so most rows break it.
    rule = RuleConfig(
        "bmi_consistent",
        f"bmi_kg_m2 is null or weight_kg is null or height_cm is null "
        f"or abs(bmi_kg_m2 - {BMI}) < 1.5",
    )
    common = {"seed": 3, "rules": [rule], "train": persons, "columns": SPECS}

    # Run
    rejected = quality.sample_checked(model, 300, **common)
    recomputed = quality.sample_checked(
        model, 300, **common, recompute=[RecomputeConfig("bmi_kg_m2", BMI)]
    )

    # Assert: without the formula, rows are rejected; with it, none, and BMI follows it.
    assert rejected.rejected["bmi_consistent"] > 100
    assert recomputed.rejected["bmi_consistent"] == 0 and recomputed.rounds == 1
    frame = recomputed.frame.dropna(subset=["weight_kg", "height_cm"])
    expected = (frame["weight_kg"] / (frame["height_cm"] / 100) ** 2).round(2)
    assert len(frame) > 100
    assert (frame["bmi_kg_m2"] - expected).abs().max() < 1e-9


def test_bundled_rules_load() -> None:
    nafld = load_config(REPO / "configs" / "nafld.yml")
    assert [r.name for r in nafld.rules] == ["bmi_consistent", "followup_not_negative", "adult_age"]
    assert [r.column for r in nafld.recompute] == ["bmi_kg_m2"]
    assert nafld.privacy.remove_exact_copies is True
    nhanes = load_config(REPO / "configs" / "nhanes.yml")
    assert nhanes.rules, "the NHANES configuration declares clinical rules"


def test_flags_count_each_rule_and_null_passes(persons: pd.DataFrame) -> None:
    # Setup: a rule over a column with missing values, and two that overlap.
    heavy = RuleConfig("heavy", "weight_kg > 70")
    rules = [heavy, FEMALE, UNDER_60]

    # Run
    with quality.RowChecker(rules, MODELLED) as checker:
        flags = checker.flags(persons)

    # Assert: NULL weight passes; counts match pandas row by row, overlaps included.
    assert persons["weight_kg"].isna().sum() > 50
    assert not flags.loc[persons["weight_kg"].isna(), "heavy"].any()
    assert flags["heavy"].tolist() == (persons["weight_kg"] <= 70).tolist()
    assert flags["female"].tolist() == (persons["sex"] == "M").tolist()
    assert flags["under_60"].tolist() == (persons["age_years"] >= 60).tolist()
    assert (flags["female"] & flags["under_60"]).sum() > 0
    assert not flags[quality.EXACT_COPY].any()


def test_resamples_until_n_rows_pass(model: GaussianCopula, persons: pd.DataFrame) -> None:
    # Run
    result = quality.sample_checked(
        model, 400, seed=5, rules=[FEMALE, UNDER_60], train=persons, columns=SPECS
    )
    again = quality.sample_checked(
        model, 400, seed=5, rules=[FEMALE, UNDER_60], train=persons, columns=SPECS
    )

    # Assert: exactly n rows, all passing; more drawn than kept; deterministic.
    frame = result.frame
    assert len(frame) == 400
    assert (frame["sex"] == "F").all() and (frame["age_years"] < 60).all()
    assert result.rounds > 1
    share_male = (persons["sex"] == "M").mean()
    assert result.rejected["female"] / result.rows_checked == pytest.approx(share_male, abs=0.08)
    # A rule's count holds only rows that were not kept.
    assert max(result.rejected.values()) <= result.rows_checked - len(frame)
    pd.testing.assert_frame_equal(frame, again.frame)


def test_no_rules_keeps_the_first_round_unchanged(model: GaussianCopula) -> None:
    result = quality.sample_checked(model, 200, seed=9, rules=[], train=None, columns=SPECS)
    assert result.rounds == 1 and result.rows_checked == 200
    pd.testing.assert_frame_equal(result.frame, model.sample(200, seed=9))


def _copies(frame: pd.DataFrame, train: pd.DataFrame, columns: list[str]) -> int:
    real = train[columns].drop_duplicates()
    return len(frame[columns].merge(real, on=columns, how="inner"))


def test_exact_copies_counted_or_removed(persons: pd.DataFrame) -> None:
    # Setup: few, coarse columns, so that many synthetic rows copy a real one.
    specs = [SPECS[0], SPECS[1], SPECS[2], SPECS[7]]
    columns = ["age_years", "sex", "is_dead"]
    coarse = GaussianCopula(seed=2).fit(persons, specs)

    # Run
    counted = quality.sample_checked(coarse, 300, seed=4, rules=[], train=persons, columns=specs)
    removed = quality.sample_checked(
        coarse, 300, seed=4, rules=[], train=persons, columns=specs, remove_exact_copies=True
    )

    # Assert: counted copies are the ones pandas finds; removal leaves none.
    found = _copies(counted.frame, persons, columns)
    assert found > 30
    assert counted.rejected[quality.EXACT_COPY] == found
    assert len(removed.frame) == 300
    assert _copies(removed.frame, persons, columns) == 0
    assert removed.rejected[quality.EXACT_COPY] >= found


def test_gives_up_after_bounded_rounds_naming_the_rule(model: GaussianCopula) -> None:
    impossible = RuleConfig("impossible_age", "age_years > 1000")
    with pytest.raises(SynthError, match="impossible_age") as info:
        quality.sample_checked(
            model, 50, seed=1, rules=[FEMALE, impossible], train=None, columns=SPECS, max_rounds=4
        )
    assert "after 4 rounds" in str(info.value)
