"""Exact row distances and nearest-record search, shared by the metrics and the attacks.

The distance is the one of ``sql/dcr.sql``: per column, ``|a - b| / (hi - lo)`` capped at
1 for numbers and dates (0/1 when ``hi == lo``), 0/1 for categories, a missing value
against a present one 1 and missing against missing 0; a row's distance is the mean over
the columns. ``lo`` and ``hi`` come from the table the caller names (the metrics use the
searched table itself, as SDMetrics does; the attacks use the real rows). With
``clip=True`` values are first clipped into ``[lo, hi]`` (the attacks' convention, which
makes the distance an L1 distance of an embedding).

The search is exact and runs in two stages.

1. Exact keys (multi-index hashing). Every coded column, and the missing-value pattern of
   every number, adds 1 to the summed distance of two rows that differ on it. Dealt into
   g groups, these key columns give g joins of the rows with the reference rows on equal
   keys; by the pigeonhole principle every reference row closer than g (in summed
   distance) shares a whole group with the row, so a row whose k-th closest candidate,
   or whose limit, lies below g is settled by its candidates alone. g is the largest
   number of groups whose joins stay within a budget of pairs per row. A nearest search
   of at least 4 x ``KEY_PROBE_ROWS`` rows tries the keys on a sample of that many rows
   first and drops them when few of those settle (rows far from every reference row).
2. Blocks, for the rows the keys did not settle. Reference rows are sorted by their
   categories and cut into blocks; per query and block a lower bound (categories absent
   from the block, distance to the block's numeric box) decides which blocks can hold a
   closer row. Surviving blocks are measured in float32 with torch (one matrix product
   for categories and missing values, ``torch.cdist`` with p = 1 for numbers clipped
   into the range), nearest blocks first, starting from the bound the keys found, so
   that the bound tightens as the search goes.

Every pair whose float32 distance could decide the answer, given a bound on the rounding
error and on what clipping hides, is then measured again in float64 term by term, as the
SQL macro does. Ties are broken by the lower reference row number. On the CPU, the block
search of at least ``PARALLEL_ROWS`` rows runs in ``WORKERS`` threads, each on a share
of the rows, all reading one copy of the reference blocks.

Example:
    >>> space = DistanceSpace(columns, scale_from=train)  # doctest: +SKIP
    >>> rows, ref = space.encode(synthetic), space.encode(train)  # doctest: +SKIP
    >>> d, idx = nearest(space, rows, ref, k=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

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
# Threads that search shares of the rows side by side (torch and numpy release the GIL),
# each with one torch thread; searches of fewer rows than PARALLEL_ROWS run in one.
WORKERS = max(1, min(4, os.cpu_count() or 1))
PARALLEL_ROWS = 8192
_MISSING = object()
_T = TypeVar("_T")


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

    def take(self, index: np.ndarray) -> Encoded:
        """The rows at ``index``, in that order."""
        return Encoded(
            self.values[index],
            self.scaled[index],
            self.missing[index],
            self.codes[index],
            self.slack[index],
        )


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
        levels.setdefault(_MISSING, 0)
        if name in self.bounds:  # a number of zero width: compare the values themselves
            raw = _floats(series)
            if self.clip:
                raw = np.clip(raw, *self.bounds[name])
            local, uniques = pd.factorize(raw)
            keys: list[object] = [float(v) for v in uniques]
        else:
            if not isinstance(series.dtype, pd.CategoricalDtype):
                series = series.astype(object)
            local, uniques = pd.factorize(series)
            keys = list(uniques)
        lookup = np.fromiter(
            (levels.setdefault(key, len(levels)) for key in keys), dtype=np.int64, count=len(keys)
        )
        # factorize marks a missing value -1, which picks the appended 0.
        return np.append(lookup, 0)[local]

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
    (row_index, ref_index), bound, settled = _KeyStage(space, rows, reference).nearest(k)
    rest = np.flatnonzero(~settled)
    if len(rest):
        blocks = _ReferenceBlocks(space, reference, device)
        found = _in_parts(
            lambda share: _BlockSearch(blocks, rows.take(share)).run(k=k, initial=bound[share]),
            rest,
            device,
        )
        row_index = np.concatenate([row_index, *(share[more[0][0]] for share, more in found)])
        ref_index = np.concatenate([ref_index, *(more[0][1] for _, more in found)])
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
    limit = np.asarray(limit, dtype=np.float64)
    (row_index, ref_index), settled = _KeyStage(space, rows, reference).within(limit)
    rest = np.flatnonzero(~settled)
    if len(rest):
        blocks = _ReferenceBlocks(space, reference, device)
        searched = _in_parts(
            lambda share: _BlockSearch(blocks, rows.take(share)).run(limit=limit[share]),
            rest,
            device,
        )
        for share, ((more_rows, more_refs), decided) in searched:
            found[share[decided]] = True
            row_index = np.concatenate([row_index, share[more_rows]])
            ref_index = np.concatenate([ref_index, more_refs])
    exact = space.exact(rows, reference, row_index, ref_index)
    found[row_index[exact <= limit[row_index]]] = True
    return found


def _in_parts(
    search: Callable[[np.ndarray], _T], rows: np.ndarray, device: str | None
) -> list[tuple[np.ndarray, _T]]:
    """``search`` on shares of the row numbers ``rows``, side by side when there are many.

    Returns:
        ``(share, result)`` per share, in order.
    """
    n_parts = 1 if device not in (None, "cpu") or len(rows) < PARALLEL_ROWS else WORKERS
    shares = [share for share in np.array_split(rows, n_parts) if len(share)]
    if len(shares) == 1:
        return [(shares[0], search(shares[0]))]
    with _one_torch_thread(), ThreadPoolExecutor(len(shares)) as pool:
        return list(zip(shares, pool.map(search, shares), strict=True))


_torch_threads_lock = threading.Lock()
_torch_threads_users = 0
_torch_threads_before = 1


class _one_torch_thread:  # noqa: N801 - used as a context manager
    """Torch on one intra-op thread while any search runs its workers.

    The worker threads share the cores instead; the setting is process-wide, so nested
    or concurrent searches count their users and the last one out restores it.
    """

    def __enter__(self) -> None:
        global _torch_threads_users, _torch_threads_before
        with _torch_threads_lock:
            if _torch_threads_users == 0:
                _torch_threads_before = torch.get_num_threads()
                torch.set_num_threads(1)
            _torch_threads_users += 1

    def __exit__(self, *exc: object) -> None:
        global _torch_threads_users
        with _torch_threads_lock:
            _torch_threads_users -= 1
            if _torch_threads_users == 0:
                torch.set_num_threads(_torch_threads_before)


# --------------------------------------------------------------------------- exact keys

# The key stage builds at most this many candidate pairs per searching row, on average.
KEY_PAIRS_PER_ROW = 256
# Most groups of key columns the key stage splits them into.
KEY_GROUPS = 8
# Candidate pairs measured at once (a pair takes a few hundred bytes while measured).
PAIR_CHUNK = 1 << 18
# Searches of at least 4 x KEY_PROBE_ROWS rows first try the keys on a sample of that
# many rows, and keep using them only if at least KEY_MIN_SETTLED of the sample settles.
KEY_PROBE_ROWS = 512
KEY_MIN_SETTLED = 0.2


def _tolerance(n_terms: int) -> float:
    """Rounding of float32 sums of at most ``n_terms`` terms in [0, 1], with room to spare."""
    return 1e-6 + 4.0 * n_terms**2 * float(np.finfo(np.float32).eps)


class _KeyStage:
    """Candidate pairs from exact matches on key columns (multi-index hashing).

    Key columns are the coded columns and the missing-value pattern of the numbers: two
    rows that differ on one of them are at least 1 apart in summed distance. Split the key
    columns into ``g`` groups: two rows less than ``g`` apart differ on at most ``g - 1``
    key columns, so they agree on every column of some group (the pigeonhole principle).
    Joining the rows with the reference rows on each group's values therefore yields every
    reference row less than ``g`` from a row. A row whose answer lies below ``g`` (its k-th
    closest candidate, or its limit) is settled by its candidates; the others go on to the
    block search, with the best bound found here.

    ``g`` is the largest number of groups (columns dealt out so that each group carries
    about the same entropy) whose joins stay within ``KEY_PAIRS_PER_ROW`` pairs per row;
    with no key column, or when even one group joins too many pairs, the stage is idle
    (``groups`` 0) and every row goes to the block search.
    """

    def __init__(self, space: DistanceSpace, rows: Encoded, reference: Encoded) -> None:
        self.rows, self.reference = rows, reference
        self.n_terms = len(space.columns)
        self.tolerance = _tolerance(self.n_terms)
        self.groups = 0
        self.row_keys: list[np.ndarray] = []
        self.ref_keys: list[np.ndarray] = []
        flags = np.flatnonzero(rows.missing.any(axis=0) | reference.missing.any(axis=0))
        both = np.vstack(
            [
                np.hstack([rows.codes, rows.missing[:, flags].astype(np.int64)]),
                np.hstack([reference.codes, reference.missing[:, flags].astype(np.int64)]),
            ]
        )
        entropy = np.array([_entropy(both[:, j]) for j in range(both.shape[1])])
        # A column with one value everywhere never tells two rows apart.
        order = [int(j) for j in np.argsort(-entropy, kind="stable") if entropy[j] > 0]
        budget = KEY_PAIRS_PER_ROW * len(rows)
        for groups in range(1, min(KEY_GROUPS, len(order)) + 1):
            keys = [_joint_key(both[:, columns]) for columns in _deal(order, entropy, groups)]
            pairs = sum(
                int(
                    np.dot(
                        np.bincount(key[: len(rows)], minlength=key.max() + 1).astype(np.float64),
                        np.bincount(key[len(rows) :], minlength=key.max() + 1),
                    )
                )
                for key in keys
            )
            if pairs > budget:
                break
            self.groups = groups
            self.row_keys = [key[: len(rows)] for key in keys]
            self.ref_keys = [key[len(rows) :] for key in keys]
        log.debug("key stage: %d group(s) of key columns", self.groups)

    def nearest(self, k: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
        """Candidate pairs of the settled rows, a bound per row, and the settled rows.

        A sample of the rows goes first; when too few of them settle (rows far from
        every reference row), the stage stops there and leaves the rest to the blocks.

        Returns:
            ``((rows, refs), bound, settled)``: every pair that may be among a settled
            row's k nearest; an upper bound on each row's summed k-th distance (NaN where
            unknown); the settled rows (``bound < groups``).
        """
        n_rows = len(self.rows)
        bound = np.full(n_rows, np.nan)
        found_rows: list[np.ndarray] = []
        found_refs: list[np.ndarray] = []

        def visit(wanted: np.ndarray | None) -> None:
            for row_index, ref_index, values, upper in self._candidates(wanted):
                ordered = np.lexsort((upper, row_index))
                row_sorted = row_index[ordered]
                first = np.flatnonzero(np.r_[True, row_sorted[1:] != row_sorted[:-1]])
                counts = np.diff(np.r_[first, len(row_sorted)])
                enough = counts >= k
                bound[row_sorted[first[enough]]] = upper[ordered[first[enough] + k - 1]]
                row_bound = bound[row_index]
                keep = (row_bound < self.groups) & (values - self.tolerance <= row_bound)
                found_rows.append(row_index[keep])
                found_refs.append(ref_index[keep])

        probe = None
        if n_rows >= 4 * KEY_PROBE_ROWS:
            probe = np.zeros(n_rows, dtype=bool)
            probe[:: n_rows // KEY_PROBE_ROWS] = True
        visit(probe)
        settled = bound < self.groups  # NaN compares False
        if probe is not None:
            share = float(settled[probe].mean())
            if share >= KEY_MIN_SETTLED:
                visit(~probe)
                settled = bound < self.groups
            else:
                log.debug("key stage: %.0f%% of a sample settled; blocks only", 100 * share)
        return _joined(found_rows, found_refs), bound, settled

    def within(self, limit: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Candidate pairs of the settled rows that may lie within ``limit``; settled rows.

        A row is settled when its summed limit lies below the number of groups: every
        reference row within it is then among its candidates.
        """
        limit_sum = limit * self.n_terms + self.tolerance
        covered = limit_sum < self.groups
        found_rows, found_refs = [], []
        for row_index, ref_index, values, _ in self._candidates(covered):
            keep = values - self.tolerance <= limit_sum[row_index]
            found_rows.append(row_index[keep])
            found_refs.append(ref_index[keep])
        return _joined(found_rows, found_refs), covered

    def _candidates(
        self, wanted: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Candidate pairs, chunk by chunk of rows: rows, refs, float32 sums, upper bounds.

        Each pair comes once (from the first group it agrees on); a row's pairs all lie
        in one chunk.
        """
        if self.groups == 0:
            return
        tables = [_KeyTable(key) for key in self.ref_keys]
        per_row = sum(table.count(key) for table, key in zip(tables, self.row_keys, strict=True))
        if wanted is not None:
            per_row = np.where(wanted, per_row, 0)
        chunk_of = np.cumsum(per_row) // PAIR_CHUNK
        for chunk in np.split(np.arange(len(self.rows)), np.flatnonzero(np.diff(chunk_of)) + 1):
            if wanted is not None:
                chunk = chunk[wanted[chunk]]
            if len(chunk) == 0:
                continue
            row_parts, ref_parts = [], []
            for g, table in enumerate(tables):
                row_index, ref_index = table.join(chunk, self.row_keys[g][chunk])
                for earlier in range(g):  # found by an earlier group already
                    fresh = self.row_keys[earlier][row_index] != self.ref_keys[earlier][ref_index]
                    row_index, ref_index = row_index[fresh], ref_index[fresh]
                row_parts.append(row_index)
                ref_parts.append(ref_index)
            row_index, ref_index = np.concatenate(row_parts), np.concatenate(ref_parts)
            if len(row_index) == 0:
                continue
            values = self._approx(row_index, ref_index)
            upper = (
                values
                + self.rows.slack[row_index]
                + self.reference.slack[ref_index]
                + self.tolerance
            )
            yield row_index, ref_index, values, upper

    def _approx(self, row_index: np.ndarray, ref_index: np.ndarray) -> np.ndarray:
        """Float32 summed distances of the pairs, as the block search measures them."""
        rows, ref = self.rows, self.reference
        total = (rows.codes[row_index] != ref.codes[ref_index]).sum(axis=1, dtype=np.float32)
        if rows.scaled.shape[1]:
            terms = np.abs(rows.scaled[row_index] - ref.scaled[ref_index])
            terms[rows.missing[row_index] != ref.missing[ref_index]] = 1.0
            total += terms.sum(axis=1)
        return total.astype(np.float64)


class _KeyTable:
    """Reference rows grouped by one key: who has which key value."""

    def __init__(self, key: np.ndarray) -> None:
        self.order = np.argsort(key, kind="stable")
        self.counts = np.bincount(key)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def count(self, keys: np.ndarray) -> np.ndarray:
        """How many reference rows have each key."""
        known = keys < len(self.counts)
        return np.where(known, self.counts[np.where(known, keys, 0)], 0)

    def join(self, rows: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (row, reference row) pair with equal keys."""
        known = keys < len(self.counts)
        rows, keys = rows[known], keys[known]
        counts = self.counts[keys]
        row_index = np.repeat(rows, counts)
        offsets = np.arange(len(row_index)) - np.repeat(np.cumsum(counts) - counts, counts)
        return row_index, self.order[np.repeat(self.starts[keys], counts) + offsets]


def _entropy(codes: np.ndarray) -> float:
    shares = np.bincount(codes) / len(codes)
    shares = shares[shares > 0]
    return float(-(shares * np.log2(shares)).sum())


def _deal(order: list[int], entropy: np.ndarray, groups: int) -> list[list[int]]:
    """Deal columns (most informative first) to the group with the least entropy so far."""
    dealt: list[list[int]] = [[] for _ in range(groups)]
    carried = np.zeros(groups)
    for column in order:
        g = int(np.argmin(carried))
        dealt[g].append(column)
        carried[g] += entropy[column]
    return dealt


def _joint_key(columns: np.ndarray) -> np.ndarray:
    """One dense integer per distinct combination of the columns' values."""
    key = np.zeros(len(columns), dtype=np.int64)
    for j in range(columns.shape[1]):
        key, _ = pd.factorize(key * (int(columns[:, j].max()) + 1) + columns[:, j])
    return key.astype(np.int64)


def _joined(rows: list[np.ndarray], refs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(rows), np.concatenate(refs)


# --------------------------------------------------------------------------- the search


class _ReferenceBlocks:
    """The reference rows of the block search, sorted, featurised and cut into blocks.

    Built once per search and shared, read-only, by the worker threads.
    """

    def __init__(self, space: DistanceSpace, reference: Encoded, device: str | None) -> None:
        self.device = torch.device(device or "cpu")
        self.n_terms = len(space.columns)
        self.n_levels = space.n_levels()
        self.offsets = np.concatenate([[0], np.cumsum(self.n_levels)]).astype(np.int64)
        # Reference rows sorted by category (fewest levels first), then by one number.
        self.by_levels = np.argsort(self.n_levels, kind="stable")[::-1]
        keys = [reference.scaled[:, 0]] if reference.scaled.shape[1] else []
        keys += [reference.codes[:, j] for j in self.by_levels]
        self.order = np.lexsort(keys) if keys else np.arange(len(reference))
        self.ref = _features(reference, self.order, self.offsets, self.n_levels, self.device)
        self.ref_slack_rows = torch.as_tensor(
            reference.slack[self.order], dtype=torch.float32, device=self.device
        )
        self.blocks = _block_bounds(self.ref, len(reference), self.offsets)


class _BlockSearch:
    """Float32 block search with per-block lower bounds; returns candidate pairs."""

    def __init__(self, reference: _ReferenceBlocks, rows: Encoded) -> None:
        self.device = reference.device
        self.n_terms = reference.n_terms
        self.tolerance = _tolerance(self.n_terms)
        self.order = reference.order
        self.ref = reference.ref
        self.ref_slack_rows = reference.ref_slack_rows
        self.blocks = reference.blocks
        self.rows = _features(
            rows, np.arange(len(rows)), reference.offsets, reference.n_levels, self.device
        )
        self.row_slack = torch.as_tensor(rows.slack, dtype=torch.float32, device=self.device)
        query_keys = [rows.scaled[:, 0]] if rows.scaled.shape[1] else []
        query_keys += [rows.codes[:, j] for j in reference.by_levels]
        self.query_order = np.lexsort(query_keys) if query_keys else np.arange(len(rows))

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
        self,
        *,
        k: int = 1,
        limit: np.ndarray | None = None,
        initial: np.ndarray | None = None,
    ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Candidate pairs (row, reference row in input order), and rows already decided.

        Without ``limit`` (k nearest): every pair that may be among a row's k nearest;
        ``initial`` is a known upper bound on each row's summed k-th distance (NaN for
        none). With ``limit`` (within): a row is decided once some pair is surely within
        its limit; for the other rows, every pair that may be within it.
        """
        tol = self.tolerance
        n_rows = len(self.query_order)
        found: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        decided = torch.zeros(n_rows, dtype=torch.bool, device=self.device)
        final = torch.zeros(n_rows, device=self.device)
        if limit is not None:
            limit_sum = torch.as_tensor(limit * self.n_terms, device=self.device).float()
        start_bound = np.full(n_rows, np.inf, dtype=np.float32)
        if initial is not None:
            known = ~np.isnan(initial)
            # Round up, so that the float32 bound is still an upper bound.
            start_bound[known] = np.nextafter(initial[known].astype(np.float32), np.inf)
        start_bound = torch.as_tensor(start_bound, device=self.device)
        for start in range(0, n_rows, QUERY_ROWS):
            query = torch.as_tensor(
                self.query_order[start : start + QUERY_ROWS], device=self.device
            )
            bounds = self.lower_bounds(query)
            open_rows = torch.ones(len(query), dtype=torch.bool, device=self.device)
            if limit is None:
                bound = start_bound[query].clone()
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
                    bound[local] = torch.minimum(bound[local], best[local][:, k - 1])
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
