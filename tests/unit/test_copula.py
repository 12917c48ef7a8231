import numpy as np
import pandas as pd
import pytest

from synth.copula import GaussianCopula
from synth.errors import ConfigError, NotFittedError
from synth.schema import ColumnSpec


def _frame(rows=2000, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, rows)
    return pd.DataFrame(
        {
            "person_id": np.arange(rows),
            "age": age,
            "sbp": np.round(100 + 0.6 * age + rng.normal(0, 6, rows)),
            "sex": rng.choice(["F", "M"], rows),
            "old": age > 60,
        }
    )


SPECS = [
    ColumnSpec("person_id", "numeric", role="identifier"),
    ColumnSpec("age", "numeric", integer=True),
    ColumnSpec("sbp", "numeric"),
    ColumnSpec("sex", "categorical"),
    ColumnSpec("old", "categorical"),
]


def test_copula_keeps_marginals_and_correlation(tmp_path):
    # Setup
    frame = _frame()

    # Run
    model = GaussianCopula(seed=1).fit(frame, SPECS)
    synthetic = model.sample(2000, seed=2)

    # Assert
    assert synthetic.dtypes.to_dict() == frame.drop(columns="person_id").dtypes.to_dict()
    real_corr = frame["age"].corr(frame["sbp"])
    assert synthetic["age"].corr(synthetic["sbp"]) == pytest.approx(real_corr, abs=0.1)
    assert synthetic["old"].mean() == pytest.approx(frame["old"].mean(), abs=0.05)
    assert (synthetic.loc[synthetic["old"], "age"] > 50).mean() > 0.65  # independent: ~0.5
    model.save(tmp_path / "copula.pt")
    again = GaussianCopula.load(tmp_path / "copula.pt").sample(100, seed=3)
    pd.testing.assert_frame_equal(again, model.sample(100, seed=3))


def test_copula_config_and_unfitted_errors():
    assert GaussianCopula.from_dict({"seed": 4}).seed == 4
    with pytest.raises(ConfigError, match=r"generator\.vae"):
        GaussianCopula.from_dict({"vae": {}})
    with pytest.raises(ConfigError, match=r"generator\.encoding\.noise"):
        GaussianCopula.from_dict({"encoding": {"noise": 1}})
    with pytest.raises(NotFittedError):
        GaussianCopula().sample(3)
