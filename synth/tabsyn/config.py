"""Typed configuration of the TabSyn generator, read from the ``generator`` section.

Every default carries a comment saying where it comes from. Defaults are sized for a
CPU of a few cores and a mart of about 15,000 rows; the paper's values are noted where
they differ.

Example:
    >>> cfg = TabSynConfig.from_dict({"seed": 7, "vae": {"epochs": 5}})
    >>> cfg.vae.epochs
    5
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from synth.errors import ConfigError


@dataclass
class EncodingConfig:
    """How columns are turned into numbers before any training."""

    noise_std: float = 0.05  # std of the noise added to imputed values (transformed scale)
    max_categories: int = 50  # more levels than this and rare ones are grouped
    min_level_count: int = 10  # levels seen fewer times are grouped when grouping (k = 10)
    other_label: str = "other"  # label of the grouped level (text columns)
    min_rows: int = 2  # fewer training rows than this are refused
    warn_rows: int = 10  # fewer training rows than this are warned about


@dataclass
class VaeConfig:
    """The column-token VAE (stage 1)."""

    epochs: int = 40  # ~2-3 min on 2 idle CPU cores (NAFLD, 14k rows); the paper ran 4,000 (GPU)
    # Paper: 4096. On a CPU a step costs about the same per row from 1,024 up, while
    # 256-row steps are dominated by per-op overhead (and 4-10x slower per row with two
    # threads on a loaded machine), so 1,024 with a 3x learning rate learns most per second.
    batch_size: int = 1024
    lr: float = 3e-3  # Adam learning rate (paper: 1e-3 at batch 4096 over 4,000 epochs)
    weight_decay: float = 0.0  # Adam weight decay (paper: 0)
    token_dim: int = 4  # width of each column token (paper)
    layers: int = 2  # transformer layers per encoder / decoder (paper)
    heads: int = 1  # attention heads (paper)
    ff_width: int = 128  # feed-forward width inside each transformer layer (paper)
    beta_max: float = 1e-2  # starting KL weight (paper)
    beta_min: float = 1e-5  # floor of the KL weight (paper)
    beta_decay: float = 0.7  # KL weight multiplier when validation stalls (paper)
    beta_patience: int = 10  # epochs without validation gain before beta decays (paper)
    patience: int = 15  # stop after this many epochs without validation gain
    validation_fraction: float = 0.1  # share of the training frame held for validation


@dataclass
class DiffusionConfig:
    """The latent diffusion model (stage 2)."""

    # Sized on NAFLD (14k rows, 2 idle cores): ~4 min. The paper ran 10,000 epochs of
    # width 1,024 on a GPU. At a fixed CPU budget, a wider denoiser trained on a cosine
    # schedule gives the best raw decode (measured 2026-12-04, raw shape / trend error:
    # width 128 plateau 200 epochs 0.072 / 0.101; width 384 cosine 300 s 0.022 / 0.036).
    epochs: int = 300
    batch_size: int = 1024  # paper: 4096; per-row cost is flat from ~512 up on a CPU
    lr: float = 2e-3  # peak Adam learning rate (paper: 1e-3 with the plateau schedule)
    width: int = 384  # denoiser width w (paper: 1024; 384 keeps CPU sampling >2,000 rows/s)
    # "cosine": the learning rate falls from lr to 0 over all epochs' steps; "plateau":
    # the paper's schedule, multiplied by plateau_factor when validation loss stalls.
    schedule: str = "cosine"
    patience: int = 100  # stop after this many epochs without validation gain
    plateau_factor: float = 0.9  # learning-rate multiplier on a plateau (paper's search: 0.1-0.9)
    plateau_patience: int = 15  # epochs without gain before the learning rate drops (plateau)
    sigma_data: float = 0.5  # EDM data scale (paper)
    p_mean: float = -1.2  # mean of ln(sigma) during training (paper)
    p_std: float = 1.2  # std of ln(sigma) during training (paper)


@dataclass
class CorrDstConfig:
    """The CorrDst terms added to the diffusion loss; each can be switched off."""

    enabled: bool = False  # off: benefit not yet measured here; tuning or ablation turns it on
    alpha: float = 1.0  # weight of the correlation term (paper's search: 1e-2..1e6)
    beta: float = 1e-6  # weight of the moments term (paper's search: 1e-14..1e-2)
    moments: int = 2  # H, the highest moment compared (paper's search: 1..4)
    use_corr: bool = True  # include L_corr (ablation switch)
    use_dst: bool = True  # include L_dst (ablation switch)


@dataclass
class SamplingConfig:
    """The stochastic Heun sampler."""

    # Noise levels from sigma_max to sigma_min (paper: 50). On NAFLD 10 steps decode as
    # well as 25 (raw shape error 0.022 vs 0.025) and sample 2.5x faster.
    steps: int = 10
    batch_size: int = 4096  # rows denoised at once
    sigma_max: float = 80.0  # largest noise level (paper)
    sigma_min: float = 0.002  # smallest noise level (paper)
    rho: float = 7.0  # spacing of noise levels (paper)
    s_churn: float = 1.0  # stochasticity of each step (paper's code)
    # "sample": draw each category from the decoder's softmax (keeps rare levels and
    # missing rates); "argmax": the paper's most likely level (collapses rare levels).
    categorical: str = "sample"
    # Rank-match each decoded numeric column to the training marginal the encoder stored
    # (keeps the model's ranks, removes the VAE's reconstruction blur); False: raw decode.
    match_marginals: bool = True


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass
class TabSynConfig:
    """Everything the generator needs; ``from_dict`` reads the ``generator`` section."""

    seed: int = 0  # seeds training; sampling takes its own seed or falls back to this
    device: str = "auto"  # "auto": cuda when available, else cpu; or any torch device name
    threads: int = field(default_factory=_cpu_count)  # torch CPU threads
    log_every: int = 25  # one progress line per this many epochs
    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    vae: VaeConfig = field(default_factory=VaeConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    corrdst: CorrDstConfig = field(default_factory=CorrDstConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    @classmethod
    def from_dict(cls, mapping: dict[str, Any] | None, key: str = "generator") -> TabSynConfig:
        """Build a configuration from a plain mapping, checking every key and type.

        A ``profile`` key (``"default"`` or ``"fast"``) picks a preset first; the other
        keys then override it.

        Args:
            mapping: The ``generator`` section of the dataset configuration.
            key: Where the mapping sits in the file, used in error messages.

        Returns:
            The typed configuration.

        Raises:
            ConfigError: A key is unknown or a value has the wrong type or range; the
                message names the full key path, e.g. ``generator.vae.epochs``.

        Example:
            >>> TabSynConfig.from_dict({"profile": "fast"}).vae.epochs
            60
        """
        mapping = dict(mapping or {})
        if not isinstance(mapping, dict):
            raise ConfigError(key, "must be a mapping of settings.")
        profile = mapping.pop("profile", "default")
        if profile not in PROFILES:
            raise ConfigError(
                f"{key}.profile", f"unknown profile {profile!r}; use one of {sorted(PROFILES)}."
            )
        base = copy.deepcopy(PROFILES[profile])
        merged = _merge(base, mapping)
        cfg = _build(cls, merged, key)
        _check(cfg, key)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain nested mapping of every setting (for saving and run records)."""
        return dataclasses.asdict(self)


# Presets: "fast" is for tests and smoke runs (seconds on two cores).
PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "fast": {
        "vae": {"epochs": 60, "batch_size": 64, "lr": 3e-3, "ff_width": 32, "patience": 60},
        "diffusion": {"epochs": 60, "batch_size": 64, "width": 64, "patience": 60},
        "sampling": {"steps": 12},
        "log_every": 10,
    },
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(name), dict):
            base[name] = _merge(dict(base[name]), value)
        else:
            base[name] = value
    return base


def _build(cls: type, mapping: Any, key: str) -> Any:
    if not isinstance(mapping, dict):
        raise ConfigError(key, f"must be a mapping, got {type(mapping).__name__}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}", f"unknown setting; known ones are {sorted(fields)}."
        )
    values = {}
    for name, value in mapping.items():
        hint = hints[name]
        path = f"{key}.{name}"
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, path)
        else:
            values[name] = _coerce(value, hint, path)
    return cls(**values)


def _coerce(value: Any, hint: Any, path: str) -> Any:
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return None
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, str):
            return value
    names = " or ".join(getattr(k, "__name__", str(k)) for k in allowed)
    raise ConfigError(path, f"must be {names}, got {value!r} ({type(value).__name__}).")


def _positive(cfg: Any, names: str, key: str) -> None:
    for name in names.split():
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"{key}.{name}", "must be greater than zero.")


def _check(cfg: TabSynConfig, key: str) -> None:
    if cfg.device != "auto" and not cfg.device.startswith(("cpu", "cuda", "mps")):
        raise ConfigError(f"{key}.device", "must be 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    _positive(cfg, "threads log_every", key)
    _positive(cfg.encoding, "max_categories min_level_count min_rows warn_rows", f"{key}.encoding")
    _positive(
        cfg.vae,
        "epochs batch_size lr token_dim layers heads ff_width beta_max beta_min "
        "beta_decay beta_patience patience",
        f"{key}.vae",
    )
    if cfg.vae.token_dim % cfg.vae.heads:
        raise ConfigError(f"{key}.vae.heads", "must divide vae.token_dim.")
    if not 0.0 <= cfg.vae.validation_fraction < 1.0:
        raise ConfigError(f"{key}.vae.validation_fraction", "must be in [0, 1).")
    _positive(
        cfg.diffusion,
        "epochs batch_size lr width patience plateau_factor plateau_patience sigma_data p_std",
        f"{key}.diffusion",
    )
    _positive(cfg.sampling, "steps batch_size sigma_max sigma_min rho", f"{key}.sampling")
    if cfg.diffusion.schedule not in ("cosine", "plateau"):
        raise ConfigError(f"{key}.diffusion.schedule", "must be 'cosine' or 'plateau'.")
    if cfg.sampling.categorical not in ("sample", "argmax"):
        raise ConfigError(f"{key}.sampling.categorical", "must be 'sample' or 'argmax'.")
    if cfg.sampling.steps < 2:
        raise ConfigError(f"{key}.sampling.steps", "must be at least 2.")
    if not 1 <= cfg.corrdst.moments <= 4:
        raise ConfigError(f"{key}.corrdst.moments", "must be between 1 and 4.")
    if cfg.corrdst.alpha < 0 or cfg.corrdst.beta < 0:
        raise ConfigError(f"{key}.corrdst", "alpha and beta must not be negative.")
