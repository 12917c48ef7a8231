"""A Gaussian copula baseline with TabSyn's API, encoding and decoding; it fits in seconds.

Every modelled input becomes a standard-normal score: numeric columns through the shared
quantile transform, categorical codes through their frequency intervals (a uniform draw
inside the level's interval, then the normal quantile). One correlation matrix of those
scores is the whole model; sampling draws correlated normals and maps them back.

Example:
    >>> model = GaussianCopula(seed=3).fit(frame, specs)   # doctest: +SKIP
    >>> synthetic = model.sample(500, seed=4)              # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import special

from synth.errors import ConfigError, DataError, NotFittedError
from synth.model_io import load_payload, save_payload
from synth.schema import ColumnSpec
from synth.tabsyn.config import EncodingConfig, _build
from synth.tabsyn.encoding import CLIP_POLICY, TableEncoder

logger = logging.getLogger(__name__)

_FORMAT = "synth.copula/1"
_EDGE = 1e-7


class GaussianCopula:
    """Gaussian copula over the encoded table (the baseline generator)."""

    def __init__(self, seed: int = 0, encoding: EncodingConfig | None = None) -> None:
        self.seed = seed
        self.encoding = encoding or EncodingConfig()
        self.fit_report: dict[str, Any] = {}
        self.sample_report: dict[str, Any] = {}
        self._encoder: TableEncoder | None = None
        self._corr: np.ndarray | None = None
        self._edges: list[np.ndarray] = []

    @classmethod
    def from_dict(cls, mapping: dict[str, Any] | None, key: str = "generator") -> GaussianCopula:
        """Build from a mapping with ``seed`` and ``encoding`` keys (other keys refused).

        Raises:
            ConfigError: A key is unknown or ill-typed; the message names its full path.
        """
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - {"seed", "encoding"})
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", "unknown setting; known: encoding, seed.")
        seed = mapping.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"{key}.seed", f"must be int, got {seed!r}.")
        encoding = _build(EncodingConfig, mapping.get("encoding", {}), f"{key}.encoding")
        return cls(seed=seed, encoding=encoding)

    def fit(self, table: pd.DataFrame, columns: Sequence[ColumnSpec]) -> GaussianCopula:
        """Learn the marginals and the correlation of the normal scores.

        Args:
            table: One row per person; columns not named in ``columns`` are ignored.
            columns: Column specs; identifier columns are never modelled.

        Returns:
            This model, fitted.

        Raises:
            DataError: The frame cannot be used (see :class:`TableEncoder`).
        """
        started = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        encoder = TableEncoder(self.encoding).fit(table, columns)
        num, cat = encoder.transform(table, rng)
        self._edges = []
        scores = [num.astype(np.float64)]
        for j in range(cat.shape[1]):
            counts = np.bincount(cat[:, j], minlength=encoder.cardinalities[j])
            edges = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
            self._edges.append(edges)
            uniform = rng.uniform(edges[cat[:, j]], edges[cat[:, j] + 1])
            scores.append(special.ndtri(np.clip(uniform, _EDGE, 1 - _EDGE))[:, None])
        matrix = np.concatenate(scores, axis=1)
        self._corr = _correlation(matrix)
        self._encoder = encoder
        self.fit_report = {
            "rows": len(table),
            "numeric_inputs": list(encoder.num_names),
            "categorical_inputs": list(encoder.cat_names),
            "encoding": encoder.report,
            "clip_policy": CLIP_POLICY,
            "seconds_total": time.perf_counter() - started,
        }
        logger.info(
            "Gaussian copula fitted on %d rows, %d inputs, in %.1fs.",
            len(table),
            matrix.shape[1],
            self.fit_report["seconds_total"],
        )
        return self

    def sample(self, n: int, seed: int | None = None) -> pd.DataFrame:
        """Draw ``n`` synthetic rows; the same seed gives identical rows.

        Raises:
            NotFittedError: The model was not fitted or loaded.
        """
        encoder = self._fitted()
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise DataError(f"n must be a whole number of rows >= 0, got {n!r}.")
        started = time.perf_counter()
        rng = np.random.default_rng(self.seed if seed is None else seed)
        assert self._corr is not None
        dims = self._corr.shape[0]
        z = rng.standard_normal((int(n), dims)) @ _root(self._corr).T if dims else None
        n_num = len(encoder.num_names)
        num = z[:, :n_num] if z is not None else np.zeros((n, 0))
        cat = np.zeros((n, len(self._edges)), dtype=np.int64)
        for j, edges in enumerate(self._edges):
            uniform = special.ndtr(z[:, n_num + j])
            cat[:, j] = np.clip(
                np.searchsorted(edges, uniform, side="right") - 1, 0, len(edges) - 2
            )
        frame, clipped = encoder.inverse(num.astype(np.float32), cat)
        self.sample_report = {
            "rows": n,
            "seconds": time.perf_counter() - started,
            "clip_policy": CLIP_POLICY,
            "clipped": clipped,
        }
        return frame

    def save(self, path: str | Path) -> None:
        """Write the fitted model to one file (plain tensors and values).

        Raises:
            NotFittedError: The model was not fitted.
        """
        encoder = self._fitted()
        payload = {
            "format": _FORMAT,
            "seed": self.seed,
            "encoder": encoder.state_dict(),
            "corr": torch.from_numpy(self._corr),
            "edges": [torch.from_numpy(e) for e in self._edges],
            "fit_report": self.fit_report,
        }
        save_payload(path, payload)

    @classmethod
    def load(cls, path: str | Path) -> GaussianCopula:
        """Read a model written by :meth:`save`.

        Raises:
            SynthError: The file is not a saved Gaussian copula.
        """
        payload = load_payload(path, _FORMAT, "Gaussian copula")
        encoder = TableEncoder.from_state(payload["encoder"])
        model = cls(seed=payload["seed"], encoding=encoder.config)
        model._encoder = encoder
        model._corr = payload["corr"].numpy()
        model._edges = [e.numpy() for e in payload["edges"]]
        model.fit_report = payload["fit_report"]
        return model

    def _fitted(self) -> TableEncoder:
        if self._encoder is None:
            raise NotFittedError("This copula is not fitted; call fit() or load() first.")
        return self._encoder


def _correlation(matrix: np.ndarray) -> np.ndarray:
    dims = matrix.shape[1]
    if dims == 0:
        return np.zeros((0, 0))
    centred = matrix - matrix.mean(0)
    std = centred.std(0)
    std[std == 0] = 1.0
    standard = centred / std
    corr = standard.T @ standard / len(matrix)
    np.fill_diagonal(corr, 1.0)
    return corr


def _root(corr: np.ndarray) -> np.ndarray:
    """A matrix square root of the correlation (eigenvalues floored, so never fails)."""
    values, vectors = np.linalg.eigh(corr)
    return vectors * np.sqrt(np.clip(values, 1e-9, None))
