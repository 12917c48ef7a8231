"""The shared bad-input cases (c01-c08, c12) against both generators, with real training."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth.copula import GaussianCopula
from synth.errors import DataError
from synth.schema import ColumnSpec
from synth.tabsyn import TabSyn, TabSynConfig

CASES = Path("/work/shared/cases")
if not CASES.exists():
    CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"
pytestmark = pytest.mark.skipif(not CASES.exists(), reason="shared case files not present")

ID = ColumnSpec("person_id", "numeric", role="identifier", integer=True)


def _load(name: str, tile: int = 50) -> pd.DataFrame:
    frame = pd.read_csv(CASES / name)
    return pd.concat([frame] * tile, ignore_index=True)


def _tabsyn(frame, specs, seed=0):
    config = TabSynConfig.from_dict({"profile": "fast", "seed": seed, "threads": 1})
    return TabSyn(config).fit(frame, specs)


def _both(frame, specs):
    return [_tabsyn(frame, specs), GaussianCopula(seed=0).fit(frame, specs)]


def test_c01_blanks_in_numeric_and_coded_categorical():
    # Setup
    frame = _load("c01_missing_everywhere.csv")
    specs = [
        ID,
        ColumnSpec("sex", "categorical"),
        ColumnSpec("smoker_code", "categorical"),
        ColumnSpec("hba1c", "numeric"),
    ]

    models = _both(frame, specs)
    for model in models:
        # Run
        synthetic = model.sample(600, seed=3)

        # Assert
        assert list(synthetic.columns) == ["sex", "smoker_code", "hba1c"]
        assert synthetic.dtypes.to_dict() == frame.drop(columns="person_id").dtypes.to_dict()
        assert set(synthetic["smoker_code"].dropna()) <= {0.0, 1.0}
        assert synthetic["smoker_code"].isna().mean() == pytest.approx(1 / 3, abs=0.15)
        assert synthetic["hba1c"].isna().mean() == pytest.approx(1 / 6, abs=0.12)
    report = models[0].fit_report
    assert np.isfinite(report["vae"]["train_loss"]) and np.isfinite(
        report["diffusion"]["train_loss"]
    )


def test_c02_only_categorical_columns_train():
    # Setup
    frame = _load("c02_only_categorical.csv")
    specs = [ID, *(ColumnSpec(c, "categorical") for c in ["sex", "diabetes", "region"])]

    for model in _both(frame, specs):
        # Run
        synthetic = model.sample(200, seed=1)

        # Assert
        assert set(synthetic["diabetes"]) <= {"yes", "no"}
        assert synthetic.notna().all().all()
        assert synthetic["sex"].dtype == frame["sex"].dtype


def test_c03_blank_category_is_one_level():
    # Setup
    frame = _load("c03_blank_category.csv")
    specs = [ID, ColumnSpec("blood_group", "categorical")]

    for model in _both(frame, specs):
        # Run
        synthetic = model.sample(600, seed=2)

        # Assert
        assert set(synthetic["blood_group"].dropna()) <= {"A", "B"}
        assert synthetic["blood_group"].isna().mean() == pytest.approx(0.6, abs=0.12)


def test_c04_half_missing_numeric_has_no_spike_at_the_mean():
    # Setup
    frame = _load("c04_numeric_half_missing.csv")
    specs = [ID, ColumnSpec("ldl", "numeric")]

    for model in _both(frame, specs):
        # Run
        synthetic = model.sample(600, seed=4)

        # Assert
        assert synthetic["ldl"].isna().mean() == pytest.approx(0.5, abs=0.12)
        observed = synthetic["ldl"].dropna()
        mean = frame["ldl"].mean()
        assert (np.abs(observed - mean) < 0.05).mean() < 0.2
        assert observed.between(2.4, 4.0).all()


def test_c05_integers_stay_integers_and_decimals_are_kept():
    # Setup
    frame = _load("c05_integers_and_decimals.csv")
    frame["age"] = frame["age"].astype("Int64")
    frame["n_visits"] = frame["n_visits"].astype("Int64")
    specs = [
        ID,
        ColumnSpec("age", "numeric", integer=True),
        ColumnSpec("n_visits", "numeric", integer=True),
        ColumnSpec("bmi", "numeric"),
    ]

    for model in _both(frame, specs):
        # Run
        synthetic = model.sample(400, seed=5)

        # Assert
        assert synthetic["age"].dtype == "Int64" and synthetic["n_visits"].dtype == "Int64"
        assert synthetic["n_visits"].isna().any() and synthetic["n_visits"].notna().any()
        bmi = synthetic["bmi"].dropna().to_numpy()
        assert np.allclose(bmi, np.round(bmi, 2)) and not np.allclose(bmi, np.round(bmi, 1))


def test_c06_values_stay_inside_bounds_and_clipping_is_counted():
    # Setup: the count's declared upper bound (2) is below one real value (3)
    frame = _load("c06_bounded_counts.csv")
    specs = [
        ID,
        ColumnSpec("visit_month", "numeric", integer=True, lower=1, upper=12),
        ColumnSpec("visit_day", "numeric", integer=True, lower=1, upper=31),
        ColumnSpec("n_prescriptions", "numeric", integer=True, lower=0, upper=2),
    ]

    for model in _both(frame, specs):
        # Run
        synthetic = model.sample(500, seed=6)

        # Assert
        assert synthetic["visit_month"].between(1, 12).all()
        assert synthetic["visit_day"].between(1, 31).all()
        assert synthetic["n_prescriptions"].between(0, 2).all()
        assert synthetic.dtypes.eq("int64").all()
        assert model.fit_report["clip_policy"] == "clip"
        assert model.fit_report["encoding"]["out_of_bounds_in_training"] == {"n_prescriptions": 50}
        assert model.sample_report["clipped"]["n_prescriptions"] > 0


def test_c07_zero_share_and_tail_survive():
    # Setup
    frame = _load("c07_zero_inflated_tail.csv")
    specs = [ID, ColumnSpec("alcohol_units", "numeric")]

    for model in _both(frame, specs):
        # Run
        units = model.sample(1000, seed=7)["alcohol_units"]

        # Assert
        assert (units == 0).mean() == pytest.approx(0.7, abs=0.12)
        assert units.max() >= 20 and units.quantile(0.97) >= 10
        assert units.max() <= 35


def test_c08_near_unique_code_is_grouped_before_training(caplog):
    # Setup: one practice code per row, a common diagnosis code beside it
    frame = _load("c08_identifier_like.csv", tile=100)
    frame["gp_practice_code"] = [f"P{i:05d}" for i in range(len(frame))]
    specs = [
        ID,
        ColumnSpec("gp_practice_code", "categorical"),
        ColumnSpec("icd10_code", "categorical"),
    ]

    # Run
    with caplog.at_level(logging.WARNING):
        model = _tabsyn(frame, specs)
    synthetic = model.sample(200, seed=8)

    # Assert
    assert "gp_practice_code" in caplog.text
    assert set(synthetic["gp_practice_code"]) == {"other"}
    assert set(synthetic["icd10_code"]) <= {"E11.9", "I10", "J45"}
    assert model.fit_report["encoding"]["grouped"]["gp_practice_code"]["levels"] == 400


def test_c12_constant_and_all_blank_columns_pass_through(caplog):
    # Setup
    frame = _load("c12_constant_and_empty.csv")
    specs = [
        ID,
        ColumnSpec("country", "categorical"),
        ColumnSpec("troponin", "numeric"),
        ColumnSpec("age", "numeric", integer=True),
    ]

    with caplog.at_level(logging.INFO):
        models = _both(frame, specs)
    for model in models:
        # Run
        synthetic = model.sample(100, seed=9)

        # Assert
        assert (synthetic["country"] == "NL").all()
        assert synthetic["troponin"].isna().all()
        assert synthetic["age"].between(40, 62).all()
    assert "'country'" in caplog.text and "'troponin'" in caplog.text


def test_tiny_tables_warn_but_work_and_one_row_is_refused(caplog):
    # Setup
    frame = pd.read_csv(CASES / "c05_integers_and_decimals.csv")
    specs = [ID, ColumnSpec("age", "numeric", integer=True), ColumnSpec("bmi", "numeric")]

    # Run
    with caplog.at_level(logging.WARNING):
        synthetic = _tabsyn(frame, specs).sample(20, seed=1)

    # Assert
    assert "only 4 rows" in caplog.text
    assert len(synthetic) == 20 and synthetic["age"].between(34, 67).all()
    with pytest.raises(DataError, match="at least 2"):
        _tabsyn(frame.head(1), specs)
