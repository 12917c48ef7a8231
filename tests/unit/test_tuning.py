from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from synth.errors import ConfigError, SynthError
from synth.schema import ColumnSpec
from synth.tabsyn import TabSynConfig
from synth.tuning import (
    OBJECTIVES,
    PruningSettings,
    SearchSpace,
    TuningSettings,
    can_start_trial,
    carve_validation,
    generator_settings,
    open_storage,
    open_study,
    param_importances,
    parse_settings,
    pick_trial,
    quick_shape_error,
    rank_trials,
    recover_crashed_trials,
    search,
    should_prune,
    suggest,
    trials_frame,
    write_tuning_tables,
)


def _study_with(values: list[tuple[float, float, float]]) -> optuna.Study:
    study = optuna.create_study(directions=["minimize"] * 3)
    dist = {"lr": FloatDistribution(1e-5, 1e-2, log=True)}
    for i, v in enumerate(values):
        study.add_trial(
            create_trial(
                values=list(v), params={"lr": 1e-4 * (i + 1)}, distributions=dist, user_attrs={}
            )
        )
    return study


# ------------------------------------------------------------------------------ settings


def test_settings_default_when_section_absent() -> None:
    settings = parse_settings({})
    assert settings == TuningSettings()
    assert settings.space.alpha == (1e-2, 1e6)
    assert settings.space.beta == (1e-14, 1e-2)
    assert settings.space.moments == (1, 4)


def test_settings_read_ranges_and_nested_sections() -> None:
    settings = parse_settings(
        {
            "seed": 4,
            "sampler": "nsga2",
            "pick_from": "all",
            "utility": {"models": ["logistic_regression"], "bootstrap": 3},
            "pruning": {"percentile": 50, "enabled": False},
            "space": {"width": [32, 32], "corrdst": [True], "lr": [1e-4, 1e-3]},
        }
    )
    assert settings.seed == 4 and settings.sampler == "nsga2" and settings.pick_from == "all"
    assert settings.utility_models == ("logistic_regression",)
    assert settings.pruning == PruningSettings(enabled=False, percentile=50.0)
    assert settings.space.width == (32, 32) and settings.space.corrdst == (True,)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"epochs": 3}, "tuning.epochs"),
        ({"space": {"depth": [1, 2]}}, "tuning.space.depth"),
        ({"space": {"width": [512, 64]}}, "tuning.space.width"),
        ({"space": {"lr": [0, 1e-3]}}, "tuning.space.lr"),
        ({"space": {"moments": [1, 5]}}, "tuning.space.moments"),
        ({"space": {"corrdst": "yes"}}, "tuning.space.corrdst"),
        ({"sampler": "grid"}, "tuning.sampler"),
        ({"validation_fraction": 1.5}, "tuning.validation_fraction"),
        ({"utility": {"models": ["forest"]}}, "tuning.utility.models"),
        ({"pruning": {"percentile": 0}}, "tuning.pruning.percentile"),
    ],
)
def test_settings_refuse_bad_keys_naming_them(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_settings(raw, "cfg.yml")


def test_trial_values_make_a_valid_generator_section() -> None:
    # Setup: a trial drawn from the default space, CorrDst forced on.
    study = optuna.create_study(directions=["minimize"] * 3)
    trial = study.ask()
    values = suggest(trial, SearchSpace(corrdst=(True,)))

    # Run
    settings = generator_settings({"profile": "fast", "seed": 3}, values)
    cfg = TabSynConfig.from_dict(settings)

    # Assert: the drawn values land in the generator, the base is kept.
    assert cfg.diffusion.batch_size == values["batch_size"]
    assert cfg.diffusion.width % 2 == 0 and cfg.diffusion.width >= values["width"]
    assert cfg.vae.epochs == values["vae_epochs"]
    assert cfg.corrdst.enabled and cfg.corrdst.moments == values["moments"]
    assert 1e-2 <= cfg.corrdst.alpha <= 1e6 and 1e-14 <= cfg.corrdst.beta <= 1e-2
    assert cfg.sampling.steps == 12  # from the fast profile
    assert set(trial.params) == set(values) - {"corrdst"}  # a fixed value is not searched


def test_corrdst_off_draws_no_corrdst_weights() -> None:
    trial = optuna.create_study(directions=["minimize"] * 3).ask()
    values = suggest(trial, SearchSpace(corrdst=(False,)))
    assert "alpha" not in values and "alpha" not in trial.params
    assert generator_settings({}, values)["corrdst"] == {"enabled": False}


# ------------------------------------------------------------------------ data and scores


def test_validation_slice_is_seeded_disjoint_and_complete() -> None:
    train = pd.DataFrame({"person_id": range(200), "x": np.arange(200.0)})
    fit_a, val_a = carve_validation(train, 0.2, seed=1)
    _, val_b = carve_validation(train, 0.2, seed=1)
    _, val_c = carve_validation(train, 0.2, seed=2)
    assert len(val_a) == 40 and len(fit_a) == 160
    assert set(fit_a["person_id"]).isdisjoint(val_a["person_id"])
    assert set(fit_a["person_id"]) | set(val_a["person_id"]) == set(range(200))
    assert val_a.equals(val_b)
    assert not val_a.equals(val_c)


def test_validation_slice_refuses_a_tiny_train_split() -> None:
    with pytest.raises(SynthError, match="too few"):
        carve_validation(pd.DataFrame({"x": range(50)}), 0.2, seed=0)


def test_quick_shape_error_is_zero_for_equal_tables_and_grows_with_shift() -> None:
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["a", "b", None], size=500)})
    columns = [ColumnSpec("x", "numeric"), ColumnSpec("c", "categorical")]
    shifted = real.assign(x=real["x"] + 1.0, c="a")
    assert quick_shape_error(real, real, columns) == pytest.approx(0.0)
    assert quick_shape_error(real, shifted, columns) > 0.3


# ----------------------------------------------------------------------- pruning, budget


def test_pruning_waits_for_startup_trials_then_cuts_the_worst() -> None:
    rule = PruningSettings(startup_trials=3, percentile=75)
    assert not should_prune(0.9, [0.1, 0.2], rule)  # too few to judge
    assert should_prune(0.9, [0.1, 0.2, 0.3], rule)
    assert not should_prune(0.2, [0.1, 0.2, 0.3], rule)
    assert not should_prune(0.9, [0.1, 0.2, 0.3], PruningSettings(enabled=False))


def test_a_trial_starts_only_when_the_time_left_fits_one() -> None:
    assert can_start_trial(None, [100.0])
    assert can_start_trial(5.0, [])  # no estimate yet: any time left will do
    assert not can_start_trial(0.0, [])
    assert can_start_trial(60.0, [40.0, 50.0, 300.0])  # the median, 50 s, fits
    assert not can_start_trial(45.0, [40.0, 50.0, 300.0])


def test_search_stops_at_the_study_total_and_at_the_timeout() -> None:
    study = optuna.create_study(directions=["minimize"] * 3)

    def objective(trial: optuna.Trial) -> tuple[float, float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, 1 - x, 0.5

    assert search(study, objective, trials=3) == 3
    assert search(study, objective, trials=5) == 2  # the total counts earlier trials
    assert search(study, objective, trials=50, timeout=0) == 0
    assert len(study.trials) == 5


# --------------------------------------------------------------------------- the pick


def test_ranks_average_ties_and_sort_best_first() -> None:
    frame = pd.DataFrame(
        {"fidelity": [0.1, 0.2, 0.3], "utility": [0.3, 0.2, 0.1], "privacy": [0.0, 0.0, 0.5]},
        index=[7, 8, 9],
    )
    ranks = rank_trials(frame)
    assert list(ranks.index) == [7, 8, 9]
    assert ranks.loc[7, "rank_privacy"] == 1.5
    assert ranks.loc[7, "mean_rank"] == pytest.approx((1 + 3 + 1.5) / 3)


def test_pick_ranks_the_pareto_front_or_every_trial() -> None:
    # Setup: trial 3 is dominated by trial 0; ranked among all it would still lose.
    study = _study_with([(0.1, 0.1, 0.5), (0.5, 0.1, 0.1), (0.1, 0.5, 0.1), (0.2, 0.2, 0.6)])

    # Run
    picked, ranks = pick_trial(study, "pareto")
    picked_all, ranks_all = pick_trial(study, "all")

    # Assert
    assert set(ranks.index) == {0, 1, 2}
    assert set(ranks_all.index) == {0, 1, 2, 3}
    assert picked == picked_all == 0  # lowest mean rank, ties to the earlier trial


def test_pick_refuses_a_study_without_complete_trials() -> None:
    with pytest.raises(SynthError, match="no complete trial"):
        pick_trial(optuna.create_study(directions=["minimize"] * 3))


def test_importances_fall_back_with_too_few_trials_and_appear_with_enough() -> None:
    rows, note = param_importances(_study_with([(0.1, 0.2, 0.3), (0.2, 0.1, 0.3)]))
    assert rows == [] and "at least" in note

    rng = np.random.default_rng(0)
    study = _study_with([tuple(rng.random(3)) for _ in range(12)])
    rows, note = param_importances(study)
    assert {r[0] for r in rows} == set(OBJECTIVES) and {r[1] for r in rows} == {"lr"}


def test_trials_are_written_to_duckdb_with_ranks_and_pick() -> None:
    study = _study_with([(0.1, 0.1, 0.5), (0.5, 0.1, 0.1), (0.2, 0.2, 0.6)])
    picked, ranks = pick_trial(study)
    con = duckdb.connect()
    try:
        frame = trials_frame(study, ranks, picked)
        pick = {"trial_number": picked, "run_id": "r1", "pick_from": "pareto", "generator": {}}
        for _ in range(2):  # writing twice replaces the study's rows
            write_tuning_tables(
                con, study, trials=frame, importances=[], importance_note="few", pick=pick
            )
        rows = con.execute(
            "select trial_number, on_front, picked, mean_rank is not null "
            "from evaluation.tuning_trials order by 1"
        ).fetchall()
        notes = con.execute("select note from evaluation.tuning_importances").fetchall()
        picks = con.execute("select run_id from evaluation.tuning_picks").fetchall()
    finally:
        con.close()
    assert rows == [(0, True, True, True), (1, True, False, True), (2, False, False, False)]
    assert notes == [("few",)] and picks == [("r1",)]


# ------------------------------------------------------------------- storage and workers


def test_storage_urls(tmp_path: Path) -> None:
    assert isinstance(
        open_storage(f"journal:{tmp_path / 'a.journal'}"), optuna.storages.BaseStorage
    )
    assert isinstance(
        open_storage(f"sqlite:///{tmp_path / 'db' / 't.db'}"), optuna.storages.RDBStorage
    )
    with pytest.raises(SynthError, match="Unknown --storage"):
        open_storage("redis://localhost")


def test_a_second_process_joins_the_study_and_a_crashed_trial_is_queued_again(
    tmp_path: Path,
) -> None:
    # Setup: a trial left running by a process that has since exited.
    url = f"journal:{tmp_path / 'study.journal'}"
    storage = open_storage(url)
    settings = TuningSettings()
    study = open_study(storage, "s", settings)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    trial = study.ask({"x": FloatDistribution(0, 1)})
    trial.set_user_attr("worker", f"{__import__('socket').gethostname()}:{dead.stdout.strip()}")

    # Run: the same command again, as a new process would.
    again = open_study(open_storage(url), "s", settings)
    recovered = recover_crashed_trials(again, storage)

    # Assert
    states = [t.state for t in again.get_trials(deepcopy=False)]
    assert recovered == 1
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert again.get_trials(deepcopy=False)[1].user_attrs == {"retry_of": 0}


def test_report_section_draws_front_importances_and_pick() -> None:
    from synth.report import _Figures, _tuning_section

    rng = np.random.default_rng(1)
    study = _study_with([tuple(rng.random(3)) for _ in range(8)])
    picked, ranks = pick_trial(study)
    importances, note = param_importances(study)
    con = duckdb.connect()
    try:
        assert _tuning_section(con, "r1", _Figures()) == ""  # no tuning tables yet
        write_tuning_tables(
            con,
            study,
            trials=trials_frame(study, ranks, picked),
            importances=importances,
            importance_note=note,
            pick={"trial_number": picked, "run_id": "r1", "pick_from": "pareto", "generator": {}},
        )
        figures = _Figures()
        page = _tuning_section(con, "r1", figures)
        other = _tuning_section(con, "another-run", _Figures())
    finally:
        con.close()
    assert figures.count == 2  # the Pareto front and the importances
    assert f"<td class='num'>{picked}</td>" in page and "mean_rank" in page
    assert other == ""
