"""Scripted attacks on the guard, each checked by the independent auditor (auditor.py).

Every sequence releases what the guard allows (tables, single counts, SQL answers) into one
memory and then asks the auditor whether, from all numbers released together, any group
of 1..k-1 people can be pinned down. Populations are small, seeded and in memory.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pytest

from app import queries as q
from app import sql_tab
from app.guard import Cohort, Guard, MemoryLog, ValueSet
from synth.errors import QueryRefused
from tests.attacks.auditor import audit

K = 10
AGES = range(20, 80)
SEXES = ("F", "M", None)
COLS = q.Columns("age", "sex", None, ("a", "b"), strata=("age", "sex"))
DOMAIN = [
    {"age": age, "sex": sex, "a": a, "b": b}
    for age, sex, a, b in itertools.product(AGES, SEXES, (True, False), (True, False))
]


def population(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    people = []
    for _ in range(n):
        people.append(
            {
                "age": min(79, max(20, int(rng.gauss(52, 14)))),
                "sex": rng.choices(SEXES, weights=(48, 48, 4))[0],
                "a": rng.random() < 0.15,
                "b": rng.random() < 0.08,
            }
        )
    return people


class RecordingLog(MemoryLog):
    """A memory that also keeps every count the guard says it released."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list[tuple[Cohort, int]] = []

    def append(self, scope, released, families=()) -> None:
        self.released.extend(released)
        super().append(scope, released, families)


@dataclass
class Run:
    """One attack: a population, a guard and what was shown."""

    people: list[dict]
    log: RecordingLog = field(default_factory=RecordingLog)
    shown: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _con: duckdb.DuckDBPyConnection | None = None

    def __post_init__(self) -> None:
        self.guard = Guard(k=K, log=self.log, scope="attack")

    def count(self, cohort: Cohort) -> int:
        return sum(1 for p in self.people if _member(cohort, p))

    def ask(self, **constraints) -> int | None:
        """Release one count of a cohort given as column -> values."""
        cohort = Cohort({c: ValueSet.of(*v) for c, v in constraints.items()})
        try:
            n = self.guard.release_count(cohort, self.count(cohort))
        except QueryRefused as exc:
            self.refused.append(str(exc))
            return None
        self.shown.append(n)
        return n

    def table(self, filters: q.Filters | None = None, row="age", col="sex", coarsen=True):
        filters = filters or q.Filters()
        cohort = q.cohort_of(filters, COLS)
        counts: dict[tuple, int] = {}
        for p in self.people:
            if _member(cohort, p):
                key = (p[row], p[col] if col else None)
                counts[key] = counts.get(key, 0) + 1
        values = tuple(
            tuple(sorted({p[c] for p in self.people}, key=lambda v: (v is None, str(v))))
            if c
            else (None,)
            for c in (row, col)
        )
        levels = q.levels_by(counts, *values, filters, COLS, row, col, K)
        out = self.guard.release_table(levels if coarsen else levels[:1])
        self.shown.extend(out.released_numbers())
        return out

    def sql(self, text: str) -> sql_tab.SqlAnswer | None:
        if self._con is None:
            self._con = duckdb.connect()
            self._con.execute(
                "create table t (person_id integer, age integer, sex varchar, a boolean,"
                " b boolean, bmi double)"
            )
            self._con.executemany(
                "insert into t values (?, ?, ?, ?, ?, ?)",
                [
                    [n, p["age"], p["sex"], p["a"], p["b"], 20.0 + n % 17]
                    for n, p in enumerate(self.people)
                ],
            )
        schema = sql_tab.SqlSchema(
            ("t",),
            COLS,
            "person_id",
            frozenset({"bmi"}),
            {"age": (*q.AGE_DOMAIN, None), "sex": SEXES, "a": (True, False), "b": (True, False)},
        )
        try:
            answer = sql_tab.run_query(
                self._con, sql_tab.parse_query(text, schema), schema, self.guard
            )
        except sql_tab.SqlRefused as exc:
            self.refused.append(str(exc))
            return None
        self.shown.extend(answer.table.released_numbers())
        return answer

    def assert_nothing_small_derivable(self) -> None:
        logged = [n for _, n in self.log.released]
        for n in self.shown:
            assert n in logged, "the guard showed a count it did not remember"
        assert all(n >= K for n in self.shown)
        breaches = audit(self.log.released, DOMAIN, self.people, K)
        assert not breaches, f"derivable small groups: {breaches[:3]}"


def _member(cohort: Cohort, person: dict) -> bool:
    return all((person.get(c) in v.values) != v.complement for c, v in cohort.items)


def small_cut(people: list[dict], pred: Callable[[dict], bool]) -> int:
    """An age below which 1..k-1 of the people matching ``pred`` fall."""
    ages = sorted(p["age"] for p in people if pred(p))
    for cut in range(AGES.start, AGES.stop):
        if 0 < sum(1 for a in ages if a < cut) < K:
            return cut
    return AGES.start + 1


# ---------------------------------------------------------------------------------------
# The sequences: (kind, seed) -> steps


def small_cells(run: Run, seed: int) -> None:
    run.table(coarsen=seed % 2 == 0)
    run.table(q.Filters(flags=("a",)), coarsen=seed % 3 == 0)
    run.table(q.Filters(flags=("b",)), row="sex", col=None)


def differencing(run: Run, seed: int) -> None:
    variant = seed % 5
    cut = small_cut(run.people, lambda p: True)
    if variant == 0:  # c31: all, then all from a cut on
        run.ask()
        run.ask(age=range(cut, 131))
    elif variant == 1:  # the other order
        run.ask(age=range(cut, 131))
        run.ask()
    elif variant == 2:  # a flag, then the flag without the youngest
        cut = small_cut(run.people, lambda p: p["a"])
        run.ask(a=[True])
        run.ask(a=[True], age=range(cut, 131))
    elif variant == 3:  # tables: all ages, then from the cut
        run.table()
        run.table(q.Filters(age_min=cut))
    else:  # named sexes against everyone (the blank sex is the difference)
        run.ask()
        run.ask(sex=["F", "M"])


def trackers(run: Run, seed: int) -> None:
    variant = seed % 4
    if variant == 0:  # all, F, M: the blank sex by packing
        run.ask()
        run.ask(sex=["F"])
        run.ask(sex=["M"])
    elif variant == 1:  # all minus "all but one condition"
        run.ask(b=[True])
        run.ask(b=[True], a=[False])
    elif variant == 2:  # a padded tracker built from disjoint pieces of F
        target_age = 60 + seed % 10
        run.ask(sex=["F"])
        run.ask(sex=["F"], a=[False])
        run.ask(sex=["F"], a=[True], age=[x for x in range(131) if x != target_age])
    else:  # shifting a bound one year at a time
        for low in range(20, 26):
            run.ask(age=range(low, 131), a=[True])


def complementary_totals(run: Run, seed: int) -> None:
    variant = seed % 4
    out = run.table(q.Filters(flags=("a",)), coarsen=False)
    if variant == 0:  # the row total of each band asked alone
        for label in out.rows:
            if label[0].isdigit():
                low, high = (int(x) for x in label.split("-"))
                run.ask(a=[True], age=range(low, high + 1))
    elif variant == 1:  # margins asked alone
        run.ask(a=[True], sex=["F"])
        run.ask(a=[True], sex=["M"])
        run.ask(a=[True])
    elif variant == 2:  # the same table split the other way
        run.table(q.Filters(flags=("a",)), row="sex", col="age", coarsen=False)
    else:  # the complement: everyone without the flag, then everyone
        run.ask(a=[False])
        run.ask()


def union_of_cells(run: Run, seed: int) -> None:
    run.table(coarsen=False)
    start = 30 + seed % 20
    run.ask(age=range(start, start + 7 + seed % 9))
    run.ask(age=range(start + 1, start + 12), sex=["F"])


SQL_ATTACKS = [
    ("select count(*) from t where age between 40 and 40", False),
    ("select count(*) from t where age = 79", False),
    ("select sex, count(*) from t group by sex having count(*) < 10", True),
    ("select count(*) - 1 from t", True),
    ("select min(age) from t", True),
    ("select max(bmi) from t where a", True),
    ("select count(*) from t union all select count(*) from t where age > 20", True),
    ("select count(*) over (partition by sex) from t", True),
    ("select count(*) from t where case when person_id = 123 then true end", True),
    ("select count(*) from t where person_id = 123", True),
    ("select count(*) from t; select count(*) from t where age > 21", True),
    ("select count(*) from t where age > 21; drop table t", True),
    ("delete from t", True),
    ("select * from t", True),
    ("select age, sex from t group by age, sex", True),
    ("select string_agg(sex, ',') from t", True),
    ("select list(age) from t", True),
    ("select count(*) from t, t as u", True),
    ("select count(*) from (select * from t where age > 70)", True),
    ("select count(*) from t where age in (select age from t)", True),
    ("with x as (select * from t) select count(*) from x", True),
    ("select count(*) from t where sex = 'F' or a", True),
    ("select count(*) from t where not (sex = 'F' and a)", True),
    ("select count(*) from read_csv('x.csv')", True),
    ("select count(*) from t where age + 0 > 50", True),
    ("select count(*) from t limit 1", True),
    ("select distinct sex from t", True),
    ("select count(*) from t where bmi > 33.3", True),
    ("select count(*) from t where age > 'x'", True),
    ("select count(*) from t where", True),
    ("select count(*) /* hide */ from t -- tail\n where age >= 21", False),
    ("SeLeCt CoUnT(*) FrOm t WhErE ((age)) >= 22", False),
    ("select count(*) from t where 79 <= age", False),
    ("select count(*) from t where not sex = 'F' and not sex = 'M'", False),
    ("select count(*) from t where sex is null", False),
    ("select age, count(*) from t where age >= 70 group by age", False),
    ("select sex, a, count(distinct person_id) from t group by sex, a", False),
    ("select sex, count(*), avg(bmi) from t where b group by sex", False),
]


def sql_tricks(run: Run, seed: int) -> None:
    text, refused = SQL_ATTACKS[seed % len(SQL_ATTACKS)]
    run.sql("select count(*) from t")
    run.sql("select sex, count(*) from t group by sex")
    answer = run.sql(text)
    assert (answer is None) == refused, run.refused[-1:] or text
    if refused:
        assert run.refused[-1], "a refusal must say why"


KINDS: dict[str, tuple[Callable[[Run, int], None], int]] = {
    "small_cells": (small_cells, 16),
    "differencing": (differencing, 20),
    "trackers": (trackers, 16),
    "complementary_totals": (complementary_totals, 16),
    "union_of_cells": (union_of_cells, 12),
    "sql_tricks": (sql_tricks, len(SQL_ATTACKS)),
}
SEQUENCES = [(kind, seed) for kind, (_, n) in KINDS.items() for seed in range(n)]


@pytest.mark.parametrize(("kind", "seed"), SEQUENCES, ids=[f"{k}-{s}" for k, s in SEQUENCES])
def test_no_group_of_1_to_k_minus_1_can_be_derived(kind: str, seed: int) -> None:
    # Setup
    run = Run(population(seed * 7 + len(kind), 60 + (seed * 37) % 340))

    # Run
    KINDS[kind][0](run, seed)

    # Assert
    run.assert_nothing_small_derivable()


def test_there_are_at_least_100_sequences() -> None:
    assert len(SEQUENCES) >= 100
