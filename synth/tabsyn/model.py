"""The TabSyn generator: encode the table, train the VAE, train latent diffusion, sample."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from synth.errors import DataError, NotFittedError
from synth.model_io import load_payload, save_payload
from synth.schema import ColumnSpec
from synth.tabsyn.config import TabSynConfig
from synth.tabsyn.diffusion import EDM, heun_sample, train_diffusion
from synth.tabsyn.encoding import CLIP_POLICY, TableEncoder
from synth.tabsyn.vae import TokenVAE, train_vae

logger = logging.getLogger(__name__)

_FORMAT = "synth.tabsyn/2"
_MIN_VALIDATION_ROWS = 20  # smaller frames validate on the training rows themselves
_CALIBRATION_STEPS = 25  # fixed-point steps matching category shares (converges in ~10)
_SHARE_FLOOR = 1e-9  # keeps log(share) finite for a level never seen in training


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; any other name is used as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class TabSyn:
    """TabSyn (column-token VAE + latent EDM diffusion), with optional CorrDst losses.

    Sampling decodes the diffused latents with the VAE decoder, draws categories from its
    softmax and, by default (``sampling.match_marginals``), calibrates the marginals:
    category logits get per-level offsets so that the drawn shares match the training
    shares, and numbers are rank-matched to the stored training quantiles. The joint
    structure (which rows get which levels and ranks) is the model's. On a CPU budget
    the diffusion's own marginals are rougher (NAFLD: shape error 0.029 raw, 0.0035
    calibrated; see benchmarks/results/generator.md).

    Example:
        >>> cfg = TabSynConfig.from_dict({"profile": "fast", "seed": 1})
        >>> model = TabSyn(cfg).fit(frame, specs)             # doctest: +SKIP
        >>> synthetic = model.sample(1000, seed=2)            # doctest: +SKIP
        >>> model.save("runs/tabsyn.pt")                      # doctest: +SKIP
    """

    def __init__(self, config: TabSynConfig | None = None) -> None:
        self.config = config or TabSynConfig()
        self.fit_report: dict[str, Any] = {}
        self.sample_report: dict[str, Any] = {}
        self._encoder: TableEncoder | None = None
        self._vae: TokenVAE | None = None
        self._edm: EDM | None = None
        self._mean: torch.Tensor | None = None
        self._scale = 1.0
        self._shares: list[np.ndarray] = []
        self._device = torch.device("cpu")

    # ---------------------------------------------------------------- fit

    def fit(self, table: pd.DataFrame, columns: Sequence[ColumnSpec]) -> TabSyn:
        """Train the generator on a frame.

        Args:
            table: One row per person; columns not named in ``columns`` are ignored.
            columns: Column specs; identifier columns are never modelled.

        Returns:
            This model, fitted.

        Raises:
            DataError: The frame cannot be used (too few rows, a spec column missing,
                text in a numeric column); raised before any training.
            TrainingError: A loss became NaN or infinite during training.
        """
        cfg = self.config
        started = time.perf_counter()
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        self._device = resolve_device(cfg.device)
        encoder = TableEncoder(cfg.encoding).fit(table, columns)
        num, cat = encoder.transform(table, rng)
        self._encoder = encoder
        self.fit_report = {
            "device": str(self._device),
            "rows": len(table),
            "numeric_inputs": list(encoder.num_names),
            "categorical_inputs": list(encoder.cat_names),
            "encoding": encoder.report,
            "clip_policy": CLIP_POLICY,
            "corrdst": cfg.corrdst.enabled,
        }
        if not encoder.num_names and not encoder.cat_names:
            logger.warning("No column carries information to learn; sampling re-emits them.")
            self._vae = self._edm = None
            self.fit_report["seconds_total"] = time.perf_counter() - started
            return self
        logger.info(
            "Fitting TabSyn on %d rows: %d numeric and %d categorical inputs, device %s.",
            len(table),
            num.shape[1],
            cat.shape[1],
            self._device,
        )
        train_idx, valid_idx = self._split(len(table), rng)
        self.fit_report["validation_rows"] = len(valid_idx)
        # Training share of every level of every categorical input, for calibration.
        self._shares = [
            np.bincount(cat[:, j], minlength=size) / len(cat)
            for j, size in enumerate(encoder.cardinalities)
        ]
        num_t = torch.from_numpy(num).to(self._device)
        cat_t = torch.from_numpy(cat).to(self._device)

        vae = TokenVAE(num.shape[1], encoder.cardinalities, cfg.vae).to(self._device)
        self.fit_report["vae"] = train_vae(
            vae,
            (num_t[train_idx], cat_t[train_idx]),
            (num_t[valid_idx], cat_t[valid_idx]),
            cfg.vae,
            cfg.log_every,
        )
        vae.eval()
        with torch.no_grad():
            mu, _ = vae.encode(num_t, cat_t)
        latents = mu[:, 1:].flatten(1)  # (N, T * d), [CLS] dropped
        self._mean = latents[train_idx].mean(0)
        self._scale = float(2 * latents[train_idx].std().clamp_min(1e-6))  # overall std 0.5
        normed = (latents - self._mean) / self._scale

        edm = EDM(normed.shape[1], cfg.diffusion.width, cfg.diffusion.sigma_data)
        edm = edm.to(self._device)
        self.fit_report["diffusion"] = train_diffusion(
            edm,
            normed[train_idx].contiguous(),
            normed[valid_idx].contiguous(),
            cfg.diffusion,
            cfg.corrdst,
            cfg.log_every,
            cfg.seed,
        )
        edm.eval()
        self._vae, self._edm = vae, edm
        self.fit_report["seconds_total"] = time.perf_counter() - started
        logger.info(
            "TabSyn fitted in %.0fs (VAE %d epochs, diffusion %d epochs).",
            self.fit_report["seconds_total"],
            self.fit_report["vae"]["epochs"],
            self.fit_report["diffusion"]["epochs"],
        )
        return self

    def _split(self, rows: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        fraction = self.config.vae.validation_fraction
        every = torch.arange(rows, device=self._device)
        held = round(rows * fraction)
        if rows < _MIN_VALIDATION_ROWS or held < 1 or rows - held < 1:
            logger.warning(
                "Only %d rows: validating on the training rows themselves (no early-stopping "
                "signal); use at least %d rows for a real validation slice.",
                rows,
                _MIN_VALIDATION_ROWS,
            )
            return every, every
        order = torch.from_numpy(rng.permutation(rows)).to(self._device)
        return order[held:], order[:held]

    # ------------------------------------------------------------- sample

    def sample(self, n: int, seed: int | None = None) -> pd.DataFrame:
        """Draw synthetic rows.

        Args:
            n: Number of rows.
            seed: Seeds the draw; the same seed gives identical rows. Defaults to the
                configuration's seed.

        Returns:
            The non-identifier spec columns, in spec order, with the training dtypes.
            ``sample_report`` then holds the number of values clipped per column.

        Raises:
            NotFittedError: The model was not fitted or loaded.
        """
        encoder = self._fitted()
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise DataError(f"n must be a whole number of rows >= 0, got {n!r}.")
        n = int(n)
        started = time.perf_counter()
        torch.set_num_threads(self.config.threads)
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        num = np.zeros((n, len(encoder.num_names)), dtype=np.float32)
        cat = np.zeros((n, len(encoder.cat_names)), dtype=np.int64)
        rng = None
        if self._vae is not None and self._edm is not None and n:
            num, cat = self._generate(n, generator)
            if self.config.sampling.match_marginals:
                rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
        frame, clipped = encoder.inverse(num, cat, rng)
        seconds = time.perf_counter() - started
        self.sample_report = {
            "rows": n,
            "seconds": seconds,
            "rows_per_second": n / seconds if seconds else float("inf"),
            "clip_policy": CLIP_POLICY,
            "clipped": clipped,
        }
        if any(clipped.values()):
            logger.info("Clipped into bounds: %s", {k: v for k, v in clipped.items() if v})
        return frame

    def _generate(self, n: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        assert self._vae is not None and self._edm is not None and self._mean is not None
        dim = self._mean.shape[0]
        x = heun_sample(self._edm, n, dim, self.config.sampling, generator)
        tokens = dim // self.config.vae.token_dim
        nums, logits = [], []
        with torch.inference_mode():
            for begin in range(0, n, self.config.sampling.batch_size):
                part = x[begin : begin + self.config.sampling.batch_size].to(self._device)
                z = (part * self._scale + self._mean).reshape(-1, tokens, self.config.vae.token_dim)
                num, logit = self._vae.decode(z)  # (b, n_num), (b, n_cat, widest)
                nums.append(num.float().cpu())
                logits.append(logit.float().cpu())
        return torch.cat(nums).numpy(), self._levels(torch.cat(logits), generator).numpy()

    def _levels(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Category codes from (n, n_cat, widest) logits.

        ``argmax`` takes the most likely level. ``sample`` draws from the softmax; with
        ``match_marginals`` the logits of each column first get one offset per level,
        found by a few fixed-point steps, so that the mean softmax over the drawn rows
        equals the training share of each level (the row-to-row differences, hence the
        dependence on the other columns, are the model's).
        """
        if logits.shape[1] == 0:
            return torch.zeros(logits.shape[0], 0, dtype=torch.long)
        if self.config.sampling.categorical == "argmax":
            return logits.argmax(-1)
        if self.config.sampling.match_marginals and self._shares:
            logits = logits + self._offsets(logits)
        probs = torch.softmax(logits.flatten(0, 1), -1)
        draws = torch.multinomial(probs, 1, generator=generator)
        return draws.reshape(logits.shape[:2])

    def _offsets(self, logits: torch.Tensor) -> torch.Tensor:
        widest = logits.shape[2]
        target = torch.zeros(len(self._shares), widest, dtype=torch.float64)
        for j, share in enumerate(self._shares):
            target[j, : len(share)] = torch.from_numpy(np.asarray(share, dtype=np.float64))
        log_target = (target + _SHARE_FLOOR).log()
        offsets = torch.zeros_like(target)
        logits = logits.double()
        for _ in range(_CALIBRATION_STEPS):
            mean = torch.softmax(logits + offsets, -1).mean(0)  # (n_cat, widest)
            offsets = offsets + log_target - (mean + _SHARE_FLOOR).log()
        return offsets.float()

    def _fitted(self) -> TableEncoder:
        if self._encoder is None:
            raise NotFittedError("This TabSyn model is not fitted; call fit() or load() first.")
        return self._encoder

    # ---------------------------------------------------------- save/load

    def save(self, path: str | Path) -> None:
        """Write the fitted model to one file (plain tensors and values, no pickled code).

        Raises:
            NotFittedError: The model was not fitted.
        """
        encoder = self._fitted()
        payload = {
            "format": _FORMAT,
            "config": self.config.to_dict(),
            "encoder": encoder.state_dict(),
            "fit_report": self.fit_report,
            "vae": None if self._vae is None else _cpu(self._vae.state_dict()),
            "edm": None if self._edm is None else _cpu(self._edm.state_dict()),
            "mean": None if self._mean is None else self._mean.cpu(),
            "scale": self._scale,
            "shares": [torch.from_numpy(np.asarray(s, dtype=np.float64)) for s in self._shares],
        }
        save_payload(path, payload)

    @classmethod
    def load(cls, path: str | Path) -> TabSyn:
        """Read a model written by :meth:`save`; it samples exactly what the saved one did.

        Raises:
            SynthError: The file is not a saved TabSyn model.
        """
        payload = load_payload(path, _FORMAT, "TabSyn model")
        model = cls(TabSynConfig.from_dict(payload["config"]))
        model._encoder = TableEncoder.from_state(payload["encoder"])
        model.fit_report = payload["fit_report"]
        model._device = resolve_device(model.config.device)
        model._scale = payload["scale"]
        model._shares = [share.numpy() for share in payload["shares"]]
        if payload["vae"] is not None:
            encoder, cfg = model._encoder, model.config
            vae = TokenVAE(len(encoder.num_names), encoder.cardinalities, cfg.vae)
            vae.load_state_dict(payload["vae"])
            edm = EDM(payload["mean"].shape[0], cfg.diffusion.width, cfg.diffusion.sigma_data)
            edm.load_state_dict(payload["edm"])
            model._vae = vae.to(model._device).eval()
            model._edm = edm.to(model._device).eval()
            model._mean = payload["mean"].to(model._device)
        return model


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}
