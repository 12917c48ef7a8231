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

from synth.errors import DataError, NotFittedError, SynthError
from synth.schema import ColumnSpec
from synth.tabsyn.config import TabSynConfig
from synth.tabsyn.diffusion import EDM, heun_sample, train_diffusion
from synth.tabsyn.encoding import CLIP_POLICY, TableEncoder
from synth.tabsyn.vae import TokenVAE, train_vae

logger = logging.getLogger(__name__)

_FORMAT = "synth.tabsyn/1"
_MIN_VALIDATION_ROWS = 20  # smaller frames validate on the training rows themselves


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; any other name is used as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class TabSyn:
    """TabSyn (column-token VAE + latent EDM diffusion), with optional CorrDst losses.

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
        if self._vae is not None and self._edm is not None and n:
            num, cat = self._generate(n, generator)
        frame, clipped = encoder.inverse(num, cat)
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
        nums, cats = [], []
        with torch.inference_mode():
            for begin in range(0, n, self.config.sampling.batch_size):
                part = x[begin : begin + self.config.sampling.batch_size].to(self._device)
                z = (part * self._scale + self._mean).reshape(-1, tokens, self.config.vae.token_dim)
                num, logits = self._vae.decode(z)
                nums.append(num.float().cpu())
                codes = [lg.argmax(-1) for lg in logits]
                cats.append(torch.stack(codes, 1).cpu() if codes else torch.zeros(len(z), 0))
        return torch.cat(nums).numpy(), torch.cat(cats).long().numpy()

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
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> TabSyn:
        """Read a model written by :meth:`save`; it samples exactly what the saved one did.

        Raises:
            SynthError: The file is not a saved TabSyn model.
        """
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise SynthError(f"{path} is not a TabSyn model saved by this version.")
        model = cls(TabSynConfig.from_dict(payload["config"]))
        model._encoder = TableEncoder.from_state(payload["encoder"])
        model.fit_report = payload["fit_report"]
        model._device = resolve_device(model.config.device)
        model._scale = payload["scale"]
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
