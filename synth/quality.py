"""Quality control of sampled rows: clinical rules and exact copies of training rows.

A rule (configuration key ``rules``) is a SQL condition over one row's modelled mart
columns. Like an SQL CHECK constraint, a rule that is NULL for a row (say, a value it
reads is missing) counts as passed; only a rule that is false rejects the row. Rejected
rows are dropped and more rows are sampled, with seeds derived from the run's seed,
until the requested count is reached or :data:`MAX_ROUNDS` rounds have been drawn.

A row that equals a training row in every modelled column (NULL equal to NULL) is an
exact copy. Copies are always counted; with ``privacy.remove_exact_copies: true`` they
are replaced like rejected rows. Counts go to ``meta.qc_rejections``, one row per rule
plus one named ``exact_copy``, each over every row checked (a row failing two rules
counts for both).

Before any rule, columns named in ``recompute`` take the value of their formula over the
row (rounded and bounded like the column); where the formula is NULL (an input is
missing) the model's value stays. A relation the model only approximates, such as BMI
from weight and height, then holds exactly instead of costing rejected rows.

Example:
    >>> result = sample_checked(model, 500, seed=7, rules=cfg.rules,  # doctest: +SKIP
    ...                         train=train, columns=cfg.mart.modelled)
    >>> result.frame.shape[0], result.rejected                       # doctest: +SKIP
    (500, {'followup_nonnegative': 3, 'exact_copy': 0})
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from synth import warehouse
from synth.config import DatasetConfig, RecomputeConfig, RuleConfig
from synth.errors import SynthError
from synth.schema import ColumnSpec

log = logging.getLogger(__name__)

EXACT_COPY = "exact_copy"  # the meta.qc_rejections row for copies of training rows
MAX_ROUNDS = 20  # sampling rounds before giving up on rules that reject almost everything
# A round after the first draws the rows still needed divided by the share accepted so
# far, but never more than the rows needed divided by this floor (plus a 10% margin).
_MIN_ACCEPTED_SHARE = 0.1

_QC_DDL = """
create schema if not exists meta;
create table if not exists meta.qc_rejections (
    run_id varchar not null,
    rule_name varchar not null,
    rows_rejected bigint not null,
    rows_checked bigint not null,
    primary key (run_id, rule_name)
);
"""


@dataclass
class QualityResult:
    """Rows that passed quality control, and what was rejected on the way."""

    frame: pd.DataFrame  # exactly the rows asked for, all passing every rule
    rows_checked: int  # rows drawn and checked, over all rounds
    rejected: dict[str, int]  # rows failing each rule, then EXACT_COPY: copies found
    rounds: int  # sampling rounds drawn
    copies_removed: bool  # whether copies were replaced (privacy.remove_exact_copies)


class RowChecker:
    """Evaluates rules and the exact-copy test on batches, in a private in-memory DuckDB.

    The rules run on their own connection with external access switched off, never on
    the dataset's database.

    Args:
        rules: The rules every row must pass.
        columns: The modelled columns (identifiers excluded); copies compare all of them.
        train: The training rows for the copy test; None skips it (no copy is found).
        types: SQL type of each column; rows are cast to it before the checks, so the
            rules see the values as they will be written. None keeps the frame's types.
        recompute: Columns that take a formula's value (see :meth:`recomputed`).
        specs: Specifications of the columns, for rounding and bounding recomputed ones.
    """

    def __init__(
        self,
        rules: list[RuleConfig],
        columns: list[str],
        train: pd.DataFrame | None = None,
        types: dict[str, str] | None = None,
        recompute: list[RecomputeConfig] | None = None,
        specs: dict[str, ColumnSpec] | None = None,
    ) -> None:
        self.rules = rules
        self.columns = columns
        self.types = types
        self.recompute = list(recompute or [])
        self.specs = specs or {}
        self.con = duckdb.connect()
        self.con.execute("set enable_external_access = false")
        self.has_train = train is not None
        if train is not None:
            self.con.register("_qc_train_rows", warehouse.frame_to_arrow(train[columns]))
            self.con.execute(
                "create table _qc_train as select distinct "
                f"{self._casts()}, true as _qc_hit from _qc_train_rows"
            )
            self.con.unregister("_qc_train_rows")

    def __enter__(self) -> RowChecker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.con.close()

    def _casts(self) -> str:
        quoted = [warehouse.quote(c) for c in self.columns]
        if self.types is None:
            return ", ".join(quoted)
        return ", ".join(
            f"cast({q} as {self.types[c]}) as {q}"
            for q, c in zip(quoted, self.columns, strict=True)
        )

    def _run(self, rows: pd.DataFrame, query: str, what: str, section: str) -> pd.DataFrame:
        """Run a query over ``rows`` registered as ``_qc_batch``; errors name the section."""
        self.con.register("_qc_batch", warehouse.frame_to_arrow(rows))
        try:
            return self.con.execute(query).df()
        except duckdb.Error as exc:
            raise SynthError(
                f"{what} could not be evaluated on sampled rows: {exc}. Fix it in the "
                f"configuration's {section} section."
            ) from exc
        finally:
            self.con.unregister("_qc_batch")

    def recomputed(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The batch with every ``recompute`` column set to its formula's value.

        A formula reads the row as sampled (cast like the checks). Where it is NULL or not
        finite, the sampled value stays; elsewhere the value is rounded to the column's
        decimals (whole numbers for integer columns) and clipped into its bounds.

        Raises:
            SynthError: A formula cannot be evaluated on these rows.
        """
        if not self.recompute or batch.empty:
            return batch
        rows = batch[self.columns].reset_index(drop=True).assign(_qc_row=np.arange(len(batch)))
        values = ", ".join(
            f"cast((\n{item.sql}\n) as double) as _qc_value_{i}"
            for i, item in enumerate(self.recompute)
        )
        query = f"""
            with b as (select _qc_row, {self._casts()} from _qc_batch)
            select {values} from b order by _qc_row
        """
        names = [item.column for item in self.recompute]
        result = self._run(rows, query, f"The recompute formulas of {names}", "recompute")
        out = batch.reset_index(drop=True).copy()
        for i, item in enumerate(self.recompute):
            value = result[f"_qc_value_{i}"].to_numpy(dtype=np.float64, na_value=np.nan)
            found = np.isfinite(value)
            spec = self.specs.get(item.column)
            if spec is not None:
                digits = 0 if spec.integer else spec.decimals
                if digits is not None:
                    value = np.round(value, digits)
                value = np.clip(
                    value,
                    -np.inf if spec.lower is None else spec.lower,
                    np.inf if spec.upper is None else spec.upper,
                )
            # Only rows with a formula value change, cast to the column's own type (a
            # NaN where the formula is NULL would not fit an integer column).
            column = out[item.column].copy()
            column.iloc[np.flatnonzero(found)] = pd.Series(value[found]).astype(column.dtype)
            out[item.column] = column
        return out

    def flags(self, batch: pd.DataFrame) -> pd.DataFrame:
        """One row per batch row, in order: True where a rule fails or the row is a copy.

        Returns:
            Boolean columns named after each rule, then :data:`EXACT_COPY`.

        Raises:
            SynthError: A rule cannot be evaluated on these rows.
        """
        rows = batch[self.columns].reset_index(drop=True).assign(_qc_row=np.arange(len(batch)))
        rule_flags = "".join(
            f",\n not coalesce(({rule.sql}\n), true) as _qc_rule_{i}"
            for i, rule in enumerate(self.rules)
        )
        if self.has_train:
            match = " and ".join(
                f"r.{q} is not distinct from t.{q}"
                for q in (warehouse.quote(c) for c in self.columns)
            )
            copy, join = "t._qc_hit is not null", f"left join _qc_train as t on {match}"
        else:
            copy, join = "false", ""
        query = f"""
            with b as (select _qc_row, {self._casts()} from _qc_batch),
            r as (select *{rule_flags} from b)
            select {"".join(f"r._qc_rule_{i}, " for i in range(len(self.rules)))}
                {copy} as _qc_copy
            from r {join}
            order by r._qc_row
        """
        result = self._run(rows, query, f"The rules {[r.name for r in self.rules]}", "rules")
        result.columns = [*(r.name for r in self.rules), EXACT_COPY]
        return result.astype(bool)


def round_seed(seed: int, round_no: int) -> int:
    """The seed of a sampling round: the run's seed first, then seeds derived from it."""
    if round_no == 0:
        return seed
    return int(np.random.SeedSequence([abs(seed), round_no]).generate_state(1)[0])


def sample_checked(
    model: Any,
    n: int,
    *,
    seed: int,
    rules: list[RuleConfig],
    train: pd.DataFrame | None,
    columns: list[ColumnSpec],
    types: dict[str, str] | None = None,
    remove_exact_copies: bool = False,
    max_rounds: int = MAX_ROUNDS,
    recompute: list[RecomputeConfig] | None = None,
) -> QualityResult:
    """Sample ``n`` rows that pass every rule, drawing more rounds as rows are rejected.

    Args:
        model: A fitted generator with ``sample(n, seed=...)``.
        n: Rows wanted.
        seed: The run's seed; the first round uses it, later rounds derive from it.
        rules: Rules each row must pass (NULL passes).
        train: Training rows for the exact-copy test, or None to skip it.
        columns: Column specs; the modelled (non-identifier) ones are checked.
        types: SQL type of each column, to check rows as they will be written.
        remove_exact_copies: Replace copies of training rows like rejected rows.
        max_rounds: Rounds to draw before giving up.
        recompute: Columns that take a formula's value before the checks.

    Returns:
        The rows, in the order drawn, with per-rule counts over every row checked.

    Raises:
        SynthError: The rules reject so many rows that ``n`` are not reached in
            ``max_rounds`` rounds; the message names the rule that rejected most.
    """
    names = [c.name for c in columns if not c.is_identifier]
    rejected = dict.fromkeys([*(r.name for r in rules), EXACT_COPY], 0)
    kept: list[pd.DataFrame] = []
    have = checked = rounds = 0
    specs = {c.name: c for c in columns}
    with RowChecker(rules, names, train, types, recompute, specs) as checker:
        while have < n and rounds < max_rounds:
            need = n - have
            size = need
            if rounds > 0:
                share = max(have / checked, _MIN_ACCEPTED_SHARE)
                size = math.ceil(need / share * 1.1)
            batch = model.sample(size, seed=round_seed(seed, rounds)).reset_index(drop=True)
            batch = checker.recomputed(batch)
            flags = checker.flags(batch)
            rounds += 1
            checked += len(batch)
            for name in rejected:
                rejected[name] += int(flags[name].sum())
            bad = flags[[r.name for r in rules]].any(axis=1)
            if remove_exact_copies:
                bad |= flags[EXACT_COPY]
            good = batch.loc[~bad.to_numpy()]
            if len(good):
                kept.append(good)
                have += len(good)
    if have < n:
        counted = {k: v for k, v in rejected.items() if k != EXACT_COPY or remove_exact_copies}
        worst = max(counted, key=lambda k: counted[k], default="(none)")
        raise SynthError(
            f"Quality control kept only {have} of the {n} rows asked for after {rounds} "
            f"rounds ({checked} rows checked); the rule {worst!r} rejected "
            f"{counted.get(worst, 0)} of them. Check that rule in the configuration, or "
            "train a better generator."
        )
    frame = pd.concat(kept, ignore_index=True).iloc[:n].reset_index(drop=True)
    return QualityResult(frame, checked, rejected, rounds, remove_exact_copies)


def sample_for_run(
    cfg: DatasetConfig, model: Any, n: int, *, seed: int, train_view: str
) -> QualityResult:
    """Sample ``n`` rows for a run, checked against the rules and the training rows.

    Reads the mart's column types and the training rows (``train_view``) from the
    dataset's database, then calls :func:`sample_checked` with the configuration's
    rules and ``privacy.remove_exact_copies``.
    """
    names = [c.name for c in cfg.mart.modelled]
    with warehouse.connect(cfg.database, read_only=True) as con:
        types = dict(warehouse.table_columns(con, cfg.mart.table))
        cols = ", ".join(warehouse.quote(c) for c in names)
        train = con.execute(f"select {cols} from {warehouse.quote_table(train_view)}").df()
    result = sample_checked(
        model,
        n,
        seed=seed,
        rules=cfg.rules,
        train=train,
        columns=cfg.mart.columns,
        types={c: types[c] for c in names},
        remove_exact_copies=cfg.privacy.remove_exact_copies,
        recompute=cfg.recompute,
    )
    log_result(result, cfg.rules)
    return result


def log_result(result: QualityResult, rules: list[RuleConfig]) -> None:
    """Log one line per rule, and one for exact copies."""
    for rule in rules:
        log.info(
            "rule %s: %d of %d sampled rows rejected (%s)",
            rule.name,
            result.rejected[rule.name],
            result.rows_checked,
            rule.description or rule.sql,
        )
    action = "removed and replaced" if result.copies_removed else "kept, only counted"
    log.info(
        "exact copies of training rows: %d of %d sampled rows (%s)",
        result.rejected[EXACT_COPY],
        result.rows_checked,
        action,
    )


def record_rejections(con: duckdb.DuckDBPyConnection, run_id: str, result: QualityResult) -> None:
    """Replace the run's rows of ``meta.qc_rejections`` in one transaction.

    Args:
        con: An open, writable connection to the dataset's database.
        run_id: The run sampled.
        result: What :func:`sample_checked` returned.
    """
    con.execute(_QC_DDL)
    rows = [(run_id, name, count, result.rows_checked) for name, count in result.rejected.items()]
    con.execute("begin transaction")
    try:
        con.execute("delete from meta.qc_rejections where run_id = ?", [run_id])
        con.executemany("insert into meta.qc_rejections values (?, ?, ?, ?)", rows)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
