"""Exact row distances and nearest-record search, shared by the metrics and the attacks.

The distance is the one of ``sql/dcr.sql``: per column, ``|a - b| / (hi - lo)`` capped at
1 for numbers and dates (0/1 when ``hi == lo``), 0/1 for categories, a missing value
against a present one 1 and missing against missing 0; a row's distance is the mean over
the columns. ``lo`` and ``hi`` come from the table the caller names (the metrics use the
searched table itself, as SDMetrics does; the attacks use the real rows). With
``clip=True`` values are first clipped into ``[lo, hi]`` (the attacks' convention, which
makes the distance an L1 distance of an embedding).

The search is exact. Reference rows are sorted by their categories and cut into blocks;
per query and block a lower bound (categories absent from the block, distance to the
block's numeric box) decides which blocks can hold a closer row. Surviving blocks are
measured in float32 with torch (one matrix product for categories and missing values,
``torch.cdist`` with p = 1 for numbers clipped into the range), nearest blocks first, so
that the bound tightens as the search goes. Every pair whose float32 distance could
decide the answer, given a bound on the rounding error and on what clipping hides, is
then measured again in float64 term by term, as the SQL macro does. Ties are broken by
the lower reference row number.

Example:
    >>> space = DistanceSpace(columns, scale_from=train)  # doctest: +SKIP
    >>> d, idx = nearest(space.encode(synthetic), space.encode(train), k=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from synth.errors import DataError
from synth.schema import ColumnSpec

log = logging.getLogger(__name__)

# Reference rows per block of the search (the unit of pruning and of one torch call).
BLOCK_ROWS = 1024
# Query rows measured together against one block.
QUERY_ROWS = 1024
_MISSING = object()


@dataclass(frozen=True)
class Encoded:
    """Rows ready for the search, under one :class:`DistanceSpace`.

    Attributes:
        values: Float64 values of the numeric columns (NaN missing), clipped if the space
            clips; shape (n, numeric columns).
        scaled: The same scaled to [0, 1] by ``(v - lo) / (hi - lo)``, clipped, missing 0;
            float32, only the columns with ``hi > lo``.
        missing: 1.0 where a value of ``scaled`` is missing, else 0.0 (float32).
        codes: Category codes (0 is missing), including numbers with ``hi == lo``;
            int64, shape (n, coded columns).
        slack: Per row, the most that clipping into [0, 1] can hide of its distance to
            any row (0 when every value lies in range, or when the space clips).
    """

    values: np.ndarray
    scaled: np.ndarray
    missing: np.ndarray
    codes: np.ndarray
    slack: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


class DistanceSpace:
    """Columns, their scales and category codes: everything two tables need to compare.

    Args:
        columns: The columns to compare; identifiers are dropped.
        scale_from: Rows whose min..max range scales each number (NaN ignored).
        clip: Clip numbers into that range before comparing (the attacks' convention);
            without it, differences are capped at 1 (the metrics' and SQL's).

    Raises:
        DataError: No column is left once identifiers are dropped, or ``scale_from``
            lacks one.
    """

    def __init__(
        self, columns: Sequence[ColumnSpec], scale_from: pd.DataFrame, *, clip: bool = False
    ) -> None:
        self.columns = [c for c in columns if not c.is_identifier]
        if not self.columns:
            raise DataError("no column to measure a distance on: every column is an identifier")
        self.clip = clip
        self.bounds: dict[str, tuple[float, float]] = {}
        for spec in self.columns:
            if spec.kind == "categorical":
                continue
            if spec.name not in scale_from.columns:
                raise DataError(
                    "the rows that scale the distance lack this column", column=spec.name
                )
            observed = _floats(scale_from[spec.name])
            observed = observed[~np.isnan(observed)]
            self.bounds[spec.name] = (
                (float(observed.min()), float(observed.max())) if len(observed) else (0.0, 0.0)
            )
        # Numbers with a positive width are measured as numbers; the rest as codes.
        self.numeric = [
            c.name for c in self.columns if c.name in self.bounds and _width(self.bounds[c.name])
        ]
        self.coded = [c.name for c in self.columns if c.name not in self.numeric]
        self._levels: dict[str, dict[object, int]] = {name: {} for name in self.coded}
        # Float64 recheck order: the columns as given, as the SQL macro sums them.
        self._order = [
            ("n", self.numeric.index(c.name))
            if c.name in self.numeric
            else ("c", self.coded.index(c.name))
            for c in self.columns
        ]

    def encode(self, frame: pd.DataFrame) -> Encoded:
        """Encode the rows of ``frame`` (numbers and dates as floats, categories as values).

        Raises:
            DataError: The frame lacks a column of the space.
        """
        for spec in self.columns:
            if spec.name not in frame.columns:
                raise DataError("the rows lack this column", column=spec.name)
        n = len(frame)
        values = np.empty((n, len(self.numeric)))
        scaled = np.zeros((n, len(self.numeric)), dtype=np.float32)
        missing = np.zeros((n, len(self.numeric)), dtype=np.float32)
        slack = np.zeros(n)
        for j, name in enumerate(self.numeric):
            lo, hi = self.bounds[name]
            raw = _floats(frame[name])
            absent = np.isnan(raw)
            if self.clip:
                raw = np.clip(raw, lo, hi)
            values[:, j] = raw
            unit = (raw - lo) / (hi - lo)
            inside = np.clip(unit, 0.0, 1.0)
            slack += np.where(absent, 0.0, np.minimum(np.abs(unit - inside), 1.0))
            scaled[:, j] = np.where(absent, 0.0, inside)
            missing[:, j] = absent
        codes = np.zeros((n, len(self.coded)), dtype=np.int64)
        for j, name in enumerate(self.coded):
            codes[:, j] = self._codes(name, frame[name])
        return Encoded(values, scaled, missing, codes, slack)

    def _codes(self, name: str, series: pd.Series) -> np.ndarray:
        """Codes of one coded column; new levels are added, 0 is missing."""
        levels = self._levels[name]
        if name in self.bounds:  # a number of zero width: compare the values themselves
            raw = _floats(series)
            if self.clip:
                raw = np.clip(raw, *self.bounds[name])
            keys: list[object] = [_MISSING if np.isnan(v) else float(v) for v in raw]
        else:
            absent = pd.isna(series).to_numpy()
            keys = [
                _MISSING if na else v
                for v, na in zip(series.astype(object).to_numpy(), absent, strict=True)
            ]
        levels.setdefault(_MISSING, 0)
        return np.fromiter(
            (levels.setdefault(key, len(levels)) for key in keys), dtype=np.int64, count=len(keys)
        )

    def n_levels(self) -> list[int]:
        """Number of codes (missing included) seen so far in each coded column."""
        return [max(len(self._levels[name]), 1) for name in self.coded]

    def exact(
        self, rows: Encoded, reference: Encoded, row_index: np.ndarray, ref_index: np.ndarray
    ) -> np.ndarray:
        """Float64 distances of the pairs ``(rows[i], reference[j])``, term by term."""
        total = np.zeros(len(row_index))
        for kind, j in self._order:
            if kind == "c":
                total += rows.codes[row_index, j] != reference.codes[ref_index, j]
                continue
            lo, hi = self.bounds[self.numeric[j]]
            x, y = rows.values[row_index, j], reference.values[ref_index, j]
            x_missing, y_missing = np.isnan(x), np.isnan(y)
            with np.errstate(invalid="ignore"):
                term = np.minimum(np.abs(x - y) / (hi - lo), 1.0)
            term = np.where(x_missing | y_missing, 1.0, term)
            total += np.where(x_missing & y_missing, 0.0, term)
        return total / len(self._order)


def nearest(
    space: DistanceSpace,
    rows: Encoded,
    reference: Encoded,
    k: int = 1,
    *,
    device: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact distances and row numbers of each row's ``k`` closest reference rows.

    Args:
        space: The space both tables were encoded in.
        rows: Rows to measure.
        reference: Rows to search.
        k: How many neighbours; at most ``len(reference)`` are returned.
        device: Torch device of the float32 stage (``"cpu"`` by default, or ``"cuda"``).

    Returns:
        ``(distances, indices)``, each of shape (len(rows), min(k, len(reference))),
        ascending per row; ties go to the lower reference row number.
    """
    k = min(k, len(reference))
    if len(rows) == 0 or k == 0:
        return np.zeros((len(rows), k)), np.zeros((len(rows), k), dtype=np.int64)
    search = _BlockSearch(space, rows, reference, device)
    (row_index, ref_index), _ = search.run(k=k)
    exact = space.exact(rows, reference, row_index, ref_index)
    ordered = np.lexsort((ref_index, exact, row_index))
    row_index, ref_index, exact = row_index[ordered], ref_index[ordered], exact[ordered]
    starts = np.searchsorted(row_index, np.arange(len(rows)))
    take = starts[:, None] + np.arange(k)[None, :]
    return exact[take], ref_index[take]


def within(
    space: DistanceSpace,
    rows: Encoded,
    reference: Encoded,
    limit: np.ndarray,
    *,
    device: str | None = None,
) -> np.ndarray:
    """For each row, whether some reference row lies at an exact distance <= ``limit``.

    Args:
        space: The space both tables were encoded in.
        rows: Rows to measure.
        reference: Rows to search.
        limit: One distance per row (a mean over columns, as :func:`nearest` returns).
        device: Torch device of the float32 stage.

    Returns:
        Boolean array of length ``len(rows)``.
    """
    found = np.zeros(len(rows), dtype=bool)
    if len(rows) == 0 or len(reference) == 0:
        return found
    search = _BlockSearch(space, rows, reference, device)
    (row_index, ref_index), decided = search.run(limit=np.asarray(limit, dtype=np.float64))
    found[decided] = True
    exact = space.exact(rows, reference, row_index, ref_index)
    found[row_index[exact <= limit[row_index]]] = True
    return found


# --------------------------------------------------------------------------- the search


class _BlockSearch:
    """Float32 block search with per-block lower bounds; returns candidate pairs."""

    def __init__(
        self, space: DistanceSpace, rows: Encoded, reference: Encoded, device: str | None
    ) -> None:
        self.device = torch.device(device or "cpu")
        self.n_terms = len(space.columns)
        n_levels = space.n_levels()
        offsets = np.concatenate([[0], np.cumsum(n_levels)]).astype(np.int64)
        # Rounding of float32 sums of at most n_terms terms in [0, 1], with room to spare.
        self.tolerance = 1e-6 + 4.0 * self.n_terms**2 * float(np.finfo(np.float32).eps)

        # Reference rows sorted by category (fewest levels first), then by one number.
        keys = [reference.scaled[:, 0]] if reference.scaled.shape[1] else []
        by_levels = np.argsort(n_levels, kind="stable")
        keys += [reference.codes[:, j] for j in by_levels[::-1]]
        self.order = np.lexsort(keys) if keys else np.arange(len(reference))
        ref = _features(reference, self.order, offsets, n_levels, self.device)
        self.ref = ref
        self.ref_slack_rows = torch.as_tensor(
            reference.slack[self.order], dtype=torch.float32, device=self.device
        )
        self.rows = _features(rows, np.arange(len(rows)), offsets, n_levels, self.device)
        self.row_slack = torch.as_tensor(rows.slack, dtype=torch.float32, device=self.device)
        query_keys = [rows.scaled[:, 0]] if rows.scaled.shape[1] else []
        query_keys += [rows.codes[:, j] for j in by_levels[::-1]]
        self.query_order = np.lexsort(query_keys) if query_keys else np.arange(len(rows))
        self.blocks = _block_bounds(ref, len(reference), offsets)

    def lower_bounds(self, query: torch.Tensor) -> torch.Tensor:
        """Lower bound (summed over columns) of each query row's distance to each block."""
        rows, blocks = self.rows, self.blocks
        bound = torch.zeros((len(query), blocks.count), dtype=torch.float32, device=self.device)
        if blocks.present_levels is not None:
            bound += rows.n_coded - rows.onehot[query] @ blocks.present_levels.T
        if rows.scaled.shape[1]:
            x = rows.scaled[query][:, None, :]
            absent = rows.missing[query][:, None, :] > 0
            outside = (blocks.low[None] - x).clamp_min(0) + (x - blocks.high[None]).clamp_min(0)
            outside = torch.where(blocks.any_present[None], outside, 1.0)
            outside = torch.where(absent, (~blocks.any_missing[None]).float(), outside)
            bound += outside.sum(dim=2)
        return bound

    def approx(self, query: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Float32 summed distances of query rows to reference rows start..stop."""
        rows, ref = self.rows, self.ref
        out = torch.full(
            (len(query), stop - start),
            float(rows.n_coded),
            dtype=torch.float32,
            device=self.device,
        )
        left = rows.gemm[query]
        if left.shape[1]:
            out.addmm_(left, ref.gemm_right[start:stop].T)
        if rows.scaled.shape[1]:
            out += torch.cdist(rows.scaled[query], ref.scaled[start:stop], p=1)
        return out

    def run(
        self, *, k: int = 1, limit: np.ndarray | None = None
    ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Candidate pairs (row, reference row in input order), and rows already decided.

        Without ``limit`` (k nearest): every pair that may be among a row's k nearest.
        With ``limit`` (within): a row is decided once some pair is surely within its
        limit; for the other rows, every pair that may be within it.
        """
        tol = self.tolerance
        n_rows = len(self.query_order)
        found: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        decided = torch.zeros(n_rows, dtype=torch.bool, device=self.device)
        final = torch.zeros(n_rows, device=self.device)
        if limit is not None:
            limit_sum = torch.as_tensor(limit * self.n_terms, device=self.device).float()
        for start in range(0, n_rows, QUERY_ROWS):
            query = torch.as_tensor(
                self.query_order[start : start + QUERY_ROWS], device=self.device
            )
            bounds = self.lower_bounds(query)
            open_rows = torch.ones(len(query), dtype=torch.bool, device=self.device)
            if limit is None:
                bound = torch.full((len(query),), float("inf"), device=self.device)
                best = torch.full((len(query), k), float("inf"), device=self.device)
            else:
                bound = limit_sum[query] + tol
            smallest, blocks = torch.sort(bounds.min(dim=0).values)
            for lowest, block in zip(smallest.tolist(), blocks.tolist(), strict=True):
                if not bool(open_rows.any()) or lowest > float(bound[open_rows].max()) + tol:
                    break
                active = (bounds[:, block] <= bound + tol) & open_rows
                if not bool(active.any()):
                    continue
                local = torch.nonzero(active).squeeze(1)
                first, last = self.blocks.starts[block], self.blocks.stops[block]
                values = self.approx(query[local], first, last)
                upper = (
                    values
                    + self.row_slack[query[local]][:, None]
                    + self.ref_slack_rows[first:last][None, :]
                    + tol
                )
                if limit is None:
                    merged = torch.cat([best[local], upper], dim=1)
                    best[local] = torch.topk(merged, k, dim=1, largest=False).values
                    bound[local] = best[local][:, k - 1]
                    keep = values - tol <= bound[local][:, None]
                else:
                    sure = (upper < bound[local][:, None] - 2 * tol).any(dim=1)
                    open_rows[local[sure]] = False
                    keep = (values - tol <= bound[local][:, None]) & ~sure[:, None]
                hit_row, hit_ref = torch.nonzero(keep, as_tuple=True)
                found.append((query[local[hit_row]], hit_ref + first, values[hit_row, hit_ref]))
            final[query] = bound
            decided[query] = ~open_rows
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return (empty, empty), decided.cpu().numpy()
        rows = torch.cat([f[0] for f in found])
        refs = torch.cat([f[1] for f in found])
        values = torch.cat([f[2] for f in found])
        keep = (values - tol <= final[rows]) & ~decided[rows]
        rows, refs = rows[keep].cpu().numpy(), refs[keep].cpu().numpy()
        return (rows, self.order[refs]), decided.cpu().numpy()


@dataclass
class _Features:
    """Float32 features of rows on the torch device."""

    scaled: torch.Tensor  # (n, numbers) in [0, 1], missing 0
    missing: torch.Tensor  # (n, numbers) 1.0 where missing
    onehot: torch.Tensor  # (n, levels) of the coded columns
    gemm: torch.Tensor  # left factor: [-onehot, missing, (1 - missing)(1 - x)]
    gemm_right: torch.Tensor  # right factor: [onehot, (1 - missing)(1 - y), missing]
    n_coded: int


def _features(
    encoded: Encoded,
    order: np.ndarray,
    offsets: np.ndarray,
    n_levels: list[int],
    device: torch.device,
) -> _Features:
    """Build float32 features; the product of the factors plus L1 is the summed distance.

    Per number (x, y scaled into [0, 1], missing as 0, indicators m, n): L1 gives |x - y|
    when both are present, y or x when one is missing, 0 when both are. Adding
    m (1 - n)(1 - y) + (1 - m) n (1 - x) turns the one-missing cases into 1. Per coded
    column the mismatch is 1 - onehot_a . onehot_b.
    """
    n = len(order)
    scaled = torch.as_tensor(encoded.scaled[order], device=device)
    missing = torch.as_tensor(encoded.missing[order], device=device)
    onehot = torch.zeros((n, int(offsets[-1])), dtype=torch.float32, device=device)
    if encoded.codes.shape[1]:
        columns = torch.as_tensor(encoded.codes[order] + offsets[:-1][None, :], device=device)
        onehot.scatter_(1, columns, 1.0)
    present_rest = (1 - missing) * (1 - scaled)
    return _Features(
        scaled=scaled,
        missing=missing,
        onehot=onehot,
        gemm=torch.cat([-onehot, missing, present_rest], dim=1),
        gemm_right=torch.cat([onehot, present_rest, missing], dim=1),
        n_coded=len(n_levels) if encoded.codes.shape[1] else 0,
    )


@dataclass
class _Blocks:
    """Per block of sorted reference rows: what its rows can be at least."""

    count: int
    starts: list[int]
    stops: list[int]
    present_levels: torch.Tensor | None  # (blocks, levels) 1.0 where a level occurs
    low: torch.Tensor  # (blocks, numbers) smallest present scaled value
    high: torch.Tensor  # largest present scaled value
    any_present: torch.Tensor  # (blocks, numbers) some value present
    any_missing: torch.Tensor  # some value missing


def _block_bounds(ref: _Features, n: int, offsets: np.ndarray) -> _Blocks:
    starts = list(range(0, n, BLOCK_ROWS))
    stops = [min(s + BLOCK_ROWS, n) for s in starts]
    count = len(starts)
    pad = count * BLOCK_ROWS - n

    def blocked(tensor: torch.Tensor, fill: float) -> torch.Tensor:
        padded = torch.nn.functional.pad(tensor, (0, 0, 0, pad), value=fill)
        return padded.reshape(count, BLOCK_ROWS, tensor.shape[1])

    present = ref.missing == 0
    low = blocked(torch.where(present, ref.scaled, float("inf")), float("inf")).amin(dim=1)
    high = blocked(torch.where(present, ref.scaled, float("-inf")), float("-inf")).amax(dim=1)
    levels = None
    if ref.n_coded:
        levels = (blocked(ref.onehot, 0.0).amax(dim=1) > 0).float()
    return _Blocks(
        count=count,
        starts=starts,
        stops=stops,
        present_levels=levels,
        low=low,
        high=high,
        any_present=blocked(present.float(), 0.0).amax(dim=1) > 0,
        any_missing=blocked(ref.missing, 0.0).amax(dim=1) > 0,
    )


def _floats(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _width(bounds: tuple[float, float]) -> bool:
    return bounds[1] > bounds[0]
