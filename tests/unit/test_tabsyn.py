import logging

import numpy as np
import pandas as pd
import pytest
import torch

from synth.errors import ConfigError, DataError, NotFittedError, TrainingError
from synth.schema import ColumnSpec
from synth.tabsyn import TabSyn, TabSynConfig
from synth.tabsyn.config import CorrDstConfig, DiffusionConfig
from synth.tabsyn.corrdst import corr_loss, dst_loss, moments
from synth.tabsyn.diffusion import EDM, noise_levels, train_diffusion


def _frame(rows=240, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, rows)
    weight = np.round(50 + 0.4 * age + rng.normal(0, 8, rows), 1)
    weight[rng.random(rows) < 0.3] = np.nan
    return pd.DataFrame(
        {
            "person_id": np.arange(rows),
            "age": age,
            "weight": weight,
            "sex": pd.array(rng.choice(["F", "M"], rows), dtype="str"),
            "diabetes": age + rng.normal(0, 10, rows) > 65,
            "ignored": rng.random(rows),
        }
    )


SPECS = [
    ColumnSpec("person_id", "numeric", role="identifier"),
    ColumnSpec("age", "numeric", integer=True),
    ColumnSpec("weight", "numeric", decimals=1),
    ColumnSpec("sex", "categorical"),
    ColumnSpec("diabetes", "categorical"),
]


def _config(**extra):
    return TabSynConfig.from_dict({"profile": "fast", "threads": 1, **extra})


@pytest.fixture(scope="module")
def fitted():
    return TabSyn(_config(seed=3)).fit(_frame(), SPECS)


def test_config_defaults_and_profile():
    # Run
    default = TabSynConfig.from_dict({})
    fast = TabSynConfig.from_dict({"profile": "fast", "vae": {"epochs": 3}}, key="gen")

    # Assert
    assert default.vae.lr == 3e-3 and default.vae.batch_size == 1024
    assert default.vae.token_dim == 4 and default.sampling.steps == 10
    assert default.sampling.categorical == "sample" and default.sampling.match_marginals
    assert default.device == "auto" and default.threads >= 1
    assert default.diffusion.schedule == "cosine" and default.diffusion.width == 384
    assert fast.vae.epochs == 3 and fast.diffusion.width == 64
    assert TabSynConfig.from_dict(default.to_dict()) == default


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"vae": {"epoch": 3}}, "generator.vae.epoch"),
        ({"vae": {"epochs": "many"}}, "generator.vae.epochs"),
        ({"vae": {"epochs": True}}, "generator.vae.epochs"),
        ({"diffusion": {"lr": -1.0}}, "generator.diffusion.lr"),
        ({"corrdst": {"moments": 7}}, "generator.corrdst.moments"),
        ({"sampling": 5}, "generator.sampling"),
        ({"diffusion": {"schedule": "linear"}}, "generator.diffusion.schedule"),
        ({"profile": "huge"}, "generator.profile"),
        ({"colour": "red"}, "generator.colour"),
    ],
)
def test_config_errors_name_the_full_key(mapping, key):
    with pytest.raises(ConfigError) as caught:
        TabSynConfig.from_dict(mapping)
    assert caught.value.key == key


def test_sample_has_spec_columns_and_input_dtypes(fitted):
    # Run
    synthetic = fitted.sample(300, seed=1)

    # Assert
    frame = _frame()
    assert list(synthetic.columns) == ["age", "weight", "sex", "diabetes"]
    assert synthetic.dtypes.to_dict() == frame[synthetic.columns].dtypes.to_dict()
    assert synthetic["age"].between(20, 79).all()
    assert synthetic["weight"].isna().mean() == pytest.approx(0.3, abs=0.15)
    assert set(synthetic["sex"]) <= {"F", "M"}


def test_same_seed_same_rows_and_other_seed_differs(fitted):
    first, again, other = (
        fitted.sample(50, seed=5),
        fitted.sample(50, seed=5),
        fitted.sample(50, seed=6),
    )
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_save_and_load_sample_identically(fitted, tmp_path):
    # Run
    fitted.save(tmp_path / "model.pt")
    loaded = TabSyn.load(tmp_path / "model.pt")

    # Assert
    pd.testing.assert_frame_equal(loaded.sample(80, seed=2), fitted.sample(80, seed=2))
    assert loaded.fit_report == fitted.fit_report


def test_fit_report_has_epochs_losses_seconds_and_device(fitted):
    report = fitted.fit_report
    for stage in ("vae", "diffusion"):
        assert report[stage]["epochs"] >= 1 and report[stage]["seconds"] > 0
        assert np.isfinite(report[stage]["train_loss"])
    assert report["device"] == "cpu" and report["validation_rows"] == 24


def test_progress_is_logged_not_printed(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="synth.tabsyn"):
        TabSyn(_config(vae={"epochs": 2}, diffusion={"epochs": 2})).fit(_frame(60), SPECS)
    assert "VAE epoch 2/2" in caplog.text and "Diffusion epoch 2/2" in caplog.text
    assert "left" in caplog.text
    assert capsys.readouterr().out == ""


def test_unfitted_model_refuses_to_sample_or_save(tmp_path):
    with pytest.raises(NotFittedError, match="fit"):
        TabSyn(_config()).sample(5)
    with pytest.raises(NotFittedError):
        TabSyn(_config()).save(tmp_path / "x.pt")


def test_bad_row_count_is_refused(fitted):
    with pytest.raises(DataError):
        fitted.sample(-1)
    assert len(fitted.sample(0)) == 0


def test_exploding_training_stops_with_advice():
    config = _config(vae={"epochs": 5, "lr": 1e30})
    with pytest.raises(TrainingError, match=r"generator\.vae\.lr"):
        TabSyn(config).fit(_frame(60), SPECS)


def test_corrdst_terms_vanish_on_identical_batches_and_train():
    # Setup
    x = torch.randn(256, 6)
    x[:, 1] += x[:, 0]

    # Assert: zero when equal, positive when correlation or moments differ
    assert corr_loss(x, x).item() == pytest.approx(0.0, abs=1e-10)
    assert dst_loss(x, x, 4).item() == pytest.approx(0.0, abs=1e-10)
    assert corr_loss(x, torch.randn(256, 6)).item() > 1e-3
    assert dst_loss(x, 2 * x + 1, 2).item() > 1e-3
    assert moments(x, 4).shape == (4, 6)

    # Run: a fit with both terms on stays finite
    model = TabSyn(_config(corrdst={"enabled": True, "alpha": 10.0, "beta": 1e-4, "moments": 3}))
    model.fit(_frame(120), SPECS)
    assert np.isfinite(model.fit_report["diffusion"]["train_loss"])
    assert model.fit_report["corrdst"] is True


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_diffusion_learning_rate_follows_the_schedule(schedule):
    # Setup: 100 latents of 4 dims, 25 steps per epoch
    torch.manual_seed(0)
    latents = torch.randn(100, 4) * 0.5
    cfg = DiffusionConfig(
        epochs=6,
        batch_size=4,
        lr=1e-2,
        width=8,
        schedule=schedule,
        patience=100,
        plateau_factor=0.5,
        plateau_patience=0,
    )

    # Run
    report = train_diffusion(EDM(4, 8, 0.5), latents, latents[:20], cfg, CorrDstConfig(), 1, 0)

    # Assert: cosine ends at zero after every step of every epoch; the plateau schedule
    # halves the rate whenever validation does not improve, so it ends between the two.
    assert report["epochs"] == 6
    if schedule == "cosine":
        assert report["lr"] == pytest.approx(0.0, abs=1e-12)
    else:
        assert report["lr"] in {1e-2 * 0.5**k for k in range(7)}


def test_noise_schedule_runs_from_sigma_max_to_zero():
    levels = noise_levels(TabSynConfig().sampling)
    assert levels[0].item() == pytest.approx(80.0) and levels[-2].item() == pytest.approx(0.002)
    assert levels[-1].item() == 0.0 and torch.all(levels[:-1] > levels[1:])


def test_sampling_matches_training_shares_of_levels_and_blanks(fitted):
    # Run
    synthetic = fitted.sample(3000, seed=4)

    # Assert: calibrated draws reproduce the training shares (the fast model alone is rough)
    frame = _frame()
    assert synthetic["diabetes"].mean() == pytest.approx(frame["diabetes"].mean(), abs=0.03)
    assert (synthetic["sex"] == "F").mean() == pytest.approx((frame["sex"] == "F").mean(), abs=0.03)
    assert synthetic["weight"].isna().mean() == pytest.approx(
        frame["weight"].isna().mean(), abs=0.03
    )
    assert synthetic["age"].median() == pytest.approx(frame["age"].median(), abs=3)


def test_unknown_categorical_decode_is_refused():
    with pytest.raises(ConfigError) as caught:
        TabSynConfig.from_dict({"sampling": {"categorical": "mode"}})
    assert caught.value.key == "generator.sampling.categorical"
