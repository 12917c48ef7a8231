"""Hyperparameter search for TabSyn: a multi-objective optuna study, a rank pick, a retrain.

``python -m synth tune --config FILE --trials N`` runs an optuna study over the
generator's settings (the paper's space, with epoch and width ranges scaled to a CPU;
see :class:`SearchSpace`) with three objectives, all minimised:

- ``fidelity``: the mean of the shape error and the trend error;
- ``utility``: the train-synthetic-test-real gap (real minus synthetic, AUC or macro F1),
  averaged over the prediction targets and models;
- ``privacy``: |balanced DCR share - 0.5|, or the largest attack risk when
  ``tuning.attacks`` is on, whichever is worse.

During the search every score is measured on a validation slice carved from the TRAIN
split (seeded by ``tuning.seed``): each trial fits on the rest of the train split and is
compared with the validation slice, which it never saw. The holdout is never read
during the search; it judges the picked trial only.

The pick: every trial of the Pareto front (``tuning.pick_from: pareto``, the default) or
every complete trial (``all``) is ranked on each objective (average ranks for ties); the
lowest mean rank wins, ties going to the earlier trial. This is the paper's rank
aggregation, applied after the multi-objective search rather than instead of it. The
picked settings are retrained on the whole train split through the normal pipeline
(``fit``, ``sample``, ``evaluate``: the run is registered in ``meta.runs``) and judged
on the holdout. Trials, ranks, parameter importances and the pick are written to
``evaluation.tuning_trials``, ``evaluation.tuning_importances`` and
``evaluation.tuning_picks``; the report of the picked run reads them from there.

Storage: by default an optuna journal file, ``<run_dir>/tuning.journal``; every
operation is appended under a file lock, so a crash loses at most the running trial
and the same command run again resumes the study. Several processes started with the
same configuration (and ``--study``) join one study; on several machines, point them all
at one database with ``--storage postgresql://user@host/db`` (or ``mysql+pymysql://...``).
``--trials N`` is the study's total: a worker stops starting trials once N trials are
complete, pruned or running (with W workers the study may end up to W - 1 over).
Workers started with ``--search-only`` leave the pick to one final process.

Pruning: optuna's pruners do not support multi-objective studies (``Trial.report``
raises), so this module applies its own percentile rule to a checkpoint value stored
with each trial: after fitting, a quick shape error of a small probe sample against the
validation slice. A trial worse than ``pruning.percentile`` of the complete trials at
that checkpoint is pruned before its full sample and its costly evaluation (distances,
utility models, attacks). A trial whose training diverges (a NaN loss) is pruned too.

Example:
    >>> from synth.config import load_config
    >>> from synth.tuning import tune
    >>> result = tune(load_config("configs/nafld.yml"), trials=20)  # doctest: +SKIP
    >>> print(result.summary)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import socket
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from synth import pipeline, warehouse
from synth.attacks import AttackSettings, category_values, numeric_values, run_attacks
from synth.config import DatasetConfig
from synth.errors import ConfigError, SynthError, TrainingError
from synth.metrics import evaluate as evaluate_metrics
from synth.schema import ColumnSpec
from synth.utility import MODELS, evaluate_utility, targets_from_config

log = logging.getLogger(__name__)

OBJECTIVES = ("fidelity", "utility", "privacy")
CHECKPOINT = "after_fit"  # the step at which the pruning rule is applied
MIN_IMPORTANCE_TRIALS = 4  # fewer complete trials than this: no importances
_MIN_VALIDATION_ROWS = 20  # a smaller validation slice gives no usable score

TUNING_DDL = """
create schema if not exists evaluation;
create table if not exists evaluation.tuning_trials (
    study_name varchar not null,
    trial_number integer not null,
    state varchar not null,
    fidelity double,
    utility double,
    privacy double,
    shape_error double,
    trend_error double,
    utility_gap double,
    dcr_share_balanced double,
    attack_risk double,
    checkpoint double,
    on_front boolean,
    rank_fidelity double,
    rank_utility double,
    rank_privacy double,
    mean_rank double,
    picked boolean not null,
    seconds double,
    worker varchar,
    prune_reason varchar,
    params varchar not null
);
create table if not exists evaluation.tuning_importances (
    study_name varchar not null,
    objective varchar not null,
    param varchar,
    importance double,
    note varchar
);
create table if not exists evaluation.tuning_picks (
    study_name varchar not null,
    trial_number integer not null,
    run_id varchar not null,
    rule varchar not null,
    pick_from varchar not null,
    generator varchar not null,
    n_trials integer not null,
    n_complete integer not null,
    n_pruned integer not null,
    created_at timestamp not null
);
"""


# ----------------------------------------------------------------------------------------
# Settings: the `tuning:` section of the configuration
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched, as [low, high]; a range with low == high fixes the value.

    The paper searched batch size 256..4096, width 256..2048, learning rate 1e-5..3e-3,
    plateau factor 0.1..0.9, alpha 1e-2..1e6, beta 1e-14..1e-2 and H 1..4, with GPU
    epoch counts. Epochs and width are scaled here so that a trial of the NAFLD mart
    (about 11,000 fitting rows) takes about 2-3 minutes on two CPU cores.
    """

    batch_size: tuple[int, int] = (256, 4096)  # diffusion batch size, log scale (paper)
    width: tuple[int, int] = (64, 512)  # denoiser width, log (paper 256..2048; CPU sampling)
    vae_epochs: tuple[int, int] = (20, 60)  # VAE epochs (~3-4 s each on NAFLD at batch 1,024)
    diffusion_epochs: tuple[int, int] = (20, 120)  # diffusion epochs (~0.5-1 s each)
    lr: tuple[float, float] = (1e-5, 3e-3)  # diffusion learning rate, log scale (paper)
    plateau_factor: tuple[float, float] = (0.1, 0.9)  # learning-rate drop on a plateau (paper)
    corrdst: tuple[bool, ...] = (False, True)  # CorrDst off / on; one value fixes it
    alpha: tuple[float, float] = (1e-2, 1e6)  # CorrDst correlation weight, log (paper)
    beta: tuple[float, float] = (1e-14, 1e-2)  # CorrDst moments weight, log (paper)
    moments: tuple[int, int] = (1, 4)  # CorrDst H, highest moment compared (paper)


_LOG_SCALE = {"batch_size", "width", "lr", "alpha", "beta"}
_INT_PARAMS = {"batch_size", "width", "vae_epochs", "diffusion_epochs", "moments"}
_CORRDST_PARAMS = ("alpha", "beta", "moments")


@dataclass(frozen=True)
class PruningSettings:
    """The percentile rule applied after each trial's fit."""

    enabled: bool = True  # prune hopeless trials before their costly evaluation
    startup_trials: int = 3  # complete trials needed before any trial is pruned
    percentile: float = 75.0  # prune a trial worse than this percentile of complete ones
    probe_rows: int = 1000  # rows sampled for the quick shape error of the checkpoint


@dataclass(frozen=True)
class TuningSettings:
    """The ``tuning:`` section of the configuration; every key is optional."""

    seed: int = 0  # seeds the validation slice, the sampler and every trial
    validation_fraction: float = 0.2  # share of the train split held out for scoring
    sampler: str = "tpe"  # "tpe" (optuna's multi-objective TPE) or "nsga2"
    startup_trials: int = 8  # random trials before TPE models the results
    population_size: int = 8  # NSGA-II generation size
    pick_from: str = "pareto"  # rank the Pareto front ("pareto") or every trial ("all")
    synthetic_rows: int | None = None  # rows sampled per trial; None: as many as it fit on
    dcr_rows: int | None = 2000  # synthetic rows whose closest-record distances are measured
    utility_models: tuple[str, ...] = MODELS  # models of the utility gap
    utility_bootstrap: int = 10  # resamples (the gap's point estimate needs none)
    attacks: bool = False  # add the privacy attacks to the privacy objective (slower)
    space: SearchSpace = field(default_factory=SearchSpace)
    pruning: PruningSettings = field(default_factory=PruningSettings)

    @classmethod
    def from_config(cls, cfg: DatasetConfig) -> TuningSettings:
        """Read and check the ``tuning:`` section of a configuration.

        Raises:
            ConfigError: A key is unknown or a value has the wrong type or range; the
                message names the key, e.g. ``tuning.space.width``.
        """
        return parse_settings(cfg.raw.get("tuning") or {}, str(cfg.path))


def parse_settings(raw: Any, where: str | None = None) -> TuningSettings:
    """Check a ``tuning:`` mapping and build the settings (defaults for absent keys).

    Raises:
        ConfigError: The message names the key at fault.
    """
    if not isinstance(raw, dict):
        raise ConfigError("tuning", "must be a mapping of settings", where)
    raw = dict(raw)
    known = {f.name for f in dataclasses.fields(TuningSettings)} - {"utility_models"}
    known |= {"utility"}
    _refuse_unknown(raw, known, "tuning", where)
    values: dict[str, Any] = {}
    for name in ("seed", "startup_trials", "population_size", "utility_bootstrap"):
        if name in raw:
            values[name] = _integer(
                raw[name], f"tuning.{name}", where, low=0 if name == "seed" else 1
            )
    if "validation_fraction" in raw:
        fraction = _number(raw["validation_fraction"], "tuning.validation_fraction", where)
        if not 0.0 < fraction < 1.0:
            raise ConfigError("tuning.validation_fraction", "must be between 0 and 1", where)
        values["validation_fraction"] = fraction
    for name, choices in (("sampler", ("tpe", "nsga2")), ("pick_from", ("pareto", "all"))):
        if name in raw:
            if raw[name] not in choices:
                raise ConfigError(f"tuning.{name}", f"must be one of {list(choices)}", where)
            values[name] = raw[name]
    for name in ("synthetic_rows", "dcr_rows"):
        if name in raw:
            value = raw[name]
            values[name] = None if value is None else _integer(value, f"tuning.{name}", where, 1)
    if "attacks" in raw:
        values["attacks"] = _boolean(raw["attacks"], "tuning.attacks", where)
    if "utility" in raw:
        utility = raw["utility"]
        if not isinstance(utility, dict):
            raise ConfigError("tuning.utility", "must be {models: [...], bootstrap: N}", where)
        _refuse_unknown(utility, {"models", "bootstrap"}, "tuning.utility", where)
        if "models" in utility:
            models = utility["models"]
            if not isinstance(models, list) or not models or set(models) - set(MODELS):
                raise ConfigError(
                    "tuning.utility.models", f"must list some of {list(MODELS)}", where
                )
            values["utility_models"] = tuple(models)
        if "bootstrap" in utility:
            values["utility_bootstrap"] = _integer(
                utility["bootstrap"], "tuning.utility.bootstrap", where, 1
            )
    if "space" in raw:
        values["space"] = _parse_space(raw["space"], where)
    if "pruning" in raw:
        values["pruning"] = _parse_pruning(raw["pruning"], where)
    return TuningSettings(**values)


def _parse_space(raw: Any, where: str | None) -> SearchSpace:
    if not isinstance(raw, dict):
        raise ConfigError("tuning.space", "must map parameters to [low, high] ranges", where)
    names = [f.name for f in dataclasses.fields(SearchSpace)]
    _refuse_unknown(raw, set(names), "tuning.space", where)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        key = f"tuning.space.{name}"
        if name == "corrdst":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, bool) for v in value)
            ):
                raise ConfigError(key, "must be [false, true], [true] or [false]", where)
            values[name] = tuple(dict.fromkeys(value))
            continue
        if not isinstance(value, list) or len(value) != 2:
            raise ConfigError(key, "must be a range [low, high]", where)
        if name in _INT_PARAMS:
            low, high = (_integer(v, key, where, 1) for v in value)
        else:
            low, high = (_number(v, key, where) for v in value)
        if low > high:
            raise ConfigError(key, f"has low {low} above high {high}", where)
        if (name in _LOG_SCALE and low <= 0) or low < 0:
            raise ConfigError(key, "must be positive (it is searched on a log scale)", where)
        if name == "plateau_factor" and not 0 < high < 1:
            raise ConfigError(key, "must lie between 0 and 1", where)
        if name == "moments" and not 1 <= low <= high <= 4:
            raise ConfigError(key, "must lie between 1 and 4", where)
        values[name] = (low, high)
    return SearchSpace(**values)


def _parse_pruning(raw: Any, where: str | None) -> PruningSettings:
    if not isinstance(raw, dict):
        raise ConfigError("tuning.pruning", "must be a mapping of settings", where)
    _refuse_unknown(
        raw, {f.name for f in dataclasses.fields(PruningSettings)}, "tuning.pruning", where
    )
    values: dict[str, Any] = {}
    if "enabled" in raw:
        values["enabled"] = _boolean(raw["enabled"], "tuning.pruning.enabled", where)
    if "startup_trials" in raw:
        values["startup_trials"] = _integer(
            raw["startup_trials"], "tuning.pruning.startup_trials", where, 1
        )
    if "probe_rows" in raw:
        values["probe_rows"] = _integer(raw["probe_rows"], "tuning.pruning.probe_rows", where, 10)
    if "percentile" in raw:
        percentile = _number(raw["percentile"], "tuning.pruning.percentile", where)
        if not 0 < percentile <= 100:
            raise ConfigError("tuning.pruning.percentile", "must be in (0, 100]", where)
        values["percentile"] = percentile
    return PruningSettings(**values)


def _refuse_unknown(raw: dict[str, Any], known: set[str], prefix: str, where: str | None) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{prefix}.{unknown[0]}", f"is not a known key; known keys: {sorted(known)}", where
        )


def _integer(value: Any, key: str, where: str | None, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"must be a whole number, got {value!r}", where)
    if value < low:
        raise ConfigError(key, f"must be at least {low}, got {value}", where)
    return value


def _number(value: Any, key: str, where: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"must be a number, got {value!r}", where)
    return float(value)


def _boolean(value: Any, key: str, where: str | None) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}", where)
    return value


# ----------------------------------------------------------------------------------------
# The search space and the generator settings of a trial
# ----------------------------------------------------------------------------------------


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Draw one trial's values; fixed ranges are returned without being searched.

    CorrDst's alpha, beta and H are drawn only when CorrDst is on (conditional space).
    """
    values: dict[str, Any] = {}
    corrdst = space.corrdst
    values["corrdst"] = (
        corrdst[0] if len(corrdst) == 1 else trial.suggest_categorical("corrdst", list(corrdst))
    )
    for name in ("batch_size", "width", "vae_epochs", "diffusion_epochs", "lr", "plateau_factor"):
        values[name] = _draw(trial, name, getattr(space, name))
    if values["corrdst"]:
        for name in _CORRDST_PARAMS:
            values[name] = _draw(trial, name, getattr(space, name))
    return values


def _draw(trial: optuna.Trial, name: str, bounds: tuple[Any, Any]) -> Any:
    low, high = bounds
    if low == high:
        return low
    if name in _INT_PARAMS:
        return trial.suggest_int(name, int(low), int(high), log=name in _LOG_SCALE)
    return trial.suggest_float(name, float(low), float(high), log=name in _LOG_SCALE)


def generator_settings(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The ``generator`` section of a trial: the configuration's, with the trial's values.

    Args:
        base: The configuration's ``generator`` section (profile, seed, ...).
        values: A trial's values, as :func:`suggest` returns them.
    """
    settings = copy.deepcopy(base)
    vae = settings.setdefault("vae", {})
    diffusion = settings.setdefault("diffusion", {})
    corrdst = settings.setdefault("corrdst", {})
    vae["epochs"] = int(values["vae_epochs"])
    diffusion.update(
        batch_size=int(values["batch_size"]),
        # The denoiser's sinusoidal noise embedding needs an even width: odd draws round up.
        width=int(values["width"]) + int(values["width"]) % 2,
        epochs=int(values["diffusion_epochs"]),
        lr=float(values["lr"]),
        # The paper's schedule, whose factor is searched; patience as when tuning was sized.
        schedule="plateau",
        plateau_factor=float(values["plateau_factor"]),
        patience=40,
    )
    corrdst["enabled"] = bool(values["corrdst"])
    if values["corrdst"]:
        corrdst.update(
            alpha=float(values["alpha"]),
            beta=float(values["beta"]),
            moments=int(values["moments"]),
        )
    return settings


# ----------------------------------------------------------------------------------------
# Data: the validation slice of the train split
# ----------------------------------------------------------------------------------------


def carve_validation(
    train: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the train split into the rows trials fit on and a validation slice.

    The slice is a seeded random share of the train split; the holdout plays no part.

    Returns:
        ``(fit_rows, validation)``, disjoint, together the whole train split.

    Raises:
        SynthError: The validation slice would hold fewer than 20 rows.
    """
    held = round(len(train) * fraction)
    if held < _MIN_VALIDATION_ROWS or len(train) - held < _MIN_VALIDATION_ROWS:
        raise SynthError(
            f"The train split has {len(train)} rows: too few to carve a validation slice of "
            f"at least {_MIN_VALIDATION_ROWS} rows (tuning.validation_fraction {fraction}); "
            "tune on a larger mart."
        )
    order = np.random.default_rng(seed).permutation(len(train))
    validation = train.iloc[np.sort(order[:held])].reset_index(drop=True)
    fit_rows = train.iloc[np.sort(order[held:])].reset_index(drop=True)
    return fit_rows, validation


def quick_shape_error(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[ColumnSpec]
) -> float:
    """1 minus the mean column shape score (KS or TV complement), in numpy, for pruning.

    Numbers and dates compare observed values (KS complement); categories compare
    levels with missing as a level of its own (TV complement). A column with no observed
    value on either side is left out. The SQL macros remain the reference definition.
    """
    scores = []
    for col in columns:
        if col.is_identifier:
            continue
        if col.kind == "categorical":
            a = pd.Series(category_values(real[col.name])).fillna("<missing>")
            b = pd.Series(category_values(synthetic[col.name])).fillna("<missing>")
            pa_, pb = a.value_counts(normalize=True), b.value_counts(normalize=True)
            levels = pa_.index.union(pb.index)
            tv = 0.5 * np.abs(pa_.reindex(levels, fill_value=0) - pb.reindex(levels, fill_value=0))
            scores.append(1.0 - float(tv.sum()))
            continue
        a = numeric_values(real[col.name], col.kind)
        b = numeric_values(synthetic[col.name], col.kind)
        a, b = np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)])
        if not len(a) or not len(b):
            continue
        grid = np.concatenate([a, b])
        cdf_a = np.searchsorted(a, grid, side="right") / len(a)
        cdf_b = np.searchsorted(b, grid, side="right") / len(b)
        scores.append(1.0 - float(np.max(np.abs(cdf_a - cdf_b))))
    return 1.0 - float(np.mean(scores)) if scores else 1.0


# ----------------------------------------------------------------------------------------
# Pruning and the time budget
# ----------------------------------------------------------------------------------------


def should_prune(value: float, earlier: Sequence[float], settings: PruningSettings) -> bool:
    """Whether a checkpoint value (lower is better) marks the trial as hopeless.

    Args:
        value: This trial's value at the checkpoint.
        earlier: The values of the study's complete trials at the same checkpoint.
        settings: The rule: at least ``startup_trials`` values, and worse than their
            ``percentile``.
    """
    if not settings.enabled or len(earlier) < settings.startup_trials:
        return False
    return value > float(np.percentile(np.asarray(earlier, dtype=float), settings.percentile))


def can_start_trial(remaining: float | None, durations: Sequence[float]) -> bool:
    """Whether a trial fits in the time left.

    Args:
        remaining: Seconds left of ``--timeout``; None when there is no limit.
        durations: Seconds taken by the study's complete trials. With none yet, a trial
            starts while any time is left; otherwise only if their median fits.
    """
    if remaining is None:
        return True
    if remaining <= 0:
        return False
    return not durations or statistics.median(durations) <= remaining


# ----------------------------------------------------------------------------------------
# Storage and study
# ----------------------------------------------------------------------------------------


def storage_url(cfg: DatasetConfig, url: str | None) -> str:
    """The storage to use: ``url`` as given, or the default journal file of the run folder."""
    return url or f"journal:{cfg.run_dir / 'tuning.journal'}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Open an optuna storage from a URL.

    ``journal:<path>`` (or a path ending ``.journal`` / ``.log``) is a journal file, safe
    for several local processes; ``sqlite:///<path>``, ``postgresql://...`` and
    ``mysql+pymysql://...`` are optuna's RDB storage (one shared server for several
    machines; the server's driver must be installed).

    Raises:
        SynthError: The URL is of no known kind.
    """
    if url.startswith("journal:") or url.endswith((".journal", ".log")):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    if url.startswith(("sqlite:", "postgresql", "mysql")):
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            # Several local processes write to one file: wait for the lock, do not fail.
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        return optuna.storages.RDBStorage(url, **kwargs)
    raise SynthError(
        f"Unknown --storage {url!r}: use journal:<file>, sqlite:///<file>, "
        "postgresql://user@host/db or mysql+pymysql://user@host/db."
    )


def default_study_name(cfg: DatasetConfig) -> str:
    """``<dataset>-<configuration hash>``: a changed configuration starts a new study."""
    return f"{cfg.dataset}-{cfg.config_hash[:8]}"


def _sampler(settings: TuningSettings, seed: int) -> optuna.samplers.BaseSampler:
    if settings.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=settings.population_size, seed=seed)
    return optuna.samplers.TPESampler(n_startup_trials=settings.startup_trials, seed=seed)


def open_study(
    storage: optuna.storages.BaseStorage, name: str, settings: TuningSettings
) -> optuna.Study:
    """Create the study, or join it when another process (or an earlier run) made it.

    The process that creates the study seeds its sampler with ``tuning.seed``, so a
    single-process search is repeatable; a joining process adds its process id, so that
    workers do not all draw the same values.
    """
    directions = ["minimize"] * len(OBJECTIVES)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            directions=directions,
            sampler=_sampler(settings, settings.seed),
        )
        study.set_user_attr("objectives", list(OBJECTIVES))
        log.info("tuning: new study %s", name)
        return study
    except optuna.exceptions.DuplicatedStudyError:
        pass
    seed = settings.seed + 1 + os.getpid()
    study = optuna.load_study(study_name=name, storage=storage, sampler=_sampler(settings, seed))
    if len(study.directions) != len(OBJECTIVES):
        raise SynthError(
            f"The study {name} has {len(study.directions)} objectives, not "
            f"{len(OBJECTIVES)}; pass another --study name."
        )
    log.info("tuning: joined study %s (%d trials so far)", name, len(study.trials))
    return study


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_crashed_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> int:
    """Fail the trials left running by a dead process of this machine, and queue them again.

    A trial records its worker (host and process id) when it starts. A trial still
    ``RUNNING`` whose process on this host is gone was cut short by a crash; it is
    marked failed and its values are enqueued, so the resumed study runs it again.
    Trials of other machines are left alone.

    Returns:
        How many trials were recovered.
    """
    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)
    recovered = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
        log.warning(
            "tuning: trial %d was left running by a dead process (%s); queued again",
            trial.number,
            worker,
        )
        recovered += 1
    return recovered


# ----------------------------------------------------------------------------------------
# The objective
# ----------------------------------------------------------------------------------------


@dataclass
class TrialScores:
    """What one trial measured on the validation slice."""

    shape_error: float
    trend_error: float
    utility_gap: float
    dcr_share_balanced: float
    attack_risk: float | None

    @property
    def objectives(self) -> tuple[float, float, float]:
        """(fidelity, utility, privacy), each to be minimised."""
        privacy = abs(self.dcr_share_balanced - 0.5)
        if self.attack_risk is not None:
            privacy = max(privacy, self.attack_risk)
        return ((self.shape_error + self.trend_error) / 2, self.utility_gap, privacy)


class Objective:
    """One trial: fit on the fitting rows, score against the validation slice."""

    def __init__(
        self,
        cfg: DatasetConfig,
        settings: TuningSettings,
        fit_rows: pd.DataFrame,
        validation: pd.DataFrame,
        targets: Sequence[str],
    ) -> None:
        self.cfg = cfg
        self.settings = settings
        self.fit_rows = fit_rows
        self.validation = validation
        self.targets = list(targets)

    def __call__(self, trial: optuna.Trial) -> tuple[float, float, float]:
        """Run one trial; raises ``optuna.TrialPruned`` for a hopeless or diverged one."""
        from synth.tabsyn import TabSyn, TabSynConfig

        started = time.perf_counter()
        trial.set_user_attr("worker", _worker())
        values = suggest(trial, self.settings.space)
        settings = generator_settings(self.cfg.generator, values)
        settings["seed"] = self.settings.seed + trial.number
        trial.set_user_attr("generator", settings)
        model = TabSyn(TabSynConfig.from_dict(settings, key="generator"))
        try:
            model.fit(self.fit_rows, self.cfg.mart.columns)
        except TrainingError as exc:
            return self._prune(trial, f"training diverged: {exc}")
        trial.set_user_attr("fit_seconds", time.perf_counter() - started)

        probe = model.sample(min(self.settings.pruning.probe_rows, len(self.fit_rows)), seed=1)
        checkpoint = quick_shape_error(self.validation, probe, self.cfg.mart.columns)
        trial.set_user_attr("checkpoint", {CHECKPOINT: checkpoint})
        earlier = _checkpoint_values(trial.study)
        if should_prune(checkpoint, earlier, self.settings.pruning):
            limit = np.percentile(earlier, self.settings.pruning.percentile)
            return self._prune(
                trial,
                f"quick shape error {checkpoint:.4f} after fitting is worse than the "
                f"{self.settings.pruning.percentile:g}th percentile {limit:.4f} of "
                f"{len(earlier)} complete trials",
            )

        rows = self.settings.synthetic_rows or len(self.fit_rows)
        synthetic = model.sample(rows, seed=2)
        scores = self._score(trial.number, synthetic)
        for name, value in dataclasses.asdict(scores).items():
            trial.set_user_attr(name, value)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        objectives = scores.objectives
        log.info(
            "tuning: trial %d done in %.0fs: fidelity %.4f, utility gap %.4f, privacy %.4f",
            trial.number,
            time.perf_counter() - started,
            *objectives,
        )
        return objectives

    def _prune(self, trial: optuna.Trial, reason: str) -> Any:
        trial.set_user_attr("prune_reason", reason)
        log.info("tuning: trial %d pruned: %s", trial.number, reason)
        raise optuna.TrialPruned(reason)

    def _score(self, number: int, synthetic: pd.DataFrame) -> TrialScores:
        columns = self.cfg.mart.columns
        con = duckdb.connect()
        try:
            for name, frame in (
                ("validation", self.validation),
                ("fit_rows", self.fit_rows),
                ("synthetic", synthetic),
            ):
                con.register(f"_{name}", warehouse.frame_to_arrow(frame))
                con.execute(f"create table {name} as select * from _{name}")
                con.unregister(f"_{name}")
            # Fidelity against the validation slice; the DCR share is then taken from the
            # validation side (ideal 0.5 in its balanced form), and its distance from the
            # ideal is what the privacy objective uses.
            summary = evaluate_metrics(
                con,
                real="validation",
                synthetic="synthetic",
                holdout="fit_rows",
                columns=columns,
                run_id=f"trial-{number}",
                k=self.cfg.privacy.k,
                dcr_rows=self.settings.dcr_rows,
                seed=self.settings.seed,
            )
        finally:
            con.close()
        gaps = [
            r.gap
            for r in evaluate_utility(
                self.fit_rows,
                self.validation,
                synthetic,
                columns,
                self.targets,
                models=self.settings.utility_models,
                n_bootstrap=self.settings.utility_bootstrap,
                seed=self.settings.seed,
            )
            if r.gap is not None and not math.isnan(r.gap)
        ]
        risk = None
        if self.settings.attacks:
            results = run_attacks(
                self.fit_rows,
                self.validation,
                synthetic,
                columns,
                AttackSettings.from_config(self.cfg),
            )
            risks = [_attack_risk(r.attack, r.risk) for r in results if r.risk is not None]
            risk = max(risks, default=0.0)
        return TrialScores(
            shape_error=_defined(summary.shape_error, 1.0),
            trend_error=_defined(summary.trend_error, 1.0),
            utility_gap=float(np.mean(gaps)) if gaps else 0.0,
            dcr_share_balanced=_defined(summary.dcr_share_balanced, 0.0),
            attack_risk=risk,
        )


def _attack_risk(attack: str, risk: float) -> float:
    # Membership inference reports an AUC (0.5 = no leak): 2 (AUC - 0.5) is on the
    # same 0..1 scale as the other attacks' risks.
    if attack == "membership_inference":
        return max(0.0, 2 * (risk - 0.5))
    return max(0.0, risk)


def _defined(value: float | None, worst: float) -> float:
    return worst if value is None or math.isnan(value) else float(value)


def _checkpoint_values(study: optuna.Study) -> list[float]:
    values = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        value = (trial.user_attrs.get("checkpoint") or {}).get(CHECKPOINT)
        if value is not None:
            values.append(float(value))
    return values


# ----------------------------------------------------------------------------------------
# The pick
# ----------------------------------------------------------------------------------------


def rank_trials(objectives: pd.DataFrame) -> pd.DataFrame:
    """Rank trials on every objective (1 = best, average ranks for ties) and average.

    Args:
        objectives: One row per trial, indexed by trial number, one column per objective.

    Returns:
        Columns ``rank_<objective>`` and ``mean_rank``, sorted best first (ties by trial
        number).
    """
    ranks = objectives.rank(method="average").add_prefix("rank_")
    ranks["mean_rank"] = ranks.mean(axis=1)
    ranks.index.name = "trial_number"
    return ranks.reset_index().sort_values(["mean_rank", "trial_number"]).set_index("trial_number")


def pick_trial(study: optuna.Study, pick_from: str = "pareto") -> tuple[int, pd.DataFrame]:
    """The trial with the lowest mean rank, over the Pareto front or every complete trial.

    Returns:
        The picked trial's number and the rank table of the ranked trials.

    Raises:
        SynthError: The study holds no complete trial.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise SynthError(
            f"The study {study.study_name} holds no complete trial to pick from; run more "
            "trials (raise --trials or --timeout)."
        )
    front = {t.number for t in study.best_trials}
    ranked = [t for t in complete if pick_from == "all" or t.number in front]
    frame = pd.DataFrame(
        [t.values for t in ranked], index=[t.number for t in ranked], columns=list(OBJECTIVES)
    )
    ranks = rank_trials(frame)
    return int(ranks.index[0]), ranks


def param_importances(study: optuna.Study) -> tuple[list[tuple[str, str, float]], str | None]:
    """Parameter importances per objective (optuna's default evaluator), or why there are none.

    Returns:
        ``(objective, param, importance)`` rows, and a note when some or all are missing.
    """
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_IMPORTANCE_TRIALS:
        return [], (
            f"{len(complete)} complete trial(s): at least {MIN_IMPORTANCE_TRIALS} are needed "
            "to estimate parameter importances"
        )
    rows, notes = [], []
    for i, objective in enumerate(OBJECTIVES):
        try:
            with warnings.catch_warnings():
                # The evaluator warns that it ranks parameters by how they lower the
                # target: every objective here is minimised, so that is what is wanted.
                warnings.filterwarnings(
                    "ignore", message="PedAnovaImportanceEvaluator computes", category=UserWarning
                )
                found = optuna.importance.get_param_importances(
                    study, target=lambda t, i=i: t.values[i]
                )
        except (ValueError, RuntimeError) as exc:
            notes.append(f"{objective}: {exc}")
            continue
        rows += [(objective, param, float(value)) for param, value in found.items()]
    return rows, "; ".join(notes) or None


def trials_frame(
    study: optuna.Study, ranks: pd.DataFrame | None = None, picked: int | None = None
) -> pd.DataFrame:
    """The study's trials as rows of ``evaluation.tuning_trials`` (less ``study_name``)."""
    front = {t.number for t in study.best_trials} if _complete(study) else set()
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        values = t.values if t.state == TrialState.COMPLETE and t.values else [None] * 3
        rank = ranks.loc[t.number] if ranks is not None and t.number in ranks.index else None
        rows.append(
            {
                "trial_number": t.number,
                "state": t.state.name.lower(),
                **dict(zip(OBJECTIVES, values, strict=True)),
                "shape_error": attrs.get("shape_error"),
                "trend_error": attrs.get("trend_error"),
                "utility_gap": attrs.get("utility_gap"),
                "dcr_share_balanced": attrs.get("dcr_share_balanced"),
                "attack_risk": attrs.get("attack_risk"),
                "checkpoint": (attrs.get("checkpoint") or {}).get(CHECKPOINT),
                "on_front": t.number in front,
                **{
                    f"rank_{o}": None if rank is None else float(rank[f"rank_{o}"])
                    for o in OBJECTIVES
                },
                "mean_rank": None if rank is None else float(rank["mean_rank"]),
                "picked": t.number == picked,
                "seconds": None if t.duration is None else t.duration.total_seconds(),
                "worker": attrs.get("worker"),
                "prune_reason": attrs.get("prune_reason"),
                "params": json.dumps(t.params, sort_keys=True),
            }
        )
    return pd.DataFrame(rows)


def _complete(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def write_tuning_tables(
    con: duckdb.DuckDBPyConnection,
    study: optuna.Study,
    *,
    trials: pd.DataFrame,
    importances: list[tuple[str, str, float]],
    importance_note: str | None,
    pick: dict[str, Any],
) -> None:
    """Replace the study's rows of the three tuning tables, in one transaction."""
    name = study.study_name
    con.execute(TUNING_DDL)
    con.execute("begin transaction")
    try:
        for table in ("tuning_trials", "tuning_importances", "tuning_picks"):
            con.execute(f"delete from evaluation.{table} where study_name = ?", [name])
        frame = trials.assign(study_name=name)
        columns = [r[0] for r in con.execute("describe evaluation.tuning_trials").fetchall()]
        con.register("_tuning_trials", warehouse.frame_to_arrow(frame[columns]))
        con.execute("insert into evaluation.tuning_trials select * from _tuning_trials")
        con.unregister("_tuning_trials")
        importance_rows = [[name, o, p, v, None] for o, p, v in importances]
        if importance_note:
            importance_rows.append([name, "(all)", None, None, importance_note])
        if importance_rows:
            con.executemany(
                "insert into evaluation.tuning_importances values (?, ?, ?, ?, ?)",
                importance_rows,
            )
        con.execute(
            "insert into evaluation.tuning_picks values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                pick["trial_number"],
                pick["run_id"],
                "mean rank",
                pick["pick_from"],
                json.dumps(pick["generator"], sort_keys=True),
                len(trials),
                int((trials["state"] == "complete").sum()),
                int((trials["state"] == "pruned").sum()),
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


# ----------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------


def _counted(study: optuna.Study) -> int:
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return len(study.get_trials(deepcopy=False, states=states))


def _durations(study: optuna.Study) -> list[float]:
    return [
        t.duration.total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.duration is not None
    ]


def search(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], tuple[float, float, float]],
    *,
    trials: int,
    timeout: float | None = None,
    storage: optuna.storages.BaseStorage | None = None,
) -> int:
    """Run trials until the study holds ``trials`` or the time left cannot fit another.

    Returns:
        How many trials this process ran.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    ran = 0
    while True:
        if storage is not None:
            recover_crashed_trials(study, storage)
        if _counted(study) >= trials:
            break
        remaining = None if deadline is None else deadline - time.monotonic()
        if not can_start_trial(remaining, _durations(study)):
            log.info(
                "tuning: %.0fs left of --timeout, less than a trial takes; stopping",
                max(remaining or 0.0, 0.0),
            )
            break
        study.optimize(objective, n_trials=1, gc_after_trial=True)
        ran += 1
    return ran


def tune(
    cfg: DatasetConfig,
    *,
    trials: int,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    search_only: bool = False,
) -> pipeline.StepResult:
    """Search the generator's settings, pick one trial, retrain it and judge it on the holdout.

    Args:
        cfg: The dataset configuration (its ``tuning:`` section sets the search).
        trials: The study's total number of trials (complete, pruned or running).
        timeout: Seconds this process may spend searching; no trial starts that the
            time left cannot fit (judged by the median of the complete trials).
        storage: An optuna storage URL (see :func:`open_storage`); by default the
            journal file ``<run_dir>/tuning.journal``.
        study_name: The study to create or join; ``<dataset>-<config hash>`` by default.
        search_only: Only run trials; leave the pick and the retrain to another call.

    Returns:
        The step's result; ``details`` holds the study name, the picked trial and run.

    Raises:
        ConfigError: The ``tuning:`` section is wrong.
        SynthError: No complete trial to pick from, or a pipeline step failed.
    """
    started = time.perf_counter()
    settings = TuningSettings.from_config(cfg)
    targets = targets_from_config(cfg)
    if not targets:
        raise ConfigError(
            "evaluation.targets",
            "names no prediction target, so the utility objective is undefined; give a "
            "column role: target or list evaluation.targets",
            str(cfg.path),
        )
    url = storage_url(cfg, storage)
    name = study_name or default_study_name(cfg)
    # This module logs one line per trial; optuna's own per-trial lines would repeat it.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = open_storage(url)
    study = open_study(backend, name, settings)
    with warehouse.connect(cfg.database, read_only=True) as con:
        train = con.execute(
            f"select * from {warehouse.quote_table(cfg.mart.table + '_train')}"
        ).df()
    fit_rows, validation = carve_validation(train, settings.validation_fraction, settings.seed)
    log.info(
        "tuning %s: study %s in %s; trials fit on %d train rows, validation slice %d rows",
        cfg.dataset,
        name,
        url,
        len(fit_rows),
        len(validation),
    )
    objective = Objective(cfg, settings, fit_rows, validation, targets)
    ran = search(study, objective, trials=trials, timeout=timeout, storage=backend)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = {s: states.count(s) for s in (TrialState.COMPLETE, TrialState.PRUNED)}
    details: dict[str, Any] = {
        "study": name,
        "storage": url,
        "ran": ran,
        "trials": len(states),
        "complete": counts[TrialState.COMPLETE],
        "pruned": counts[TrialState.PRUNED],
    }
    head = (
        f"tune: study {name} has {len(states)} trials ({details['complete']} complete, "
        f"{details['pruned']} pruned; {ran} run here)"
    )
    if search_only:
        seconds = time.perf_counter() - started
        return pipeline.StepResult("tune", seconds, f"{head}; {seconds:.0f}s", details)
    details |= _pick_and_retrain(cfg, study, settings)
    seconds = time.perf_counter() - started
    summary = (
        f"{head}; picked trial {details['pick']} (mean rank {details['mean_rank']:.2f} over "
        f"{details['ranked']} trials), retrained as run {details['run_id']}: "
        f"{details['holdout'].as_line()}; {seconds:.0f}s"
    )
    return pipeline.StepResult("tune", seconds, summary, details)


def _pick_and_retrain(
    cfg: DatasetConfig, study: optuna.Study, settings: TuningSettings
) -> dict[str, Any]:
    number, ranks = pick_trial(study, settings.pick_from)
    trial = study.trials[number]
    generator = dict(trial.user_attrs["generator"])
    generator["seed"] = cfg.generator.get("seed", 0)
    log.info(
        "tuning: picked trial %d (mean rank %.2f of %d %s trials): %s",
        number,
        ranks.loc[number, "mean_rank"],
        len(ranks),
        settings.pick_from,
        json.dumps(trial.params, sort_keys=True),
    )
    picked_cfg = dataclasses.replace(
        cfg, generator=generator, raw={**cfg.raw, "generator": generator}
    )
    run_id = pipeline.fit(picked_cfg).details["run_id"]
    pipeline.sample(picked_cfg, run_id=run_id)
    evaluated = pipeline.evaluate(picked_cfg, run_id=run_id)
    importances, note = param_importances(study)
    if note:
        log.info("tuning: parameter importances: %s", note)
    frame = trials_frame(study, ranks, number)
    with warehouse.connect(cfg.database) as con:
        write_tuning_tables(
            con,
            study,
            trials=frame,
            importances=importances,
            importance_note=note,
            pick={
                "trial_number": number,
                "run_id": run_id,
                "pick_from": settings.pick_from,
                "generator": generator,
            },
        )
    return {
        "pick": number,
        "mean_rank": float(ranks.loc[number, "mean_rank"]),
        "ranked": len(ranks),
        "run_id": run_id,
        "generator": generator,
        "holdout": evaluated.details["result"],
        "checks": evaluated.details["checks"],
    }
