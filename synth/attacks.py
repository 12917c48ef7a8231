"""Privacy attacks on a synthetic table, each measured against a control set.

Singling out, linkability and attribute inference follow the method of Giomi et al.
(2022, "A Unified Framework for Quantifying Privacy Risk in Synthetic Data", the
anonymeter paper): the attacks are built from the synthetic rows only, then scored on
persons of the train split (who shaped the generator) and, as a control, on persons of
the holdout (who did not). What the synthetic data gives away about its own training
persons beyond what it tells about anyone of the population is the risk::

    risk = (r_attack - r_control) / (1 - r_control)

with a Wilson score interval on the attack success rate carried through that formula
(the control rate is held at its point value, as in the paper). Train targets are a
random sample of the train split of the same size as the control sample, so that both
rates are measured on sets of equal size (a predicate that isolates one person in 3,500
rows would often match several in 14,000).

Membership inference asks whether a person was in the train split from the distance of
their row to the closest synthetic row; its AUC over train members and holdout
non-members comes with a DeLong interval. In ``evaluation.attacks`` its ``risk`` column
holds that AUC, whose no-leak value is the ``baseline_rate`` of 0.5.

Every attack states how many attacks it actually built. Fewer than ``min_attacks`` gives
status ``insufficient`` and no risk, never a low one.

Distances follow DESIGN.md: per column, ``|a - b| / real range`` (values clipped to the
real range) for numbers and dates, 0/1 for categories, a missing value against a present
one counts 1; a row's distance is the mean over its columns. Identifier columns are never
part of a distance. The nearest rows are found exactly by :mod:`synth.distance`, the
engine the metrics use too.

Example:
    >>> from synth.attacks import AttackSettings, run_attacks
    >>> results = run_attacks(train, holdout, synthetic, cfg.mart.columns,
    ...                       AttackSettings(n_attacks=500))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from synth import distance
from synth.config import DatasetConfig
from synth.errors import ConfigError, DataError
from synth.schema import ColumnSpec

log = logging.getLogger(__name__)

ATTACKS_DDL = """
create schema if not exists evaluation;
create table if not exists evaluation.attacks (
    run_id varchar not null,
    attack varchar not null,
    n_attacks integer not null,
    risk double,
    ci_low double,
    ci_high double,
    attack_success_rate double,
    control_success_rate double,
    baseline_rate double,
    status varchar not null,
    detail varchar
);
"""

MEMBERSHIP = "membership_inference"


@dataclass(frozen=True)
class AttackSettings:
    """How hard the attacks try; read from ``privacy.attacks`` in the configuration."""

    n_attacks: int = 2000  # targets (or predicates) per attack; at most the holdout size
    min_attacks: int = 100  # fewer attacks built than this: status "insufficient", no risk
    confidence: float = 0.95  # level of the Wilson and DeLong intervals
    seed: int = 0  # fixes target samples, predicates and tie breaks
    singling_out_columns: int = 0  # most conditions in a multivariate predicate; 0: all
    linkability_neighbours: int = 1  # a link succeeds if the two k-neighbour sets meet
    linkability_columns: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # None: split
    inference_columns: tuple[str, ...] | None = None  # attacker's knowledge; None: see below
    numeric_tolerance: float = 0.05  # a numeric secret guessed within 5% counts as right
    membership_rows: int = 5000  # members and non-members scored, each

    @classmethod
    def from_config(cls, cfg: DatasetConfig) -> AttackSettings:
        """Read ``privacy.attacks`` from a configuration; every key is optional.

        Raises:
            ConfigError: A key is unknown or has a wrong type.
        """
        raw = (cfg.raw.get("privacy") or {}).get("attacks") or {}
        if not isinstance(raw, dict):
            raise ConfigError("privacy.attacks", "must be a mapping", str(cfg.path))
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"privacy.attacks.{unknown[0]}", "is not a known key", str(cfg.path))
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "linkability_columns":
                if not (isinstance(value, list) and len(value) == 2):
                    raise ConfigError(
                        "privacy.attacks.linkability_columns",
                        "must be two lists of column names",
                        str(cfg.path),
                    )
                values[key] = (tuple(value[0]), tuple(value[1]))
            elif key == "inference_columns":
                values[key] = tuple(value)
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(
                    f"privacy.attacks.{key}", f"must be a number, got {value!r}", str(cfg.path)
                )
            else:
                values[key] = value
        return cls(**values)


@dataclass
class AttackResult:
    """One attack's outcome, as one row of ``evaluation.attacks``."""

    attack: str
    n_attacks: int
    risk: float | None
    ci_low: float | None
    ci_high: float | None
    attack_success_rate: float | None
    control_success_rate: float | None
    baseline_rate: float | None
    status: str  # "ok" or "insufficient"
    detail: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a success rate.

    Example:
        >>> low, high = wilson_interval(50, 100)
        >>> round(low, 3), round(high, 3)
        (0.404, 0.596)
    """
    if n <= 0:
        return (0.0, 1.0)
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def attack_risk(
    n_success: int, n_attacks: int, control_rate: float, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Risk ``(r_attack - r_control) / (1 - r_control)`` and its interval, each in [0, 1]."""
    rate = n_success / n_attacks
    low, high = wilson_interval(n_success, n_attacks, confidence)
    if control_rate >= 1.0:
        # The control set is guessed perfectly: the data leaks nothing beyond the population.
        return (0.0, 0.0, 0.0)

    def scale(r: float) -> float:
        return min(1.0, max(0.0, (r - control_rate) / (1 - control_rate)))

    return (float(scale(rate)), float(scale(low)), float(scale(high)))


def auc_delong(
    member_scores: np.ndarray, nonmember_scores: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """AUC of scores (higher means member) with DeLong's interval.

    Example:
        >>> auc_delong(np.array([3.0, 4.0]), np.array([1.0, 2.0]))[0]
        1.0
    """
    m, n = len(member_scores), len(nonmember_scores)
    pooled = stats.rankdata(np.concatenate([member_scores, nonmember_scores]))
    within_m = stats.rankdata(member_scores)
    within_n = stats.rankdata(nonmember_scores)
    auc = (pooled[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (pooled[:m] - within_m) / n
    v01 = 1 - (pooled[m:] - within_n) / m
    var = np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n
    z = stats.norm.ppf(0.5 + confidence / 2)
    half = z * math.sqrt(max(var, 0.0))
    return (float(auc), max(0.0, float(auc - half)), min(1.0, float(auc + half)))


# ----------------------------------------------------------------------------------------
# Distances
# ----------------------------------------------------------------------------------------


def numeric_values(series: pd.Series, kind: str) -> np.ndarray:
    """A column as floats with NaN for missing; dates become days since 1970-01-01."""
    if kind == "date":
        dates = pd.to_datetime(series, errors="coerce")
        out = (dates - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
        return out.to_numpy(dtype=float, na_value=np.nan)
    return (
        pd.to_numeric(series, errors="coerce")
        .astype("Float64")
        .to_numpy(dtype=float, na_value=np.nan)
    )


def category_values(series: pd.Series) -> np.ndarray:
    """A column as text with None for missing, so True, 'True' and 1.0 never mix silently."""
    values = series.astype(object).to_numpy()
    missing = pd.isna(series).to_numpy()
    out = np.empty(len(values), dtype=object)
    for i, (v, na) in enumerate(zip(values, missing, strict=True)):
        out[i] = None if na else str(v)
    return out


class DistanceEncoder:
    """The attacks' view of the DESIGN distance, on the engine of :mod:`synth.distance`.

    Numbers are scaled by the range of the real rows and clipped into it (so the
    distance is the L1 distance of :meth:`transform`'s embedding); a number whose real
    range is a single value compares 0/1; categories compare 0/1 with missing a level
    of its own. A row's distance is the mean over the columns compared.

    Args:
        columns: The columns to encode (identifiers are dropped).
        real: Real rows (train and holdout) whose ranges scale the numbers.
        others: Further frames (synthetic) whose category levels the embedding of
            :meth:`transform` must also cover.
    """

    def __init__(
        self, columns: Sequence[ColumnSpec], real: pd.DataFrame, others: Sequence[pd.DataFrame]
    ) -> None:
        self.columns = [c for c in columns if not c.is_identifier]
        self._real = self._prepare(real)
        self._spaces: dict[tuple[str, ...], distance.DistanceSpace] = {}
        self._full = self.space()
        for frame in [self._real, *(self._prepare(f) for f in others)]:
            self._full.encode(frame)  # registers every category level
        self._widths = self._full.n_levels()

    def space(self, names: Sequence[str] | None = None) -> distance.DistanceSpace:
        """The distance space over ``names`` (all encoded columns by default)."""
        key = tuple(names) if names is not None else tuple(c.name for c in self.columns)
        if key not in self._spaces:
            specs = {c.name: c for c in self.columns}
            self._spaces[key] = distance.DistanceSpace(
                [specs[name] for name in key], self._real, clip=True
            )
        return self._spaces[key]

    def encode(self, frame: pd.DataFrame, names: Sequence[str] | None = None) -> distance.Encoded:
        """Encode ``frame`` for the engine, over ``names`` (all columns by default)."""
        return self.space(names).encode(self._prepare(frame))

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numbers and dates as floats (dates in days), categories as text or None."""
        return pd.DataFrame(
            {
                c.name: category_values(frame[c.name])
                if c.kind == "categorical"
                else numeric_values(frame[c.name], c.kind)
                for c in self.columns
            }
        )

    def transform(self, frame: pd.DataFrame, names: Sequence[str] | None = None) -> np.ndarray:
        """Embed the rows of ``frame``: the L1 distance of two embeddings is their distance.

        A number is ``(x/2, (1-x)/2, 0)`` when present and ``(0, 0, 1/2)`` when missing;
        a category (or a number of zero range) is a one-hot vector scaled by 1/2 over the
        levels seen by the constructor (an unseen level is all zeros). Dividing by the
        number of columns makes the L1 distance the mean.
        """
        space = self._full
        encoded = space.encode(self._prepare(frame))
        chosen = set(names) if names is not None else {c.name for c in self.columns}
        blocks = []
        for column in self.columns:
            name = column.name
            if name not in chosen:
                continue
            if name in space.numeric:
                j = space.numeric.index(name)
                x, miss = encoded.scaled[:, j], encoded.missing[:, j]
                blocks.append(
                    np.column_stack([(1 - miss) * x / 2, (1 - miss) * (1 - x) / 2, miss / 2])
                )
            else:
                j = space.coded.index(name)
                block = np.zeros((len(frame), self._widths[j]), dtype=np.float32)
                known = encoded.codes[:, j] < self._widths[j]
                block[np.flatnonzero(known), encoded.codes[known, j]] = 0.5
                blocks.append(block)
        return np.hstack(blocks).astype(np.float32) / max(len(chosen), 1)

    def nearest(
        self,
        reference: pd.DataFrame,
        queries: pd.DataFrame,
        k: int = 1,
        names: Sequence[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact distances and row numbers of each query's ``k`` closest reference rows."""
        space = self.space(names)
        return distance.nearest(
            space, self.encode(queries, names), self.encode(reference, names), k
        )


# ----------------------------------------------------------------------------------------
# Singling out
# ----------------------------------------------------------------------------------------

# A predicate is a tuple of conditions (column position, operator, value); operators are
# "eq" (categories, as codes), "le" / "ge" (numbers) and "na" (missing).
_Predicate = tuple[tuple[int, str, float], ...]


class _Coded:
    """Columns as arrays: numbers as floats (NaN missing), categories as codes (-1 missing)."""

    def __init__(self, columns: Sequence[ColumnSpec], frames: Sequence[pd.DataFrame]) -> None:
        self.columns = [c for c in columns if not c.is_identifier]
        self.levels: dict[str, dict[str, int]] = {}
        for col in self.columns:
            if col.kind == "categorical":
                seen: set[str] = set()
                for f in frames:
                    seen.update(v for v in category_values(f[col.name]) if v is not None)
                self.levels[col.name] = {v: i for i, v in enumerate(sorted(seen))}

    def arrays(self, frame: pd.DataFrame) -> list[np.ndarray]:
        out = []
        for col in self.columns:
            if col.kind == "categorical":
                index = self.levels[col.name]
                out.append(
                    np.array(
                        [
                            -1 if v is None else index.get(v, -2)
                            for v in category_values(frame[col.name])
                        ],
                        dtype=float,
                    )
                )
            else:
                out.append(numeric_values(frame[col.name], col.kind))
        return out

    def is_categorical(self, position: int) -> bool:
        return self.columns[position].kind == "categorical"


def _matches(arrays: list[np.ndarray], predicate: _Predicate) -> np.ndarray:
    mask = np.ones(len(arrays[0]), dtype=bool)
    for position, op, value in predicate:
        values = arrays[position]
        if op == "na":
            mask &= _missing(values)
        elif op == "eq":
            mask &= values == value
        elif op == "le":
            mask &= values <= value
        else:
            mask &= values >= value
    return mask


def _missing(values: np.ndarray) -> np.ndarray:
    return np.isnan(values) | (values == -1)


def _count(arrays: list[np.ndarray], predicate: _Predicate) -> int:
    return int(_matches(arrays, predicate).sum())


def _univariate_predicates(
    coded: _Coded, syn: list[np.ndarray], limit: int, rng: np.random.Generator
) -> list[_Predicate]:
    """Predicates on one column that isolate exactly one synthetic row."""
    found: list[_Predicate] = []
    for position, values in enumerate(syn):
        missing = _missing(values)
        if missing.sum() == 1:
            found.append(((position, "na", 0.0),))
        present = values[~missing]
        if not len(present):
            continue
        uniques, counts = np.unique(present, return_counts=True)
        if coded.is_categorical(position):
            found.extend(((position, "eq", float(v)),) for v in uniques[counts == 1])
            continue
        if counts[0] == 1:
            found.append(((position, "le", float(uniques[0])),))
        if counts[-1] == 1:
            found.append(((position, "ge", float(uniques[-1])),))
        for v in uniques[1:-1][counts[1:-1] == 1]:
            found.append(((position, "ge", float(v)), (position, "le", float(v))))
    order = rng.permutation(len(found))
    return [found[i] for i in order[:limit]]


def _predicate_from_row(
    coded: _Coded,
    syn: list[np.ndarray],
    row: int,
    positions: np.ndarray,
    medians: list[float],
) -> _Predicate:
    conditions = []
    for position in positions:
        value = syn[position][row]
        if _missing(np.array([value]))[0]:
            conditions.append((int(position), "na", 0.0))
        elif coded.is_categorical(position):
            conditions.append((int(position), "eq", float(value)))
        elif value >= medians[position]:
            conditions.append((int(position), "ge", float(value)))
        else:
            conditions.append((int(position), "le", float(value)))
    return tuple(conditions)


def _multivariate_predicates(
    coded: _Coded,
    syn: list[np.ndarray],
    limit: int,
    n_columns: int,
    rng: np.random.Generator,
) -> list[_Predicate]:
    """Conjunctions built from random synthetic rows that isolate that one synthetic row.

    Conditions on the row's values (at or above it for a value above the column's median,
    at or below otherwise; equal for categories; missing for missing) are added over the
    columns in random order until the conjunction matches that one synthetic row alone.
    Rows that no conjunction of ``n_columns`` conditions isolates yield no predicate.
    """
    n_rows, n_cols = len(syn[0]), len(syn)
    width = min(n_columns, n_cols) if n_columns > 0 else n_cols
    medians = [
        float(np.nanmedian(v)) if not coded.is_categorical(i) and (~np.isnan(v)).any() else 0.0
        for i, v in enumerate(syn)
    ]
    found: list[_Predicate] = []
    seen: set[_Predicate] = set()
    for row in rng.permutation(n_rows)[: 3 * limit]:
        if len(found) >= limit:
            break
        order = rng.permutation(n_cols)[:width]
        mask = np.ones(n_rows, dtype=bool)
        conditions = []
        for position in order:
            condition = _predicate_from_row(coded, syn, int(row), np.array([position]), medians)
            narrowed = mask & _matches(syn, condition)
            if narrowed.sum() == mask.sum():
                continue  # the condition tells this row from no other; leave it out
            mask = narrowed
            conditions.append(condition[0])
            if mask.sum() == 1:
                break
        predicate = tuple(sorted(conditions))
        if mask.sum() == 1 and predicate not in seen:
            seen.add(predicate)
            found.append(predicate)
    return found


def _baseline_predicates(
    coded: _Coded, syn: list[np.ndarray], limit: int, n_columns: int, rng: np.random.Generator
) -> list[_Predicate]:
    """Predicates built the same way but with each value drawn from its own column.

    They keep the marginals and lose the joint structure: what a guesser who knows the
    columns' distributions, but no person, would write.
    """
    n_rows, n_cols = len(syn[0]), len(syn)
    width = min(n_columns, n_cols)
    shuffled = [values[rng.permutation(n_rows)] for values in syn]
    medians = [
        float(np.nanmedian(v)) if not coded.is_categorical(i) and (~np.isnan(v)).any() else 0.0
        for i, v in enumerate(syn)
    ]
    out = []
    for row in range(min(limit, n_rows)):
        positions = np.sort(rng.choice(n_cols, size=width, replace=False))
        out.append(_predicate_from_row(coded, shuffled, row, positions, medians))
    return out


def _singling_out(
    mode: str,
    coded: _Coded,
    targets: pd.DataFrame,
    control: pd.DataFrame,
    synthetic: pd.DataFrame,
    settings: AttackSettings,
    rng: np.random.Generator,
) -> AttackResult:
    syn = coded.arrays(synthetic)
    if mode == "univariate":
        predicates = _univariate_predicates(coded, syn, settings.n_attacks, rng)
        baseline_width = 1
    else:
        predicates = _multivariate_predicates(
            coded, syn, settings.n_attacks, settings.singling_out_columns, rng
        )
        baseline_width = max(1, round(np.mean([len(p) for p in predicates]))) if predicates else 1
    name = f"singling_out_{mode}"
    n = len(predicates)
    detail: dict[str, Any] = {
        "targets": len(targets),
        "control": len(control),
        "mean_conditions": float(np.mean([len(p) for p in predicates])) if predicates else 0.0,
    }
    if n < settings.min_attacks:
        return _insufficient(name, n, settings, detail)
    target_arrays, control_arrays = coded.arrays(targets), coded.arrays(control)
    n_success = sum(_count(target_arrays, p) == 1 for p in predicates)
    n_control = sum(_count(control_arrays, p) == 1 for p in predicates)
    baseline = _baseline_predicates(coded, syn, n, baseline_width, rng)
    n_baseline = sum(_count(target_arrays, p) == 1 for p in baseline)
    return _result(
        name, n, n_success, n_control, n_baseline / max(len(baseline), 1), settings, detail
    )


# ----------------------------------------------------------------------------------------
# Linkability and attribute inference
# ----------------------------------------------------------------------------------------


def default_linkability_columns(columns: Sequence[ColumnSpec]) -> tuple[list[str], list[str]]:
    """Split the modelled columns into two auxiliary sets of similar make-up.

    Quasi-identifiers go first, then numbers, dates and categories, dealt alternately,
    so that each set has numbers to tell persons apart.
    """
    order = {"quasi_identifier": 0}
    kinds = {"numeric": 0, "date": 1, "categorical": 2}
    ranked = sorted(
        (c for c in columns if not c.is_identifier),
        key=lambda c: (order.get(c.role, 1), kinds[c.kind]),
    )
    return [c.name for c in ranked[0::2]], [c.name for c in ranked[1::2]]


def default_inference_columns(columns: Sequence[ColumnSpec]) -> list[str]:
    """What the attribute-inference attacker is assumed to know about a target.

    Every modelled column that is neither sensitive nor a prediction target:
    demographics and measurements. Quasi-identifiers alone are often too few to tell
    persons apart (NAFLD declares two), which would understate the risk.
    """
    return [c.name for c in columns if c.role in ("quasi_identifier", "feature")]


def _linkability(
    encoder: DistanceEncoder,
    targets: pd.DataFrame,
    control: pd.DataFrame,
    synthetic: pd.DataFrame,
    settings: AttackSettings,
    aux: tuple[Sequence[str], Sequence[str]],
) -> AttackResult:
    k = max(1, min(settings.linkability_neighbours, len(synthetic)))
    detail = {
        "columns_a": list(aux[0]),
        "columns_b": list(aux[1]),
        "neighbours": k,
        "targets": len(targets),
        "control": len(control),
    }
    n = min(len(targets), len(control))
    if n < settings.min_attacks or not aux[0] or not aux[1]:
        return _insufficient("linkability", n, settings, detail)

    def links(frame: pd.DataFrame) -> int:
        _, idx_a = encoder.nearest(synthetic, frame, k, aux[0])
        _, idx_b = encoder.nearest(synthetic, frame, k, aux[1])
        return int((idx_a[:, :, None] == idx_b[:, None, :]).any(axis=(1, 2)).sum())

    n_syn = len(synthetic)
    baseline = 1.0 - math.prod((n_syn - k - i) / (n_syn - i) for i in range(k))
    return _result("linkability", n, links(targets), links(control), baseline, settings, detail)


def _attribute_inference(
    encoder: DistanceEncoder,
    targets: pd.DataFrame,
    control: pd.DataFrame,
    synthetic: pd.DataFrame,
    secrets: Sequence[ColumnSpec],
    aux: Sequence[str],
    settings: AttackSettings,
    rng: np.random.Generator,
) -> list[AttackResult]:
    n = min(len(targets), len(control))
    base_detail = {"known_columns": list(aux), "targets": len(targets), "control": len(control)}
    if n < settings.min_attacks or not aux or not secrets:
        return [_insufficient("attribute_inference", n, settings, base_detail)]
    _, guess_t = encoder.nearest(synthetic, targets, 1, aux)
    _, guess_c = encoder.nearest(synthetic, control, 1, aux)
    random_rows = rng.integers(len(synthetic), size=n)
    results, pooled = [], np.zeros(3, dtype=int)
    for secret in secrets:
        correct = _guesser(secret, synthetic, settings.numeric_tolerance)
        hits = np.array(
            [
                correct(guess_t[:, 0], targets).sum(),
                correct(guess_c[:, 0], control).sum(),
                correct(random_rows, targets).sum(),
            ]
        )
        pooled += hits
        results.append(
            _result(
                f"attribute_inference[{secret.name}]",
                n,
                int(hits[0]),
                int(hits[1]),
                hits[2] / n,
                settings,
                {**base_detail, "secret": secret.name},
            )
        )
    pooled_detail = {
        **base_detail,
        "secrets": [s.name for s in secrets],
        "pooled": "each target counts once per secret",
    }
    total = n * len(secrets)
    results.insert(
        0,
        _result(
            "attribute_inference",
            total,
            int(pooled[0]),
            int(pooled[1]),
            pooled[2] / total,
            settings,
            pooled_detail,
        ),
    )
    return results


def _guesser(secret: ColumnSpec, synthetic: pd.DataFrame, tolerance: float) -> Any:
    if secret.kind == "categorical":
        syn_values = category_values(synthetic[secret.name])

        def correct(rows: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
            return syn_values[rows] == category_values(frame[secret.name])

        return correct
    syn_numbers = numeric_values(synthetic[secret.name], secret.kind)

    def correct_number(rows: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
        truth = numeric_values(frame[secret.name], secret.kind)
        guess = syn_numbers[rows]
        both_missing = np.isnan(truth) & np.isnan(guess)
        return both_missing | (np.abs(guess - truth) <= tolerance * np.abs(truth))

    return correct_number


# ----------------------------------------------------------------------------------------
# Membership inference
# ----------------------------------------------------------------------------------------


def closest_distances(
    encoder: DistanceEncoder, reference: pd.DataFrame, queries: pd.DataFrame
) -> np.ndarray:
    """Each query row's distance to its closest reference row (0 means an exact copy)."""
    distances, _ = encoder.nearest(reference, queries)
    return distances[:, 0]


def _membership(
    encoder: DistanceEncoder,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    settings: AttackSettings,
    rng: np.random.Generator,
) -> AttackResult:
    n = min(len(train), len(holdout), settings.membership_rows)
    detail: dict[str, Any] = {
        "members": n,
        "non_members": n,
        "score": "-distance to closest synthetic row",
        "interval": "DeLong",
        "measure": "auc",
    }
    if n < settings.min_attacks:
        return _insufficient(MEMBERSHIP, 2 * n, settings, detail)
    members = train.iloc[rng.choice(len(train), size=n, replace=False)]
    others = holdout.iloc[rng.choice(len(holdout), size=n, replace=False)]
    d_members = closest_distances(encoder, synthetic, members)
    d_others = closest_distances(encoder, synthetic, others)
    auc, low, high = auc_delong(-d_members, -d_others, settings.confidence)
    detail |= {
        "median_distance_members": float(np.median(d_members)),
        "median_distance_non_members": float(np.median(d_others)),
        "members_at_distance_0": int((d_members == 0).sum()),
        "non_members_at_distance_0": int((d_others == 0).sum()),
    }
    return AttackResult(MEMBERSHIP, 2 * n, auc, low, high, auc, None, 0.5, "ok", detail)


# ----------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------


def _insufficient(
    name: str, n: int, settings: AttackSettings, detail: dict[str, Any]
) -> AttackResult:
    log.warning(
        "%s: only %d attacks could be built (minimum %d); no risk is reported",
        name,
        n,
        settings.min_attacks,
    )
    detail = {
        **detail,
        "reason": f"{n} attacks built, fewer than min_attacks {settings.min_attacks}",
    }
    return AttackResult(name, n, None, None, None, None, None, None, "insufficient", detail)


def _result(
    name: str,
    n: int,
    n_success: int,
    n_control: int,
    baseline: float,
    settings: AttackSettings,
    detail: dict[str, Any],
) -> AttackResult:
    control_rate = n_control / n
    risk, low, high = attack_risk(n_success, n, control_rate, settings.confidence)
    attack_rate = n_success / n
    if attack_rate <= baseline:
        detail = {
            **detail,
            "note": "the attack did no better than the random baseline; its risk says little",
        }
    return AttackResult(
        name, n, risk, low, high, attack_rate, control_rate, float(baseline), "ok", detail
    )


def run_attacks(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: Sequence[ColumnSpec],
    settings: AttackSettings | None = None,
) -> list[AttackResult]:
    """Run every attack against one synthetic table.

    Args:
        train: The rows the generator learned from.
        holdout: Rows of the same population it never saw (the control set).
        synthetic: The synthetic rows.
        columns: The mart's columns; identifiers are ignored, ``sensitive`` columns are
            the secrets of attribute inference.
        settings: How hard to try; defaults to :class:`AttackSettings`.

    Returns:
        One result per attack: singling out (univariate, multivariate), linkability,
        attribute inference (pooled over secrets, then one per secret) and membership
        inference.

    Raises:
        DataError: A frame lacks a modelled column or is empty.
    """
    settings = settings or AttackSettings()
    modelled = [c for c in columns if not c.is_identifier]
    for label, frame in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        missing = [c.name for c in modelled if c.name not in frame.columns]
        if missing:
            raise DataError(f"the {label} rows lack the columns {missing}", source=label)
        if frame.empty:
            raise DataError(f"the {label} rows are empty; nothing to attack", source=label)
    start = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    n = min(settings.n_attacks, len(holdout), len(train))
    targets = train.iloc[rng.choice(len(train), size=n, replace=False)].reset_index(drop=True)
    control = holdout.iloc[rng.choice(len(holdout), size=n, replace=False)].reset_index(drop=True)
    real = pd.concat([train[[c.name for c in modelled]], holdout[[c.name for c in modelled]]])
    encoder = DistanceEncoder(modelled, real, [synthetic])
    coded = _Coded(modelled, [real, synthetic])
    names = {c.name for c in modelled}
    aux = settings.linkability_columns or default_linkability_columns(modelled)
    inference = list(settings.inference_columns or default_inference_columns(modelled))
    for name in [*aux[0], *aux[1], *inference]:
        if name not in names:
            raise DataError(f"attack settings name the column {name!r}, which is not modelled")
    secrets = [c for c in modelled if c.role == "sensitive" and c.name not in inference]
    # Singling out counts matches in whole sets: both as large as the smaller split.
    n_so = min(len(train), len(holdout))
    so_targets = train.iloc[rng.choice(len(train), size=n_so, replace=False)]
    so_control = holdout.iloc[rng.choice(len(holdout), size=n_so, replace=False)]
    results = [
        _singling_out("univariate", coded, so_targets, so_control, synthetic, settings, rng),
        _singling_out("multivariate", coded, so_targets, so_control, synthetic, settings, rng),
        _linkability(encoder, targets, control, synthetic, settings, aux),
        *_attribute_inference(
            encoder, targets, control, synthetic, secrets, inference, settings, rng
        ),
        _membership(encoder, train, holdout, synthetic, settings, rng),
    ]
    for r in results:
        log.info(
            "%s: %d attacks, risk %s (CI %s-%s), status %s",
            r.attack,
            r.n_attacks,
            _fmt(r.risk),
            _fmt(r.ci_low),
            _fmt(r.ci_high),
            r.status,
        )
    log.info("attacks done in %.1fs", time.perf_counter() - start)
    return results


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def write_attacks(
    con: duckdb.DuckDBPyConnection, run_id: str, results: Sequence[AttackResult]
) -> None:
    """Replace the run's rows of ``evaluation.attacks`` with ``results``."""
    con.execute(ATTACKS_DDL)
    con.execute("delete from evaluation.attacks where run_id = ?", [run_id])
    rows = [
        [
            run_id,
            r.attack,
            r.n_attacks,
            r.risk,
            r.ci_low,
            r.ci_high,
            r.attack_success_rate,
            r.control_success_rate,
            r.baseline_rate,
            r.status,
            json.dumps(r.detail, sort_keys=True, default=str),
        ]
        for r in results
    ]
    if rows:
        con.executemany(
            "insert into evaluation.attacks values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )


def results_frame(results: Sequence[AttackResult]) -> pd.DataFrame:
    """The results as a frame with the columns of ``evaluation.attacks`` (less run_id)."""
    return pd.DataFrame([asdict(r) for r in results])


def evaluate_attacks(
    con: duckdb.DuckDBPyConnection,
    cfg: DatasetConfig,
    run_id: str,
    *,
    synthetic: str,
    settings: AttackSettings | None = None,
) -> list[AttackResult]:
    """Read train, holdout and a synthetic table from the database, attack, store results.

    Args:
        con: An open, writable connection to the dataset's database.
        cfg: The dataset configuration.
        run_id: The run the results belong to.
        synthetic: The synthetic table, e.g. ``synthetic.persons__<run_id>``.
        settings: Attack settings; read from ``privacy.attacks`` by default.
    """
    from synth.warehouse import quote_table

    settings = settings or AttackSettings.from_config(cfg)
    train = con.execute(f"select * from {quote_table(cfg.mart.table + '_train')}").df()
    holdout = con.execute(f"select * from {quote_table(cfg.mart.table + '_holdout')}").df()
    syn = con.execute(f"select * from {quote_table(synthetic)}").df()
    results = run_attacks(train, holdout, syn, cfg.mart.columns, settings)
    write_attacks(con, run_id, results)
    return results
