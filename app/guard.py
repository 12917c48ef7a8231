"""The k-anonymity guard: every count the explorer shows passes through here.

The guard is plain Python so that it can be tested without Streamlit. It works on
*cohorts*: a cohort is a box, one set of allowed values per column (a column not named
is unconstrained). ``NULL`` (``None``) is a value like any other, so a blank is a group of
its own. A released count is a pair (cohort, number of people).

What the guard does with a table of counts, in order:

1. **Coarsening.** The caller offers the same question at several levels of detail
   (10-year age bands, 20-year bands, all ages); the guard takes the finest level that
   hides at most 5% of the people (``HIDDEN_SHARE``) and shows the grand total,
   otherwise the level that hides the fewest people.
2. **Primary suppression.** Every count under ``k``, zero included, margins and the
   grand total included, is hidden.
3. **Complementary suppression.** A row or column (margins count as a row and a column)
   with exactly one hidden count would give it away, so the smallest other count in that
   line is hidden too, until no line has exactly one. Then each hidden count is bounded by
   linear programming over everything still shown (non-negative counts, every row and
   column sum); while any hidden count is pinned to one value, more counts are hidden.
4. **Differencing.** The guard remembers every count it released for a scope (one
   dataset table). Together with the new counts it derives what an attacker can: the
   difference of two nested cohorts, the sum of two disjoint cohorts that differ in one
   column, and so on to a fixed point. A derived group of 1..k-1 people means the newest
   count involved is withheld, and steps 3-4 repeat.

What it does not do: noise (answers are exact and repeatable, so averaging attacks gain
nothing), and general linear auditing over arbitrary unions of cohorts. Derivations use
nesting: a cohort minus one released cohort inside it, or minus the largest disjoint
released cohorts inside it. That covers trackers that shift a range bound, drop a filter
or sum neighbouring cells up to a released total; a new cohort that sits inside the union
of earlier cells, where that union was never released as a total, is not compared.

Example:
    >>> guard = Guard(k=10)
    >>> everyone = Cohort()
    >>> guard.release_count(everyone, 180)
    180
    >>> adults = Cohort({"age": ValueSet.of(*range(18, 131))})
    >>> guard.release_count(adults, 177)  # 3 people under 18 would follow
    Traceback (most recent call last):
    ...
    synth.errors.QueryRefused: This count is withheld: together with counts released ...
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from synth.errors import QueryRefused

log = logging.getLogger(__name__)

SUPPRESSED = "suppressed"  # what the explorer shows in place of a hidden count
HIDDEN_SHARE = 0.05  # a level of detail is kept while it hides at most this share of people


# ---------------------------------------------------------------------------------------
# Cohorts: boxes of allowed values


@dataclass(frozen=True)
class ValueSet:
    """A set of values of one column, finite or co-finite.

    Attributes:
        values: The values named.
        complement: When true the set is every value *except* ``values``.
    """

    values: frozenset = frozenset()
    complement: bool = False

    @classmethod
    def of(cls, *values: Hashable) -> ValueSet:
        """The finite set of the given values (``None`` stands for a blank)."""
        return cls(frozenset(values), False)

    @classmethod
    def everything(cls) -> ValueSet:
        """The unconstrained set."""
        return cls(frozenset(), True)

    def is_empty(self) -> bool:
        """True when no value is allowed."""
        return not self.complement and not self.values

    def is_everything(self) -> bool:
        """True when every value is allowed."""
        return self.complement and not self.values

    def __invert__(self) -> ValueSet:
        return ValueSet(self.values, not self.complement)

    def __and__(self, other: ValueSet) -> ValueSet:
        a, b = self, other
        if not a.complement and not b.complement:
            return ValueSet(a.values & b.values)
        if a.complement and b.complement:
            return ValueSet(a.values | b.values, True)
        if a.complement:
            a, b = b, a
        return ValueSet(a.values - b.values)

    def __or__(self, other: ValueSet) -> ValueSet:
        return ~(~self & ~other)

    def __sub__(self, other: ValueSet) -> ValueSet:
        return self & ~other

    def issubset(self, other: ValueSet) -> bool:
        """True when every value of this set is in ``other``."""
        if not self.complement:
            if not other.complement:
                return self.values <= other.values
            return self.values.isdisjoint(other.values)
        return other.complement and other.values <= self.values

    def isdisjoint(self, other: ValueSet) -> bool:
        """True when no value is in both sets."""
        return (self & other).is_empty()

    def to_json(self) -> dict:
        """A JSON-ready form, read back by :meth:`from_json`."""
        return {"values": sorted(self.values, key=repr), "complement": self.complement}

    @classmethod
    def from_json(cls, data: Mapping) -> ValueSet:
        """The set written by :meth:`to_json`."""
        return cls(frozenset(data["values"]), bool(data["complement"]))


class Cohort:
    """A box of people: for each named column, the set of values allowed.

    Args:
        constraints: Column name to allowed values; unconstrained columns may be omitted.

    Example:
        >>> women_40s = Cohort({"sex": ValueSet.of("F"), "age": ValueSet.of(*range(40, 50))})
        >>> women_40s.issubset(Cohort({"sex": ValueSet.of("F")}))
        True
    """

    __slots__ = ("_hash", "items")

    def __init__(self, constraints: Mapping[str, ValueSet] | None = None) -> None:
        kept = {c: v for c, v in (constraints or {}).items() if not v.is_everything()}
        self.items: tuple[tuple[str, ValueSet], ...] = tuple(sorted(kept.items()))
        self._hash = hash(self.items)

    def get(self, column: str) -> ValueSet:
        """The values allowed in ``column``."""
        for name, values in self.items:
            if name == column:
                return values
        return ValueSet.everything()

    @property
    def columns(self) -> frozenset[str]:
        """The constrained columns."""
        return frozenset(name for name, _ in self.items)

    def is_empty(self) -> bool:
        """True when no person can be in the cohort."""
        return any(v.is_empty() for _, v in self.items)

    def __and__(self, other: Cohort) -> Cohort:
        cols = self.columns | other.columns
        return Cohort({c: self.get(c) & other.get(c) for c in cols})

    def issubset(self, other: Cohort) -> bool:
        """True when everyone in this cohort is in ``other``."""
        if self.is_empty():
            return True
        return all(self.get(c).issubset(v) for c, v in other.items)

    def disjoint(self, other: Cohort) -> bool:
        """True when no person can be in both cohorts."""
        return (
            self.is_empty()
            or other.is_empty()
            or any(v.isdisjoint(other.get(c)) for c, v in self.items)
        )

    def differing(self, other: Cohort) -> list[str]:
        """Columns whose constraints differ between the two cohorts."""
        cols = self.columns | other.columns
        return [c for c in sorted(cols) if self.get(c) != other.get(c)]

    def replace(self, column: str, values: ValueSet) -> Cohort:
        """The same cohort with ``column`` constrained to ``values``."""
        merged = dict(self.items)
        merged[column] = values
        return Cohort(merged)

    def to_json(self) -> str:
        """A stable JSON text, read back by :meth:`from_json`."""
        return json.dumps({c: v.to_json() for c, v in self.items}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Cohort:
        """The cohort written by :meth:`to_json`."""
        return cls({c: ValueSet.from_json(v) for c, v in json.loads(text).items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cohort) and self.items == other.items

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Cohort({dict(self.items)!r})"


# ---------------------------------------------------------------------------------------
# Tables in and out


@dataclass(frozen=True)
class Group:
    """One row or column of a count table: a label and the cohort it selects."""

    label: str
    cohort: Cohort


@dataclass(frozen=True)
class CountTable:
    """Counts of people in a two-way table, before the guard has seen them.

    Attributes:
        cohort: The filters every cell shares.
        rows: Row groups (for example age bands; a blank is a group of its own).
        cols: Column groups (for example sex).
        counts: ``counts[i][j]`` people in ``rows[i]`` and ``cols[j]``.
        level: What this level of detail is called, for the notes ("10-year age bands").
    """

    cohort: Cohort
    rows: tuple[Group, ...]
    cols: tuple[Group, ...]
    counts: tuple[tuple[int, ...], ...]
    level: str = ""

    def __post_init__(self) -> None:
        shape_ok = len(self.counts) == len(self.rows) and all(
            len(r) == len(self.cols) for r in self.counts
        )
        if not shape_ok or not self.rows or not self.cols:
            raise ValueError(
                "counts must have one row per row group and one column per column group"
            )

    def grid(self) -> list[list[int]]:
        """The table with row totals as a last column and column totals as a last row."""
        body = [list(r) for r in self.counts]
        for r in body:
            r.append(sum(r))
        body.append([sum(r[j] for r in body) for j in range(len(self.cols) + 1)])
        return body

    def box(self, i: int, j: int) -> Cohort:
        """The cohort behind grid entry ``(i, j)``; index ``len`` stands for a total."""
        cohort = self.cohort
        if i < len(self.rows):
            cohort = cohort & self.rows[i].cohort
        if j < len(self.cols):
            cohort = cohort & self.cols[j].cohort
        return cohort


@dataclass
class GuardedTable:
    """A table the guard has released: hidden counts are ``None``.

    Attributes:
        rows: Row labels.
        cols: Column labels.
        cells: ``cells[i][j]`` a count, or ``None`` where suppressed.
        row_totals: Per row, a count or ``None``.
        col_totals: Per column, a count or ``None``.
        total: The grand total, or ``None``.
        level: The level of detail chosen.
        notes: What the guard changed and why, in sentences for the user.
        k: The threshold applied.
    """

    rows: list[str]
    cols: list[str]
    cells: list[list[int | None]]
    row_totals: list[int | None]
    col_totals: list[int | None]
    total: int | None
    level: str
    notes: list[str] = field(default_factory=list)
    k: int = 10

    @property
    def refused(self) -> bool:
        """True when the guard released no count at all."""
        released = [v for r in self.cells for v in r] + self.row_totals + self.col_totals
        return self.total is None and all(v is None for v in released)

    @property
    def suppressed_cells(self) -> int:
        """How many body cells are hidden."""
        return sum(v is None for r in self.cells for v in r)

    def released_numbers(self) -> list[int]:
        """Every number this table shows, for checks and tests."""
        values = [v for r in self.cells for v in r] + self.row_totals + self.col_totals
        return [v for v in [*values, self.total] if v is not None]


# ---------------------------------------------------------------------------------------
# Memory of what was released


class ReleaseLog(Protocol):
    """Where the guard remembers released counts, per scope (one dataset table)."""

    def load(self, scope: str) -> list[tuple[Cohort, int]]:
        """Every (cohort, count) released in ``scope``."""
        ...

    def append(self, scope: str, released: Sequence[tuple[Cohort, int]]) -> None:
        """Remember newly released counts."""
        ...


class MemoryLog:
    """A release log that lives as long as the process (for tests and notebooks)."""

    def __init__(self) -> None:
        self._by_scope: dict[str, dict[Cohort, int]] = {}

    def load(self, scope: str) -> list[tuple[Cohort, int]]:
        """Every (cohort, count) released in ``scope``."""
        return list(self._by_scope.get(scope, {}).items())

    def append(self, scope: str, released: Sequence[tuple[Cohort, int]]) -> None:
        """Remember newly released counts."""
        self._by_scope.setdefault(scope, {}).update(released)


class DuckDBLog:
    """A release log in a small DuckDB file of its own (the warehouse stays read-only).

    Table ``released(scope, cohort, n, released_at)`` holds one row per distinct released
    count; it holds no person-level data, only counts of ``k`` or more.

    Args:
        path: The audit database, for example ``runs/nafld/audit.duckdb``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        import duckdb

        self._duckdb = duckdb
        with self._connect() as con:
            con.execute(
                "create table if not exists released ("
                " scope varchar not null, cohort varchar not null, n bigint not null,"
                " released_at timestamp default current_timestamp,"
                " primary key (scope, cohort))"
            )

    def _connect(self):
        return self._duckdb.connect(str(self.path))

    def load(self, scope: str) -> list[tuple[Cohort, int]]:
        """Every (cohort, count) released in ``scope``."""
        with self._connect() as con:
            rows = con.execute(
                "select cohort, n from released where scope = ? order by released_at", [scope]
            ).fetchall()
        return [(Cohort.from_json(text), int(n)) for text, n in rows]

    def append(self, scope: str, released: Sequence[tuple[Cohort, int]]) -> None:
        """Remember newly released counts."""
        if not released:
            return
        with self._connect() as con:
            con.executemany(
                "insert into released (scope, cohort, n) values (?, ?, ?) on conflict do nothing",
                [[scope, c.to_json(), int(n)] for c, n in released],
            )


# ---------------------------------------------------------------------------------------
# The guard


@dataclass
class _Fact:
    cohort: Cohort
    count: int
    sources: frozenset[int]  # indices of new counts this fact depends on


class Guard:
    """Releases counts of people only when no group of 1..k-1 people can be worked out.

    Args:
        k: The smallest group of people ever shown (``privacy.k`` in the configuration).
        log: Where released counts are remembered; a :class:`MemoryLog` by default.
        scope: Which memory to use, one per dataset table (for example ``nafld:marts.persons``).

    Example:
        >>> guard = Guard(k=10)
        >>> table = CountTable(
        ...     Cohort(),
        ...     rows=(Group("a", Cohort({"g": ValueSet.of("a")})),),
        ...     cols=(Group("all", Cohort()),),
        ...     counts=((3,),),
        ... )
        >>> guard.release_table([table]).cells
        [[None]]
    """

    def __init__(self, k: int = 10, log: ReleaseLog | None = None, scope: str = "default") -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.log = log if log is not None else MemoryLog()
        self.scope = scope
        self._lock = threading.Lock()

    # -- public entry points ------------------------------------------------------------

    def release_count(self, cohort: Cohort, count: int) -> int:
        """Release one count, or refuse it.

        Args:
            cohort: Who was counted.
            count: How many people.

        Returns:
            ``count``, now remembered as released.

        Raises:
            QueryRefused: The count is under k, or it would reveal a group of 1..k-1
                people together with counts released before.
        """
        if count < self.k:
            raise QueryRefused(f"This count is withheld: it is under the limit of {self.k} people.")
        with self._lock:
            history = self.log.load(self.scope)
            if self._conflicts(history, [(cohort, count)]):
                log.info("refused one count in %s: differencing with earlier answers", self.scope)
                raise QueryRefused(
                    "This count is withheld: together with counts released before, it would "
                    f"reveal a group of fewer than {self.k} people."
                )
            self.log.append(self.scope, [(cohort, count)])
        return count

    def release_table(self, levels: Sequence[CountTable]) -> GuardedTable:
        """Release a table of counts at the best level of detail the guard allows.

        Args:
            levels: The same question from finest to coarsest (for example 10-year,
                20-year and all-age bands). One level is fine.

        Returns:
            The released table; hidden counts are ``None`` and ``notes`` says why.
        """
        if not levels:
            raise ValueError("release_table needs at least one table")
        with self._lock:
            history = self.log.load(self.scope)
            options = [(t, self._protect(t, history)) for t in levels]
            chosen = self._choose(options)
            table, (grid, hidden, reasons) = options[chosen]
            released = [
                (table.box(i, j), grid[i][j])
                for i in range(len(grid))
                for j in range(len(grid[0]))
                if (i, j) not in hidden
            ]
            self.log.append(self.scope, released)
        out = self._to_guarded(table, grid, hidden)
        out.notes = self._notes(levels, chosen, reasons, out)
        log.info(
            "released %s table in %s: %d of %d counts hidden",
            table.level or "a",
            self.scope,
            len(hidden),
            len(grid) * len(grid[0]),
        )
        return out

    # -- the steps ------------------------------------------------------------------------

    def _protect(
        self, table: CountTable, history: list[tuple[Cohort, int]]
    ) -> tuple[list[list[int]], set[tuple[int, int]], set[str]]:
        grid = table.grid()
        cells = [(i, j) for i in range(len(grid)) for j in range(len(grid[0]))]
        hidden = {e for e in cells if grid[e[0]][e[1]] < self.k}
        reasons = {"small"} if hidden else set()
        while True:
            before = len(hidden)
            hidden |= complementary_suppression(grid, hidden)
            pinned = pinned_cells(grid, hidden)
            if pinned:
                hidden.add(_smallest_in_lines(grid, hidden, pinned[0]))
            if len(hidden) > before:
                reasons.add("complementary")
                continue
            shown = [e for e in cells if e not in hidden]
            new = [(table.box(*e), grid[e[0]][e[1]]) for e in shown]
            bad = self._conflicts(history, new)
            if not bad:
                return grid, hidden, reasons
            worst = min(bad, key=lambda n: (grid[shown[n][0]][shown[n][1]], shown[n]))
            hidden.add(shown[worst])
            reasons.add("differencing")

    def _choose(self, options: list[tuple[CountTable, tuple]]) -> int:
        """The finest level hiding at most a small share of people, else the one hiding fewest."""

        def people_hidden(n: int) -> int:
            table, (grid, hidden, _) = options[n]
            return sum(grid[i][j] for i, j in hidden if i < len(table.rows) and j < len(table.cols))

        for n, (table, (grid, hidden, _)) in enumerate(options):
            total = grid[len(table.rows)][len(table.cols)]
            released_total = (len(table.rows), len(table.cols)) not in hidden
            if released_total and people_hidden(n) <= HIDDEN_SHARE * total:
                return n
        return min(range(len(options)), key=lambda n: (people_hidden(n), n))

    def _conflicts(
        self, history: list[tuple[Cohort, int]], new: list[tuple[Cohort, int]]
    ) -> set[int]:
        """Indices of new counts that help derive a group of 1..k-1 people.

        For every cohort X released (or about to be) that holds a new count, an attacker
        can subtract from X any released cohort inside it, or a set of disjoint released
        cohorts inside it. Each such remainder must be 0 or at least k.
        """
        known: dict[Cohort, _Fact] = {c: _Fact(c, n, frozenset()) for c, n in history}
        bad: set[int] = set()
        fresh: list[_Fact] = []
        for idx, (cohort, n) in enumerate(new):
            old = known.get(cohort)
            if old is None:
                known[cohort] = _Fact(cohort, n, frozenset({idx}))
                fresh.append(known[cohort])
            elif 0 < abs(old.count - n) < self.k:
                bad.add(idx)
        facts = list(known.values())
        targets = {id(f): f for f in fresh}
        for f in facts:
            if not f.sources and any(g.cohort.issubset(f.cohort) for g in fresh):
                targets[id(f)] = f
        for x in targets.values():
            inside = [y for y in facts if y is not x and y.cohort.issubset(x.cohort)]
            for y in inside:
                if 0 < x.count - y.count < self.k:
                    bad |= x.sources | y.sources
            top = [
                y
                for y in inside
                if not any(z is not y and y.cohort.issubset(z.cohort) for z in inside)
            ]
            chosen: list[_Fact] = []
            for y in sorted(top, key=lambda f: -f.count):
                if all(y.cohort.disjoint(z.cohort) for z in chosen):
                    chosen.append(y)
            rest = x.count - sum(y.count for y in chosen)
            if len(chosen) > 1 and 0 < rest < self.k:
                bad |= x.sources.union(*(y.sources for y in chosen))
        return bad

    def _to_guarded(
        self, table: CountTable, grid: list[list[int]], hidden: set[tuple[int, int]]
    ) -> GuardedTable:
        def show(i: int, j: int) -> int | None:
            return None if (i, j) in hidden else grid[i][j]

        nr, nc = len(table.rows), len(table.cols)
        return GuardedTable(
            rows=[g.label for g in table.rows],
            cols=[g.label for g in table.cols],
            cells=[[show(i, j) for j in range(nc)] for i in range(nr)],
            row_totals=[show(i, nc) for i in range(nr)],
            col_totals=[show(nr, j) for j in range(nc)],
            total=show(nr, nc),
            level=table.level,
            k=self.k,
        )

    def _notes(
        self,
        levels: Sequence[CountTable],
        chosen: int,
        reasons: set[str],
        out: GuardedTable,
    ) -> list[str]:
        notes = []
        if chosen > 0:
            notes.append(
                f"Coarsened: shown as {levels[chosen].level or 'a coarser table'} instead of "
                f"{levels[0].level or 'the table asked for'}, so that fewer counts fall under "
                f"{self.k} people."
            )
        if out.refused:
            notes.append(
                f"Refused: every count of this query would reveal a group of fewer than "
                f"{self.k} people, so none is shown."
            )
            return notes
        if "small" in reasons:
            notes.append(f"Suppressed: counts under {self.k} people (zero included) are hidden.")
        if "complementary" in reasons:
            notes.append(
                "Suppressed: further counts are hidden so that no hidden count can be worked "
                "out from the totals shown beside it."
            )
        if "differencing" in reasons:
            notes.append(
                "Suppressed: counts are withheld that, together with answers released before, "
                f"would reveal a group of fewer than {self.k} people."
            )
        return notes


# ---------------------------------------------------------------------------------------
# Complementary suppression and its check


def _lines(grid: list[list[int]]) -> list[list[tuple[int, int]]]:
    nr, nc = len(grid), len(grid[0])
    rows = [[(i, j) for j in range(nc)] for i in range(nr)]
    cols = [[(i, j) for i in range(nr)] for j in range(nc)]
    return rows + cols


def complementary_suppression(
    grid: list[list[int]], hidden: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Hide more counts until no row or column of the grid has exactly one hidden count.

    Args:
        grid: Counts with row totals as the last column and column totals as the last row.
        hidden: Entries already hidden.

    Returns:
        All hidden entries: ``hidden`` and the complements added (the smallest count of
        the line each time).
    """
    hidden = set(hidden)
    changed = True
    while changed:
        changed = False
        for line in _lines(grid):
            inside = [e for e in line if e in hidden]
            shown = [e for e in line if e not in hidden]
            if len(inside) == 1 and shown:
                hidden.add(min(shown, key=lambda e: (grid[e[0]][e[1]], e)))
                changed = True
    return hidden


def cell_bounds(
    grid: list[list[int]], hidden: set[tuple[int, int]]
) -> dict[tuple[int, int], tuple[float, float]]:
    """The smallest and largest value each hidden count can take, given what is shown.

    An attacker knows every shown count, that counts are non-negative and that rows and
    columns add up to their totals. Linear programming over that gives each hidden count's
    range; the constraints are those of a network, so the bounds are whole numbers.

    Args:
        grid: Counts with row totals as the last column and column totals as the last row.
        hidden: Entries hidden.

    Returns:
        For each hidden entry, (lowest, highest); ``inf`` when unbounded.
    """
    from scipy.optimize import linprog

    order = sorted(hidden)
    if not order:
        return {}
    index = {e: n for n, e in enumerate(order)}
    nr, nc = len(grid), len(grid[0])
    a_eq, b_eq = [], []
    for line, total in [([(i, j) for j in range(nc - 1)], (i, nc - 1)) for i in range(nr)] + [
        ([(i, j) for i in range(nr - 1)], (nr - 1, j)) for j in range(nc)
    ]:
        coef = [0.0] * len(order)
        rhs = 0.0
        for e, sign in [*((e, 1.0) for e in line), (total, -1.0)]:
            if e in index:
                coef[index[e]] += sign
            else:
                rhs -= sign * grid[e[0]][e[1]]
        if any(coef):
            a_eq.append(coef)
            b_eq.append(rhs)
    bounds = {}
    for e, n in index.items():
        ends = []
        for sign in (1.0, -1.0):
            c = [0.0] * len(order)
            c[n] = sign
            res = linprog(c, A_eq=a_eq or None, b_eq=b_eq or None, bounds=(0, None), method="highs")
            ends.append(sign * res.fun if res.status == 0 else (float("inf") if sign < 0 else 0.0))
        bounds[e] = (ends[0], ends[1])
    return bounds


def pinned_cells(grid: list[list[int]], hidden: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Hidden entries whose value the shown counts determine exactly."""
    return [e for e, (lo, hi) in sorted(cell_bounds(grid, hidden).items()) if hi - lo < 0.5]


def _smallest_in_lines(
    grid: list[list[int]], hidden: set[tuple[int, int]], entry: tuple[int, int]
) -> tuple[int, int]:
    i, j = entry
    same = [(i, c) for c in range(len(grid[0]))] + [(r, j) for r in range(len(grid))]
    shown = [e for e in same if e not in hidden]
    if not shown:  # everything in its lines is hidden already: hide anything still shown
        shown = [
            (r, c) for r in range(len(grid)) for c in range(len(grid[0])) if (r, c) not in hidden
        ]
    return min(shown, key=lambda e: (grid[e[0]][e[1]], e))
