"""Turn a mart into model-ready arrays and back, keeping every column's type and range.

Numeric and date columns become standard-normal scores through a quantile transform; a
blank is imputed (transformed median plus small noise) and flagged by a ``<col>_missing``
categorical indicator. Categorical columns (text, codes, booleans) become integer codes,
with a blank as a level of its own. Decoding inverts all of it: blanks come back where the
indicator says so, integers and decimals are restored, and values are clipped into the
spec's bounds and the observed range (policy ``clip``; clipped values are counted).
Optionally (``inverse(..., rng)``) each numeric column is first rank-matched to the
training marginal that the quantile transform stored (``match_marginals``).

Columns that carry no information (constant or all blank) are not modelled but re-emitted
as they were; categoricals with too many rare levels have them grouped.

Example:
    >>> enc = TableEncoder(EncodingConfig()).fit(frame, specs)      # doctest: +SKIP
    >>> num, cat = enc.transform(frame, np.random.default_rng(0))   # doctest: +SKIP
    >>> again = enc.inverse(num, cat)                               # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from synth.errors import DataError, NotFittedError
from synth.schema import ColumnSpec
from synth.tabsyn.config import EncodingConfig

logger = logging.getLogger(__name__)

DATE_ANCHOR = pd.Timestamp("1970-01-01")
CLIP_POLICY = "clip"  # out-of-range synthetic values are clipped to the nearest bound
_EDGE = 1e-7  # uniform scores are kept inside [EDGE, 1 - EDGE] before the normal ppf
_MAX_DECIMALS = 6


def _python(value: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value (safe to save with weights_only)."""
    return value.item() if hasattr(value, "item") else value


def _is_text(dtype: Any) -> bool:
    return getattr(dtype, "kind", None) == "O" or isinstance(
        dtype, pd.StringDtype | pd.CategoricalDtype
    )


def _infer_decimals(values: np.ndarray) -> int | None:
    scale = np.maximum(1.0, np.abs(values))
    for digits in range(_MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(values, digits) - values) <= 1e-9 * scale):
            return digits
    return None


class _Quantile:
    """Monotone map of observed values onto standard-normal scores (and back)."""

    def __init__(self, quantiles: np.ndarray, references: np.ndarray) -> None:
        self.q = quantiles
        self.r = references

    @classmethod
    def fit(cls, values: np.ndarray) -> _Quantile:
        count = int(np.clip(len(values) / 30, 10, 1000))
        count = max(2, min(count, len(values)))
        references = np.linspace(0.0, 1.0, count)
        return cls(np.quantile(values, references), references)

    def forward(self, values: np.ndarray) -> np.ndarray:
        # Ties (e.g. 70% zeros) map to the middle of their run of quantiles.
        up = np.interp(values, self.q, self.r)
        down = -np.interp(-values, -self.q[::-1], -self.r[::-1])
        return special.ndtri(np.clip(0.5 * (up + down), _EDGE, 1 - _EDGE))

    def inverse(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(special.ndtr(scores), self.r, self.q)


class TableEncoder:
    """Encode the modelled columns of a frame; decode model output to the same frame shape.

    Attributes:
        num_names: Names of the numeric model inputs, in order.
        cat_names: Names of the categorical model inputs (columns and indicators), in order.
        cardinalities: Number of levels of each categorical input.
        report: What the encoder decided per column (passthrough, grouping, bounds).
    """

    def __init__(self, config: EncodingConfig | None = None) -> None:
        self.config = config or EncodingConfig()
        self.columns: list[dict[str, Any]] = []
        self.num_names: list[str] = []
        self.cat_names: list[str] = []
        self.cardinalities: list[int] = []
        self.report: dict[str, Any] = {}
        self._quantiles: dict[str, _Quantile] = {}

    # ------------------------------------------------------------------ fit

    def fit(self, table: pd.DataFrame, columns: Sequence[ColumnSpec]) -> TableEncoder:
        """Learn every column's encoding from the training frame.

        Args:
            table: The training frame; columns not in ``columns`` are ignored.
            columns: Specs of the mart columns; identifier columns are never modelled.

        Returns:
            This encoder.

        Raises:
            DataError: A spec column is missing from the frame, the frame has too few
                rows, or a numeric column holds values that are not numbers.
        """
        specs = [c for c in columns if not c.is_identifier]
        names = [c.name for c in specs]
        if len(set(names)) != len(names):
            raise DataError("the column specs name a column twice; give each column once.")
        absent = [n for n in names if n not in table.columns]
        if absent:
            raise DataError(
                "the training frame lacks this spec column; add it or drop it from the specs.",
                column=absent[0],
            )
        if not specs:
            raise DataError("no column left to model once identifier columns are excluded.")
        rows = len(table)
        if rows < self.config.min_rows:
            raise DataError(
                f"the training frame has {rows} row(s); at least {self.config.min_rows} are "
                "needed to learn anything, and many more for useful synthetic data."
            )
        if rows < self.config.warn_rows:
            logger.warning(
                "Training on only %d rows: the synthetic table will be a rough imitation; "
                "use at least %d rows for meaningful results.",
                rows,
                self.config.warn_rows,
            )
        self.columns, self.num_names, self.cat_names, self.cardinalities = [], [], [], []
        self._quantiles = {}
        self.report = {"passthrough": {}, "grouped": {}, "out_of_bounds_in_training": {}}
        for spec in specs:
            series = table[spec.name]
            if spec.kind == "categorical":
                state = self._fit_categorical(spec, series)
            else:
                state = self._fit_numeric(spec, series)
            self.columns.append(state)
        return self

    def _fit_categorical(self, spec: ColumnSpec, series: pd.Series) -> dict[str, Any]:
        cfg = self.config
        missing = series.isna().to_numpy()
        counts = series[~missing].value_counts(sort=True)
        state: dict[str, Any] = {
            "name": spec.name,
            "kind": "categorical",
            "dtype": str(series.dtype),
            "has_missing": bool(missing.any()),
            "group_to": None,
        }
        kept = counts
        near_unique = len(series) >= 20 and len(counts) > 0.5 * len(series)
        if len(counts) > cfg.max_categories or near_unique:
            kept = counts[counts >= cfg.min_level_count].iloc[: cfg.max_categories - 1]
            grouped = len(counts) - len(kept)
            target = cfg.other_label if _is_text(series.dtype) else None
            state["group_to"] = target
            label = repr(target) if target is not None else "missing"
            logger.warning(
                "Column '%s' has %d levels for %d rows (near-unique or too many): %d rare "
                "levels (seen under %d times) are grouped as %s; declare it an identifier "
                "or generalise it (e.g. ICD-10 code to block) to keep more detail.",
                spec.name,
                len(counts),
                len(series),
                grouped,
                cfg.min_level_count,
                label,
            )
            self.report["grouped"][spec.name] = {"levels": len(counts), "grouped": grouped}
            if target is None:
                state["has_missing"] = True
        levels = [_python(v) for v in kept.index]
        if state["group_to"] is not None and len(kept) < len(counts):
            levels.append(state["group_to"])
        state["levels"] = levels
        size = len(levels) + int(state["has_missing"])
        if size <= 1:
            return self._passthrough(state, levels[0] if levels else None)
        state["mode"] = "model"
        self.cat_names.append(spec.name)
        self.cardinalities.append(size)
        return state

    def _fit_numeric(self, spec: ColumnSpec, series: pd.Series) -> dict[str, Any]:
        values, missing = self._to_numbers(spec, series)
        observed = values[~missing]
        is_int_dtype = pd.api.types.is_integer_dtype(series.dtype)
        integer = spec.integer or is_int_dtype or spec.kind == "date"
        state: dict[str, Any] = {
            "name": spec.name,
            "kind": spec.kind,
            "dtype": str(series.dtype),
            "has_missing": bool(missing.any()),
            "integer": bool(integer),
            "decimals": 0 if integer else spec.decimals,
        }
        if observed.size == 0:
            return self._passthrough(state, None)
        if state["decimals"] is None:
            state["decimals"] = _infer_decimals(observed)
        lower, upper = float(observed.min()), float(observed.max())
        spec_lower, spec_upper = self._spec_bounds(spec)
        outside = 0
        if spec_lower is not None:
            outside += int((observed < spec_lower).sum())
            lower = max(lower, spec_lower)
        if spec_upper is not None:
            outside += int((observed > spec_upper).sum())
            upper = min(upper, spec_upper)
        if outside:
            self.report["out_of_bounds_in_training"][spec.name] = outside
            logger.warning(
                "Column '%s': %d training values lie outside the declared bounds; "
                "synthetic values will be clipped into them.",
                spec.name,
                outside,
            )
        state["lower"], state["upper"] = lower, max(lower, upper)
        distinct = np.unique(observed)
        if distinct.size == 1:
            state["constant"] = float(distinct[0])
            if not state["has_missing"]:
                return self._passthrough(state, float(distinct[0]))
            state["mode"] = "indicator"
        else:
            quantile = _Quantile.fit(observed)
            state["mode"] = "model"
            state["quantiles"] = quantile.q.tolist()
            state["references"] = quantile.r.tolist()
            state["fill"] = float(quantile.forward(np.array([np.median(observed)]))[0])
            self._quantiles[spec.name] = quantile
            self.num_names.append(spec.name)
        if state["has_missing"]:
            self.cat_names.append(f"{spec.name}_missing")
            self.cardinalities.append(2)
        return state

    def _passthrough(self, state: dict[str, Any], value: Any) -> dict[str, Any]:
        state["mode"] = "constant"
        state["constant"] = value
        what = "all blank" if value is None else f"constant ({value!r})"
        logger.info(
            "Column '%s' is %s: it is not modelled and is re-emitted as it is.",
            state["name"],
            what,
        )
        self.report["passthrough"][state["name"]] = "all blank" if value is None else "constant"
        return state

    @staticmethod
    def _spec_bounds(spec: ColumnSpec) -> tuple[float | None, float | None]:
        if spec.kind != "date":
            return spec.lower, spec.upper

        def days(bound: Any) -> float | None:
            if bound is None:
                return None
            return float((pd.Timestamp(str(bound)) - DATE_ANCHOR) / pd.Timedelta(days=1))

        return days(spec.lower), days(spec.upper)

    @staticmethod
    def _to_numbers(spec: ColumnSpec, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        missing = series.isna().to_numpy()
        if spec.kind == "date":
            stamps = series
            if not pd.api.types.is_datetime64_any_dtype(series.dtype):
                try:
                    stamps = pd.to_datetime(series, format="ISO8601")
                except (ValueError, TypeError) as err:
                    raise DataError(
                        f"date values must be ISO dates (YYYY-MM-DD) or datetimes: {err}",
                        column=spec.name,
                    ) from err
            values = ((stamps - DATE_ANCHOR) / pd.Timedelta(days=1)).to_numpy(
                dtype=float, na_value=np.nan
            )
            return values, missing
        if pd.api.types.is_bool_dtype(series.dtype):
            raise DataError(
                "a boolean column is declared numeric; declare it categorical.",
                column=spec.name,
            )
        numbers = pd.to_numeric(series, errors="coerce")
        bad = numbers.isna().to_numpy() & ~missing
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"value {series.iloc[row]!r} is not a number; clean it upstream or declare "
                "the column categorical.",
                row=row,
                column=spec.name,
            )
        values = numbers.to_numpy(dtype=float, na_value=np.nan)
        if not np.isfinite(values[~missing]).all():
            raise DataError("the column holds infinite values; replace them.", column=spec.name)
        return values, missing

    # ------------------------------------------------------------ transform

    def transform(
        self, table: pd.DataFrame, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode a frame.

        Args:
            table: A frame with the fitted columns.
            rng: Draws the small noise added to imputed values.

        Returns:
            ``(num, cat)``: float32 scores of shape (rows, len(num_names)) and int64
            codes of shape (rows, len(cat_names)).
        """
        self._check_fitted()
        rows = len(table)
        num, cat = [], []
        for state in self.columns:
            if state["mode"] == "constant":
                continue
            series = table[state["name"]]
            if state["kind"] == "categorical":
                cat.append(self._codes(state, series))
                continue
            spec = ColumnSpec(state["name"], state["kind"])
            values, missing = self._to_numbers(spec, series)
            if state["mode"] == "model":
                quantile = self._quantiles[state["name"]]
                scores = np.empty(rows)
                scores[~missing] = quantile.forward(values[~missing])
                noise = rng.normal(0.0, self.config.noise_std, int(missing.sum()))
                scores[missing] = state["fill"] + noise
                num.append(scores)
            if state["has_missing"]:
                cat.append(missing.astype(np.int64))
        num_array = np.stack(num, axis=1) if num else np.zeros((rows, 0))
        cat_array = np.stack(cat, axis=1) if cat else np.zeros((rows, 0))
        return num_array.astype(np.float32), cat_array.astype(np.int64)

    @staticmethod
    def _codes(state: dict[str, Any], series: pd.Series) -> np.ndarray:
        levels = state["levels"]
        missing = series.isna().to_numpy()
        lookup = {level: index for index, level in enumerate(levels)}
        fallback = len(levels)  # the missing level, always last
        if state["group_to"] is not None:
            fallback = lookup.get(state["group_to"], len(levels))
        codes = np.full(len(series), len(levels), dtype=np.int64)
        present = series[~missing].map(lambda v: lookup.get(_python(v), fallback))
        codes[~missing] = present.to_numpy(dtype=np.int64)
        return codes

    # -------------------------------------------------------------- inverse

    def inverse(
        self, num: np.ndarray, cat: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[pd.DataFrame, dict[str, int]]:
        """Decode model output into a frame shaped like the training frame.

        Args:
            num: Numeric scores, shape (rows, len(num_names)).
            cat: Categorical codes, shape (rows, len(cat_names)).
            rng: When given, the marginal of every modelled numeric column is matched to
                the training one by rank (see :meth:`match_marginals`); None decodes the
                scores as they are.

        Returns:
            The frame (modelled columns in spec order, training dtypes) and the number of
            values clipped into bounds per column.
        """
        self._check_fitted()
        rows = num.shape[0] if num.ndim == 2 and num.shape[1] else cat.shape[0]
        num_at = {name: i for i, name in enumerate(self.num_names)}
        cat_at = {name: i for i, name in enumerate(self.cat_names)}
        if rng is not None:
            num = self.match_marginals(num, cat, rng)
        out: dict[str, pd.Series] = {}
        clipped: dict[str, int] = {}
        for state in self.columns:
            name = state["name"]
            if state["kind"] == "categorical":
                out[name] = self._decode_categorical(state, cat, cat_at, rows)
                continue
            if state["mode"] == "model":
                quantile = self._quantiles[name]
                values = quantile.inverse(num[:, num_at[name]].astype(np.float64))
            else:
                constant = state.get("constant")
                values = np.full(rows, np.nan if constant is None else constant)
            if state["mode"] != "constant" or state.get("constant") is not None:
                values, clipped[name] = self._restore(state, values)
            if state["has_missing"] and state["mode"] != "constant":
                values[cat[:, cat_at[f"{name}_missing"]] == 1] = np.nan
            out[name] = self._to_dtype(state, values)
        return pd.DataFrame(out), clipped

    def match_marginals(
        self, num: np.ndarray, cat: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Give each numeric column the training marginal, keeping the model's ranks.

        The scores of the present (not flagged missing) rows of a column are replaced by
        standard-normal quantiles of stratified uniform draws (one in each 1/n stratum),
        in the order of the model's scores: the joint structure (ranks, hence rank
        correlations) is the model's, the marginal is the one the quantile transform
        stored. This removes the blur a finite VAE adds to every number; it uses no
        training data beyond the stored quantiles.

        Args:
            num: Numeric scores, shape (rows, len(num_names)).
            cat: Categorical codes, shape (rows, len(cat_names)).
            rng: Draws the uniform scores, so that small samples stay random.

        Returns:
            A new score array of the same shape.
        """
        cat_at = {name: i for i, name in enumerate(self.cat_names)}
        out = np.array(num, dtype=np.float64, copy=True)
        for j, name in enumerate(self.num_names):
            present = np.ones(len(out), dtype=bool)
            flag = cat_at.get(f"{name}_missing")
            if flag is not None:
                present = cat[:, flag] != 1
            count = int(present.sum())
            if count == 0:
                continue
            order = np.argsort(out[present, j], kind="stable")
            # One uniform draw inside each of count equal strata, already in order: the
            # marginal stays random but its distance to the stored one is ~1/count, not
            # the ~1/sqrt(count) of independent draws.
            uniform = (np.arange(count) + rng.uniform(0.0, 1.0, count)) / count
            scores = np.empty(count)
            scores[order] = special.ndtri(np.clip(uniform, _EDGE, 1 - _EDGE))
            out[present, j] = scores
        return out

    def _decode_categorical(
        self, state: dict[str, Any], cat: np.ndarray, cat_at: dict[str, int], rows: int
    ) -> pd.Series:
        levels = list(state["levels"])
        if state["mode"] == "constant":
            codes = np.zeros(rows, dtype=np.int64)
            choices = levels or [None]
        else:
            codes = cat[:, cat_at[state["name"]]]
            choices = [*levels, None]
        objects = np.empty(len(choices), dtype=object)
        objects[:] = choices
        values = pd.Series(objects[codes], dtype=object)
        dtype = state["dtype"]
        if dtype == "object":
            return values
        if values.isna().any() and dtype in ("bool", "int64", "int32"):
            dtype = "boolean" if dtype == "bool" else "Int64"
        return values.astype(dtype)

    def _restore(self, state: dict[str, Any], values: np.ndarray) -> tuple[np.ndarray, int]:
        lower, upper = state["lower"], state["upper"]
        outside = int(((values < lower) | (values > upper)).sum())
        values = np.clip(values, lower, upper)
        digits = state["decimals"]
        if digits is not None:
            step = 10.0**-digits
            values = np.round(values, digits)
            low = np.ceil(round(lower / step, 6)) * step
            high = np.floor(round(upper / step, 6)) * step
            if low <= high:
                values = np.round(np.clip(values, low, high), digits)
        return values, outside

    @staticmethod
    def _to_dtype(state: dict[str, Any], values: np.ndarray) -> pd.Series:
        dtype = state["dtype"]
        missing = np.isnan(values)
        if state["kind"] == "date":
            stamps = DATE_ANCHOR + pd.to_timedelta(np.round(values), unit="D")
            series = pd.Series(stamps)
            if pd.api.types.is_datetime64_any_dtype(np.dtype(dtype) if "[" in dtype else dtype):
                return series.astype(dtype)
            return series.dt.strftime("%Y-%m-%d").astype(dtype)
        if dtype in ("int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64"):
            if missing.any():
                return pd.Series(values).round().astype("Int64")
            return pd.Series(np.round(values).astype(dtype))
        if dtype in ("Int64", "Int32", "Int16", "Int8"):
            return pd.Series(pd.array(np.where(missing, 0, np.round(values)), dtype=dtype)).mask(
                missing
            )
        if dtype in ("float64", "float32", "Float64", "Float32"):
            return pd.Series(values).astype(dtype)
        # Numbers that arrived as text go back as text.
        if state["integer"]:
            text = pd.Series(values).round().astype("Int64").astype(object)
        else:
            text = pd.Series(values).astype(object)
        return text.where(~missing, None).map(lambda v: v if v is None else str(v)).astype(dtype)

    # --------------------------------------------------------------- saving

    def _check_fitted(self) -> None:
        if not self.columns:
            raise NotFittedError("The encoder is not fitted; call fit(table, columns) first.")

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the encoder, as plain Python values."""
        self._check_fitted()
        return {
            "config": dict(vars(self.config)),
            "columns": self.columns,
            "num_names": self.num_names,
            "cat_names": self.cat_names,
            "cardinalities": self.cardinalities,
            "report": self.report,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TableEncoder:
        """Rebuild an encoder saved with :meth:`state_dict`."""
        encoder = cls(EncodingConfig(**state["config"]))
        encoder.columns = state["columns"]
        encoder.num_names = list(state["num_names"])
        encoder.cat_names = list(state["cat_names"])
        encoder.cardinalities = list(state["cardinalities"])
        encoder.report = state["report"]
        for column in encoder.columns:
            if column.get("mode") == "model" and "quantiles" in column:
                encoder._quantiles[column["name"]] = _Quantile(
                    np.asarray(column["quantiles"]), np.asarray(column["references"])
                )
        return encoder

    @property
    def output_names(self) -> list[str]:
        """The decoded frame's columns, in spec order."""
        return [c["name"] for c in self.columns]
