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
   dataset table), indexed by the columns each cohort constrains and packed into bit
   masks, and the *families* of disjoint counts each table formed (its lines, margins
   and body). With the new counts it derives what an attacker can: the difference of two
   nested cohorts; a cohort minus disjoint released cohorts inside it; a cohort minus the
   members of a family inside it; a family's cells that cover a new cohort minus that
   cohort (a cohort inside the union of earlier cells); and, one step further, the
   difference of two nested cohorts used as a piece of the above. A derived group of
   1..k-1 people means the smallest new count involved is withheld, and steps 3-4 repeat.

Levels are tried finest first and the first acceptable one is taken; a level whose counts
under k alone hide too many people is skipped without its linear programs.

What it does not do: noise (answers are exact and repeatable, so averaging attacks gain
nothing), and general linear auditing over every combination of earlier answers: the
derivations above are the ones checked, and tests/attacks/ audits them with an
independent linear program.

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
from collections.abc import Callable, Hashable, Mapping, Sequence
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
    """Where the guard remembers released counts, per scope (one dataset table).

    Besides single counts it keeps *families*: sets of released counts that come from one
    table and are pairwise disjoint (the cells of a row, the row totals, the body). An
    attacker can add up a family, so the guard checks new cohorts against those sums.
    """

    def load(self, scope: str) -> list[tuple[Cohort, int]]:
        """Every (cohort, count) released in ``scope``, oldest first."""
        ...

    def load_families(self, scope: str) -> list[list[Cohort]]:
        """Every family of disjoint released cohorts in ``scope``."""
        ...

    def size(self, scope: str) -> int:
        """How many distinct counts ``scope`` remembers (cheap; tells when to reload)."""
        ...

    def append(
        self,
        scope: str,
        released: Sequence[tuple[Cohort, int]],
        families: Sequence[Sequence[Cohort]] = (),
    ) -> None:
        """Remember newly released counts and the families they form."""
        ...


class MemoryLog:
    """A release log that lives as long as the process (for tests and notebooks)."""

    def __init__(self) -> None:
        self._by_scope: dict[str, dict[Cohort, int]] = {}
        self._families: dict[str, list[list[Cohort]]] = {}

    def load(self, scope: str) -> list[tuple[Cohort, int]]:
        """Every (cohort, count) released in ``scope``, oldest first."""
        return list(self._by_scope.get(scope, {}).items())

    def load_families(self, scope: str) -> list[list[Cohort]]:
        """Every family of disjoint released cohorts in ``scope``."""
        return [list(f) for f in self._families.get(scope, [])]

    def size(self, scope: str) -> int:
        """How many distinct counts ``scope`` remembers."""
        return len(self._by_scope.get(scope, {}))

    def append(
        self,
        scope: str,
        released: Sequence[tuple[Cohort, int]],
        families: Sequence[Sequence[Cohort]] = (),
    ) -> None:
        """Remember newly released counts and the families they form."""
        known = self._by_scope.setdefault(scope, {})
        for cohort, n in released:
            known.setdefault(cohort, n)
        self._families.setdefault(scope, []).extend(list(f) for f in families)


class DuckDBLog:
    """A release log in a small DuckDB file of its own (the warehouse stays read-only).

    Table ``released(scope, cohort, n, released_at)`` holds one row per distinct released
    count, and ``released_families(scope, members, released_at)`` the families (a JSON
    list of cohorts). Neither holds person-level data, only counts of ``k`` or more.

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
            con.execute(
                "create table if not exists released_families ("
                " scope varchar not null, members varchar not null,"
                " released_at timestamp default current_timestamp)"
            )

    def _connect(self):
        return self._duckdb.connect(str(self.path))

    def load(self, scope: str) -> list[tuple[Cohort, int]]:
        """Every (cohort, count) released in ``scope``, oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "select cohort, n from released where scope = ? order by released_at, rowid",
                [scope],
            ).fetchall()
        return [(Cohort.from_json(text), int(n)) for text, n in rows]

    def load_families(self, scope: str) -> list[list[Cohort]]:
        """Every family of disjoint released cohorts in ``scope``."""
        with self._connect() as con:
            rows = con.execute(
                "select members from released_families where scope = ? order by rowid", [scope]
            ).fetchall()
        return [[Cohort.from_json(text) for text in json.loads(members)] for (members,) in rows]

    def size(self, scope: str) -> int:
        """How many distinct counts ``scope`` remembers."""
        with self._connect() as con:
            return int(
                con.execute("select count(*) from released where scope = ?", [scope]).fetchone()[0]
            )

    def append(
        self,
        scope: str,
        released: Sequence[tuple[Cohort, int]],
        families: Sequence[Sequence[Cohort]] = (),
    ) -> None:
        """Remember newly released counts and the families they form."""
        if not released and not families:
            return
        with self._connect() as con:
            if released:
                con.executemany(
                    "insert into released (scope, cohort, n) values (?, ?, ?)"
                    " on conflict do nothing",
                    [[scope, c.to_json(), int(n)] for c, n in released],
                )
            if families:
                con.executemany(
                    "insert into released_families (scope, members) values (?, ?)",
                    [[scope, json.dumps([c.to_json() for c in f])] for f in families],
                )


# ---------------------------------------------------------------------------------------
# The memory's index: cohorts packed into bit masks


class _Box:
    """A cohort packed for fast tests: per column a bit mask of values and a complement flag."""

    __slots__ = ("cols", "empty", "parts")

    def __init__(self, parts: dict[str, tuple[int, bool]], empty: bool) -> None:
        self.parts = parts
        self.cols = frozenset(parts)
        self.empty = empty


class _Packer:
    """Numbers the values of each column, so that a value set becomes an integer mask."""

    def __init__(self) -> None:
        self._bits: dict[str, dict[tuple[type, Hashable], int]] = {}

    def pack(self, cohort: Cohort) -> _Box:
        parts = {}
        for column, values in cohort.items:
            table = self._bits.setdefault(column, {})
            mask = 0
            for v in values.values:
                key = (type(v), v)  # True and 1 are different values
                bit = table.get(key)
                if bit is None:
                    bit = table[key] = len(table)
                mask |= 1 << bit
            parts[column] = (mask, values.complement)
        return _Box(parts, cohort.is_empty())


def _sub(a: _Box, b: _Box) -> bool:
    """True when box ``a`` lies inside box ``b``."""
    if a.empty:
        return True
    if b.empty or not b.cols <= a.cols:
        return False
    ap = a.parts
    for column, (mb, cb) in b.parts.items():
        ma, ca = ap[column]
        if ca:
            if not cb or mb & ~ma:
                return False
        elif (ma & mb) if cb else (ma & ~mb):
            return False
    return True


def _disjoint(a: _Box, b: _Box) -> bool:
    """True when no person can be in both boxes."""
    if a.empty or b.empty:
        return True
    bp = b.parts
    for column, (ma, ca) in a.parts.items():
        other = bp.get(column)
        if other is None:
            continue
        mb, cb = other
        if not ca and not cb:
            if not ma & mb:
                return True
        elif not ca:
            if not ma & ~mb:
                return True
        elif not cb and not mb & ~ma:
            return True
    return False


@dataclass(eq=False)
class _Fact:
    cohort: Cohort
    box: _Box
    count: int
    sources: frozenset[int]  # indices of new counts this fact depends on (empty: history)
    top: list[_Fact] = field(default_factory=list)  # largest remembered cohorts inside
    families: list[_Family] = field(default_factory=list)


@dataclass(eq=False)
class _Family:
    members: list[_Fact]
    axis: str | None  # the one column the members differ in, or None
    envelope: _Box | None  # the union of the members when they differ in one column
    union: Cohort | None = None  # the same union as a cohort


def _family(members: list[_Fact], packer: _Packer) -> _Family:
    axis, union = _family_shape([m.cohort for m in members])
    if union is None:
        return _Family(members, None, None)
    return _Family(members, axis, packer.pack(union), union)


def _family_shape(cohorts: Sequence[Cohort]) -> tuple[str | None, Cohort | None]:
    """The column a family's members differ in and the cohort of their union, when one."""
    first = cohorts[0]
    differing = {c for other in cohorts[1:] for c in first.differing(other)}
    if len(differing) != 1:
        return None, None
    axis = next(iter(differing))
    values = ValueSet.of()
    for cohort in cohorts:
        values = values | cohort.get(axis)
    return axis, first.replace(axis, values)


_Shape = tuple[str | None, Cohort | None, _Box | None]  # a family's axis, union and its box


class _Memory:
    """Everything released in one scope, indexed by the set of constrained columns."""

    def __init__(self) -> None:
        self.packer = _Packer()
        self.facts: dict[Cohort, _Fact] = {}
        self.buckets: dict[frozenset[str], list[_Fact]] = {}
        self.family_buckets: dict[frozenset[str], list[_Family]] = {}
        self.size = 0
        # What the remembered counts say about a cohort, asked again on every level and
        # suppression round of a query; kept until the memory changes.
        self._near: dict[Cohort, tuple[list[_Fact], list[_Fact]]] = {}
        self._boxes: dict[Cohort, _Box] = {}
        self._differences: dict[tuple[Cohort, Cohort], tuple[Cohort, _Box] | None] = {}
        self._families: dict[tuple[Cohort, ...], _Shape] = {}
        self.verdicts: dict[tuple[Cohort, int], bool] = {}

    def _changed(self) -> None:
        self._near.clear()
        self._boxes.clear()
        self._differences.clear()
        self._families.clear()
        self.verdicts.clear()

    def box(self, cohort: Cohort) -> _Box:
        """The packed cohort, shared by the new facts of one query across its rounds."""
        box = self._boxes.get(cohort)
        if box is None:
            box = self._boxes[cohort] = self.packer.pack(cohort)
        return box

    def near(self, cohort: Cohort, box: _Box) -> tuple[list[_Fact], list[_Fact]]:
        """Remembered facts holding the cohort and inside it (``box`` is its packed form)."""
        hit = self._near.get(cohort)
        if hit is None:
            hit = self._near[cohort] = (self.containers(box), self.inside(box))
        return hit

    def containers_of(self, cohort: Cohort, box: _Box, extra: Sequence[_Fact]) -> list[_Fact]:
        """``containers(box, extra)``, the remembered part cached."""
        above = self.near(cohort, box)[0]
        return above + [z for z in extra if z.box is not box and _sub(box, z.box)]

    def inside_of(self, cohort: Cohort, box: _Box, extra: Sequence[_Fact]) -> list[_Fact]:
        """``inside(box, extra)``, the remembered part cached."""
        inside = self.near(cohort, box)[1]
        return inside + [z for z in extra if z.box is not box and _sub(z.box, box)]

    def difference(self, big: _Fact, part: _Fact) -> _Fact | None:
        """``big`` minus ``part`` as a fact, when it is a box (they differ in one column)."""
        if big.count == part.count:
            return None
        key = (big.cohort, part.cohort)
        if key not in self._differences:
            columns = big.cohort.differing(part.cohort)
            shape = None
            if len(columns) == 1:
                rest = big.cohort.get(columns[0]) - part.cohort.get(columns[0])
                cohort = big.cohort.replace(columns[0], rest)
                shape = (cohort, self.packer.pack(cohort))
            self._differences[key] = shape
        shape = self._differences[key]
        if shape is None:
            return None
        return _Fact(shape[0], shape[1], big.count - part.count, big.sources | part.sources)

    def family(self, members: list[_Fact]) -> _Family:
        """:func:`_family` for new facts, the shape cached by the members' cohorts."""
        key = tuple(m.cohort for m in members)
        shape = self._families.get(key)
        if shape is None:
            axis, union = _family_shape(key)
            envelope = None if union is None else self.packer.pack(union)
            shape = self._families[key] = (axis, union, envelope)
        return _Family(members, shape[0], shape[2], shape[1])

    def containers(self, box: _Box, extra: Sequence[_Fact] = ()) -> list[_Fact]:
        return [
            z
            for key, members in self.buckets.items()
            if key <= box.cols
            for z in members
            if _sub(box, z.box)
        ] + [z for z in extra if z.box is not box and _sub(box, z.box)]

    def inside(self, box: _Box, extra: Sequence[_Fact] = ()) -> list[_Fact]:
        return [
            z
            for key, members in self.buckets.items()
            if key >= box.cols
            for z in members
            if _sub(z.box, box)
        ] + [z for z in extra if z.box is not box and _sub(z.box, box)]

    def add(self, cohort: Cohort, count: int) -> _Fact:
        old = self.facts.get(cohort)
        if old is not None:
            return old
        fact = _Fact(cohort, self.packer.pack(cohort), count, frozenset())
        for x in self.containers(fact.box):
            if not any(_sub(fact.box, t.box) for t in x.top):
                x.top = [t for t in x.top if not _sub(t.box, fact.box)]
                x.top.append(fact)
        for z in sorted(self.inside(fact.box), key=lambda f: -f.count):
            if not any(_sub(z.box, t.box) for t in fact.top):
                fact.top.append(z)
        self.facts[cohort] = fact
        self.buckets.setdefault(fact.box.cols, []).append(fact)
        self._changed()
        return fact

    def add_family(self, cohorts: Sequence[Cohort]) -> None:
        members = [self.facts[c] for c in dict.fromkeys(cohorts) if c in self.facts]
        if len(members) < 2:
            return
        family = _family(members, self.packer)
        self._changed()
        for m in members:
            m.families.append(family)
        if family.envelope is not None:
            self.family_buckets.setdefault(family.envelope.cols, []).append(family)


# ---------------------------------------------------------------------------------------
# The guard


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
        self._memory = _Memory()
        self._memory.size = -1  # not loaded yet

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
            self._sync()
            if self._conflicts([(cohort, count)], []):
                log.info("refused one count in %s: differencing with earlier answers", self.scope)
                raise QueryRefused(
                    "This count is withheld: together with counts released before, it would "
                    f"reveal a group of fewer than {self.k} people."
                )
            self._commit([(cohort, count)], [])
        return count

    def release_table(
        self,
        levels: Sequence[CountTable],
        fallbacks: Sequence[
            tuple[str, Sequence[CountTable] | Callable[[], Sequence[CountTable]]]
        ] = (),
    ) -> GuardedTable:
        """Release a table of counts at the best level of detail the guard allows.

        Levels are tried finest first; the first that shows its grand total and hides at
        most ``HIDDEN_SHARE`` of the people is taken. When none is, each fallback (a wider
        question, for example the same cohort without its least important filter) is tried
        the same way, and failing all, the level of ``levels`` hiding the fewest people.

        Args:
            levels: The same question from finest to coarsest (for example 5-, 10- and
                20-year bands and all ages). One level is fine.
            fallbacks: ``(note, levels)`` pairs, each a wider question; ``note`` tells the
                user what was changed when that question is answered instead. ``levels``
                may be a function returning them, called only when needed.

        Returns:
            The released table; hidden counts are ``None`` and ``notes`` says why.
        """
        if not levels:
            raise ValueError("release_table needs at least one table")
        with self._lock:
            self._sync()
            tried: list[tuple[int, int, CountTable, tuple]] = []
            chosen = None
            for option, tables in enumerate([levels, *(t for _, t in fallbacks)]):
                if callable(tables):  # a wider question is only counted when it is needed
                    tables = tables()
                for n, table in enumerate(tables):
                    if n < len(tables) - 1 and self._hopeless(table):
                        continue  # suppression alone already hides too many: skip the LPs
                    result = self._protect(table)
                    tried.append((option, n, table, result))
                    if self._acceptable(table, result):
                        chosen = tried[-1]
                        break
                if chosen is not None:
                    break
            if chosen is None:
                primary = [t for t in tried if t[0] == 0]
                chosen = min(primary, key=lambda t: (self._people_hidden(t[2], t[3]), t[1]))
            option, n, table, (grid, hidden, reasons, families) = chosen
            shown = [
                (i, j)
                for i in range(len(grid))
                for j in range(len(grid[0]))
                if (i, j) not in hidden
            ]
            released = [(table.box(i, j), grid[i][j]) for i, j in shown]
            self._commit(released, [[released[x][0] for x in f] for f in families])
        out = self._to_guarded(table, grid, hidden)
        out.notes = self._notes(levels, table, reasons, out)
        if option > 0:
            out.notes.insert(0, fallbacks[option - 1][0])
        log.info(
            "released %s table in %s: %d of %d counts hidden",
            table.level or "a",
            self.scope,
            len(hidden),
            len(grid) * len(grid[0]),
        )
        return out

    # -- memory ---------------------------------------------------------------------------

    def _sync(self) -> None:
        """Reload the memory when the log holds counts this guard has not seen."""
        size = self.log.size(self.scope)
        if size == self._memory.size:
            return
        memory = _Memory()
        for cohort, n in self.log.load(self.scope):
            memory.add(cohort, n)
        for family in self.log.load_families(self.scope):
            memory.add_family(family)
        memory.size = size
        self._memory = memory
        log.info("loaded %d remembered counts for %s", size, self.scope)

    def _commit(
        self, released: Sequence[tuple[Cohort, int]], families: Sequence[Sequence[Cohort]]
    ) -> None:
        memory = self._memory
        fresh = {c for c, _ in released if c not in memory.facts}
        self.log.append(self.scope, released, families)
        for cohort, n in released:
            memory.add(cohort, n)
        for family in families:
            memory.add_family(family)
        memory.size += len(fresh)
        if self.log.size(self.scope) != memory.size:  # someone else wrote too: reload next time
            memory.size = -1

    # -- the steps ------------------------------------------------------------------------

    def _protect(self, table: CountTable) -> tuple:
        grid = table.grid()
        cells = [(i, j) for i in range(len(grid)) for j in range(len(grid[0]))]
        boxes = {e: table.box(*e) for e in cells}
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
            new = [(boxes[e], grid[e[0]][e[1]]) for e in shown]
            families = _table_families(len(table.rows), len(table.cols), shown)
            bad = self._conflicts(new, families)
            if not bad:
                return grid, hidden, reasons, families
            worst = min(bad, key=lambda n: (grid[shown[n][0]][shown[n][1]], shown[n]))
            hidden.add(shown[worst])
            reasons.add("differencing")

    def _hopeless(self, table: CountTable) -> bool:
        """True when counts under k alone hide more than the share a level may hide."""
        cells = [n for row in table.counts for n in row]
        total = sum(cells)
        return total < self.k or sum(n for n in cells if n < self.k) > HIDDEN_SHARE * total

    def _people_hidden(self, table: CountTable, result: tuple) -> int:
        grid, hidden = result[0], result[1]
        return sum(grid[i][j] for i, j in hidden if i < len(table.rows) and j < len(table.cols))

    def _acceptable(self, table: CountTable, result: tuple) -> bool:
        grid, hidden = result[0], result[1]
        total = grid[len(table.rows)][len(table.cols)]
        released_total = (len(table.rows), len(table.cols)) not in hidden
        return released_total and self._people_hidden(table, result) <= HIDDEN_SHARE * total

    def _conflicts(
        self, new: list[tuple[Cohort, int]], families: Sequence[Sequence[int]]
    ) -> set[int]:
        """Indices of new counts that help derive a group of 1..k-1 people.

        What an attacker can work out from the remembered counts and the new ones, each of
        which must be 0 or at least k:

        - nesting: ``x - y`` for every released ``y`` inside a released ``x``;
        - packing: ``x`` minus released cohorts inside it that are pairwise disjoint
          (largest first, the new ones first);
        - families: ``x`` minus the members of a released family that lie inside ``x``,
          and the sum of a family's members that cover ``x`` minus ``x`` (a cohort inside
          the union of earlier cells, where that union was never released as a total).

        Only derivations that involve at least one new count are computed, and candidates
        come from the index (a cohort can only lie inside one that constrains fewer
        columns), so a check compares against candidates only.
        """
        k = self.k
        memory = self._memory

        def small(d: int) -> bool:
            return 0 < d < k

        bad: set[int] = set()
        fresh: list[_Fact] = []
        local: dict[Cohort, _Fact] = {}
        of_index: dict[int, _Fact] = {}
        for idx, (cohort, n) in enumerate(new):
            old = memory.facts.get(cohort) or local.get(cohort)
            if old is not None:
                if old.count != n:
                    if small(abs(old.count - n)):
                        bad |= old.sources | {idx}
                elif old.sources:
                    old.sources = old.sources | {idx}
                of_index[idx] = old
                continue
            fact = _Fact(cohort, memory.box(cohort), n, frozenset({idx}))
            local[cohort] = fact
            fresh.append(fact)
            of_index[idx] = fact

        new_families = []
        for members in families:
            facts = list({id(of_index[i]): of_index[i] for i in members}.values())
            if len(facts) >= 2:
                new_families.append(memory.family(facts))

        containers: dict[int, list[_Fact]] = {}
        insides: dict[int, list[_Fact]] = {}
        for y in fresh:
            inside = memory.inside_of(y.cohort, y.box, fresh)
            above = memory.containers_of(y.cohort, y.box, fresh)
            containers[id(y)] = above
            insides[id(y)] = inside
            for z in inside:
                if small(y.count - z.count):
                    bad |= y.sources | z.sources
            for x in above:
                if small(x.count - y.count):
                    bad |= x.sources | y.sources
            # packing inside a new cohort, largest first
            chosen: list[_Fact] = []
            for z in sorted(inside, key=lambda f: -f.count):
                if all(_disjoint(z.box, c.box) for c in chosen):
                    chosen.append(z)
                    if len(chosen) > 1 and small(y.count - sum(c.count for c in chosen)):
                        bad |= y.sources.union(*(c.sources for c in chosen))
            # remembered families with members inside the new cohort, or holding it
            verdict = memory.verdicts.get((y.cohort, y.count))
            if verdict is None:
                verdict = memory.verdicts[(y.cohort, y.count)] = self._family_conflict(y)
            if verdict:
                bad |= y.sources

        # second order: the difference of two nested cohorts that differ in one column is
        # itself a cohort the attacker knows; compare it with the new cohorts
        derived = []
        for y in fresh:
            held = {id(x) for x in containers[id(y)]}
            for other in (*containers[id(y)], *insides[id(y)]):
                big, part = (other, y) if id(other) in held else (y, other)
                d = memory.difference(big, part)
                if d is not None and d.count >= k:
                    derived.append(d)
        pieces_of: dict[int, list[_Fact]] = {id(t): [] for t in fresh}
        for d in derived:
            for t in fresh:
                if t.box is d.box:
                    continue
                within = _sub(d.box, t.box)
                if within:
                    pieces_of[id(t)].append(d)
                outer = within and small(t.count - d.count)
                if outer or (_sub(t.box, d.box) and small(d.count - t.count)):
                    bad |= t.sources | d.sources
        for t in fresh:
            pieces = pieces_of[id(t)]
            if not pieces:
                continue
            chosen = []
            for z in sorted([*insides[id(t)], *pieces], key=lambda f: -f.count):
                if all(_disjoint(z.box, c.box) for c in chosen):
                    chosen.append(z)
                    if len(chosen) > 1 and small(t.count - sum(c.count for c in chosen)):
                        bad |= t.sources.union(*(c.sources for c in chosen))

        # packing inside remembered cohorts that hold a new one, the new ones first
        holders: dict[int, tuple[_Fact, list[_Fact]]] = {}
        for y in fresh:
            for x in containers[id(y)]:
                if not x.sources:
                    holders.setdefault(id(x), (x, []))[1].append(y)
        for x, news in holders.values():
            chosen = []
            for z in [*sorted(news, key=lambda f: -f.count), *x.top]:
                if all(_disjoint(z.box, c.box) for c in chosen):
                    chosen.append(z)
                    if len(chosen) > 1 and small(x.count - sum(c.count for c in chosen)):
                        bad |= frozenset().union(*(c.sources for c in chosen))

        # new families against every cohort that holds, or lies inside, their union
        for family in new_families:
            holders_f: dict[int, _Fact] = {}
            for m in family.members:
                for x in containers.get(id(m), []) or memory.containers_of(m.cohort, m.box, fresh):
                    holders_f[id(x)] = x
            for x in holders_f.values():
                within = [m for m in family.members if _sub(m.box, x.box)]
                if len(within) > 1 and small(x.count - sum(m.count for m in within)):
                    bad |= x.sources.union(*(m.sources for m in within))
            if family.envelope is not None and family.union is not None:
                for x in memory.inside_of(family.union, family.envelope, fresh):
                    bad |= self._cover_conflict(x, family)
        return bad

    def _family_conflict(self, y: _Fact) -> bool:
        """True when ``y`` with remembered families alone reveals 1..k-1 people.

        ``y`` minus the members of a remembered family inside it, and the members of a
        remembered family that cover ``y`` minus ``y``. Remembered facts carry no sources,
        so the answer is ``y``'s own sources or nothing, and depends on its cohort and count
        only: the caller keeps it until the memory changes.
        """
        memory = self._memory
        seen = {id(f): f for z in memory.near(y.cohort, y.box)[1] for f in z.families}
        for family in seen.values():
            within = [m for m in family.members if _sub(m.box, y.box)]
            if len(within) > 1 and 0 < y.count - sum(m.count for m in within) < self.k:
                return True
        for key, group in memory.family_buckets.items():
            if key <= y.box.cols and any(self._cover_conflict(y, f) for f in group):
                return True
        return False

    def _cover_conflict(self, x: _Fact, family: _Family) -> frozenset[int]:
        """Sources to withhold when ``x`` lies inside the union of some of ``family``."""
        if family.envelope is None or not _sub(x.box, family.envelope):
            return frozenset()
        touching = [m for m in family.members if not _disjoint(m.box, x.box)]
        if len(touching) < 2 or not (x.sources or any(m.sources for m in touching)):
            return frozenset()
        union = ValueSet.of()
        for m in touching:
            union = union | m.cohort.get(family.axis)
        if not x.cohort.get(family.axis).issubset(union):
            return frozenset()
        if 0 < sum(m.count for m in touching) - x.count < self.k:
            return x.sources.union(*(m.sources for m in touching))
        return frozenset()

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
        table: CountTable,
        reasons: set[str],
        out: GuardedTable,
    ) -> list[str]:
        notes = []
        if table is not levels[0] and table.level != levels[0].level:
            notes.append(
                f"Coarsened: shown as {table.level or 'a coarser table'} instead of "
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


def _table_families(nr: int, nc: int, shown: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Families of disjoint shown entries of a grid: each line of cells, margins, the body."""
    at = {e: n for n, e in enumerate(shown)}
    lines = [[(i, j) for j in range(nc)] for i in range(nr + 1)]
    lines += [[(i, j) for i in range(nr)] for j in range(nc + 1)]
    lines.append([(i, j) for i in range(nr) for j in range(nc)])
    families = []
    for line in lines:
        members = [at[e] for e in line if e in at]
        if len(members) > 1:
            families.append(members)
    return families


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
    grid: list[list[int]],
    hidden: set[tuple[int, int]],
    only: set[tuple[int, int]] | None = None,
) -> dict[tuple[int, int], tuple[float, float]]:
    """The smallest and largest value each hidden count can take, given what is shown.

    An attacker knows every shown count, that counts are non-negative and that rows and
    columns add up to their totals. Linear programming over that gives each hidden count's
    range; the constraints are those of a network, so the bounds are whole numbers.

    Args:
        grid: Counts with row totals as the last column and column totals as the last row.
        hidden: Entries hidden.
        only: Bound only these hidden entries (all of them by default).

    Returns:
        For each hidden entry asked about, (lowest, highest); ``inf`` when unbounded.
    """
    from scipy.optimize import linprog

    order = sorted(hidden)
    if not order:
        return {}
    a_eq, b_eq = _system(grid, order)
    bounds = {}
    for n, e in enumerate(order):
        if only is not None and e not in only:
            continue
        ends = []
        for sign in (1.0, -1.0):
            c = [0.0] * len(order)
            c[n] = sign
            res = linprog(c, A_eq=a_eq or None, b_eq=b_eq or None, bounds=(0, None), method="highs")
            ends.append(sign * res.fun if res.status == 0 else (float("inf") if sign < 0 else 0.0))
        bounds[e] = (ends[0], ends[1])
    return bounds


def pinned_cells(grid: list[list[int]], hidden: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Hidden entries whose value the shown counts determine exactly.

    Exact, and without linear programs for a table with margins (what the guard releases).
    Negate the margins of the grid (the grand total keeps its sign) and every row and
    column adds up to zero: the hidden counts are the edges of a bipartite graph between
    grid rows and grid columns, and the ways they can change together, keeping every sum,
    are its cycles, each edge taken +1 from row to column and -1 back. A hidden zero may
    only grow, which allows its edge one direction (row to column for a body cell or the
    grand total, column to row for a margin). A hidden count can take another value exactly
    when its edge lies on a directed cycle of such moves (any feasible change splits into
    cycles that agree with it in sign). The same answer as :func:`cell_bounds`; a grid
    that is not a consistent table of whole non-negative counts goes to the linear
    programs instead.

    Args:
        grid: Counts with row totals as the last column and column totals as the last row.
        hidden: Entries hidden.

    Returns:
        The pinned entries, sorted.

    Example:
        >>> pinned_cells([[5, 6, 11], [7, 8, 15], [12, 14, 26]], {(0, 0), (0, 1)})
        [(0, 0), (0, 1)]
        >>> pinned_cells([[5, 6, 11], [7, 8, 15], [12, 14, 26]], {(0, 0), (0, 1), (1, 0), (1, 1)})
        []
    """
    if not hidden:
        return []
    if not _consistent(grid):
        return _pinned_by_lp(grid, hidden)
    nr, nc = len(grid), len(grid[0])
    arcs: dict[int, list[tuple[int, tuple[int, int]]]] = {}  # node -> [(next node, edge)]
    moves: dict[tuple[int, int], tuple[bool, bool]] = {}  # edge -> (row to col, col to row)
    for e in hidden:
        i, j = e
        margin = (i == nr - 1) != (j == nc - 1)
        positive = grid[i][j] > 0
        forward, backward = positive or not margin, positive or margin
        moves[e] = (forward, backward)
        if forward:
            arcs.setdefault(i, []).append((nr + j, e))
        if backward:
            arcs.setdefault(nr + j, []).append((i, e))

    def reaches(start: int, goal: int, skip: tuple[int, int]) -> bool:
        seen, stack = {start}, [start]
        while stack:
            for nxt, e in arcs.get(stack.pop(), ()):
                if e == skip or nxt in seen:
                    continue
                if nxt == goal:
                    return True
                seen.add(nxt)
                stack.append(nxt)
        return False

    pinned = []
    for e in sorted(hidden):
        row, col = e[0], nr + e[1]
        forward, backward = moves[e]
        if forward and reaches(col, row, e):
            continue
        if backward and reaches(row, col, e):
            continue
        pinned.append(e)
    return pinned


def _consistent(grid: list[list[int]]) -> bool:
    """True when the grid holds whole non-negative counts whose lines add up to the margins."""
    if not all(isinstance(v, int) and v >= 0 for r in grid for v in r):
        return False
    nr, nc = len(grid), len(grid[0])
    rows_ok = all(sum(r[: nc - 1]) == r[nc - 1] for r in grid)
    return rows_ok and all(
        sum(grid[i][j] for i in range(nr - 1)) == grid[nr - 1][j] for j in range(nc)
    )


def _pinned_by_lp(grid: list[list[int]], hidden: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """:func:`pinned_cells` by linear programming, for any grid.

    The true table is one solution of the attacker's system; two more, from linear
    programs with seeded random objectives, clear every hidden count that takes another
    value in one of them. Only the counts left get the exact bounds of :func:`cell_bounds`.
    """
    import random

    from scipy.optimize import linprog

    order = sorted(hidden)
    if not order:
        return []
    a_eq, b_eq = _system(grid, order)
    truth = [grid[i][j] for i, j in order]
    rng = random.Random(len(order))
    weights = [rng.uniform(0.5, 1.5) for _ in order]
    candidates = set(order)
    for sign in (1.0, -1.0):
        res = linprog(
            [sign * w for w in weights],
            A_eq=a_eq or None,
            b_eq=b_eq or None,
            bounds=(0, None),
            method="highs",
        )
        if res.status == 0:
            candidates -= {
                e for e, x, t in zip(order, res.x, truth, strict=True) if abs(x - t) >= 0.5
            }
        elif res.status == 3:  # unbounded: leave the exact check to cell_bounds
            continue
    if not candidates:
        return []
    bounds = cell_bounds(grid, hidden, only=candidates)
    return [e for e, (lo, hi) in sorted(bounds.items()) if hi - lo < 0.5]


def _system(
    grid: list[list[int]], order: list[tuple[int, int]]
) -> tuple[list[list[float]], list[float]]:
    """The row and column sums of the grid as equations over the hidden entries."""
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
    return a_eq, b_eq


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
