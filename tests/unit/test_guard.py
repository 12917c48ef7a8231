"""The k-anonymity guard: suppression, complementary suppression, memory (c29, c31)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import duckdb
import pytest
from scipy.optimize import linprog

from app.guard import (
    Cohort,
    CountTable,
    DuckDBLog,
    Group,
    Guard,
    GuardedTable,
    MemoryLog,
    ValueSet,
    cell_bounds,
    complementary_suppression,
    pinned_cells,
)
from app.queries import group_counts
from synth.errors import QueryRefused

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
if not CASES.exists():
    CASES = Path("/work/shared/cases")

K = 10
ALL_AGES = range(0, 131)


def ages(low: int, high: int) -> ValueSet:
    return ValueSet.of(*range(low, high + 1))


def sex(*values: str | None) -> Cohort:
    return Cohort({"sex": ValueSet.of(*values)})


def table(counts: list[list[int]], base: Cohort | None = None, width: int = 10) -> CountTable:
    """Rows are age bands of ``width`` years from 20, columns are F and M."""
    rows = tuple(
        Group(f"{20 + i * width}", Cohort({"age": ages(20 + i * width, 19 + (i + 1) * width)}))
        for i in range(len(counts))
    )
    cols = (Group("F", sex("F")), Group("M", sex("M")))
    return CountTable(
        base or Cohort(), rows, cols, tuple(tuple(r) for r in counts), f"{width}-year bands"
    )


def full_grid(out: GuardedTable) -> list[list[int | None]]:
    grid = [[*r, t] for r, t in zip(out.cells, out.row_totals, strict=True)]
    grid.append([*out.col_totals, out.total])
    return grid


def attacker_bounds(out: GuardedTable) -> dict[tuple[int, int], tuple[float, float]]:
    """What an attacker can work out about each hidden count from the released table.

    Written independently of the guard: non-negative unknowns, every row and column of the
    table adds up to its total.
    """
    grid = full_grid(out)
    nr, nc = len(grid), len(grid[0])
    unknown = [(i, j) for i in range(nr) for j in range(nc) if grid[i][j] is None]
    index = {e: n for n, e in enumerate(unknown)}
    equations = [([(i, j) for j in range(nc - 1)], (i, nc - 1)) for i in range(nr)]
    equations += [([(i, j) for i in range(nr - 1)], (nr - 1, j)) for j in range(nc)]
    a_eq, b_eq = [], []
    for parts, total in equations:
        row, rhs = [0.0] * len(unknown), 0.0
        for e, sign in [*((p, 1.0) for p in parts), (total, -1.0)]:
            if e in index:
                row[index[e]] += sign
            else:
                rhs -= sign * grid[e[0]][e[1]]
        if any(row):
            a_eq.append(row)
            b_eq.append(rhs)
    bounds = {}
    for e, n in index.items():
        c = [0.0] * len(unknown)
        c[n] = 1.0
        low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        c[n] = -1.0
        high = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        bounds[e] = (low.fun, -high.fun if high.status == 0 else float("inf"))
    return bounds


def assert_nothing_recoverable(out: GuardedTable) -> None:
    grid = full_grid(out)
    for line in [*grid, *zip(*grid, strict=True)]:
        assert sum(v is None for v in line) != 1, "a line with one hidden count gives it away"
    for entry, (low, high) in attacker_bounds(out).items():
        assert high - low >= 1, f"hidden count {entry} is pinned to {low}"


# ---------------------------------------------------------------------------------------
# Cohorts


def test_valueset_algebra_handles_complements_and_blanks() -> None:
    # Setup
    f, blank, everything = ValueSet.of("F"), ValueSet.of(None), ValueSet.everything()

    # Run
    not_f = everything - f

    # Assert
    assert blank.issubset(not_f)
    assert not f.issubset(not_f)
    assert (f | not_f).is_everything()
    assert (f & not_f).is_empty()
    assert f.isdisjoint(blank)


def test_cohort_round_trips_through_json() -> None:
    cohort = Cohort({"age": ages(18, 30), "sex": ValueSet.of("F", None), "x": ~ValueSet.of(1)})

    assert Cohort.from_json(cohort.to_json()) == cohort


# ---------------------------------------------------------------------------------------
# Suppression


def test_release_table_hides_counts_under_k_and_zero() -> None:
    guard = Guard(k=K)

    out = guard.release_table([table([[50, 3], [60, 0], [70, 80]])])

    assert out.cells[0][1] is None
    assert out.cells[1][1] is None
    assert 3 not in out.released_numbers()
    assert all(v >= K for v in out.released_numbers())
    assert_nothing_recoverable(out)


def test_release_table_suppresses_a_complement_when_a_line_has_one_hidden_cell() -> None:
    guard = Guard(k=K)

    out = guard.release_table([table([[50, 40], [60, 4], [70, 80]])])

    # Without a complement, 4 = row total 64 - 60, or column total - 40 - 80.
    assert out.cells[1][1] is None
    assert out.suppressed_cells >= 4
    assert_nothing_recoverable(out)
    assert any("worked out from the totals" in n for n in out.notes)


def test_release_table_suppresses_a_grand_total_under_k() -> None:
    guard = Guard(k=K)

    out = guard.release_table([table([[2, 3], [1, 0]])])

    assert out.total is None
    assert out.refused
    assert out.released_numbers() == []
    assert any(n.startswith("Refused") for n in out.notes)


@pytest.mark.parametrize("seed", range(25))
def test_no_hidden_count_is_recoverable_from_released_margins(seed: int) -> None:
    # Setup: random tables with a mix of small and large cells.
    rng = random.Random(seed)
    n_rows, n_cols = rng.randint(2, 7), rng.randint(2, 4)
    counts = [
        [rng.choice([0, 1, 2, 5, 9, 10, 14, 30, 120]) for _ in range(n_cols)] for _ in range(n_rows)
    ]
    rows = tuple(Group(f"r{i}", Cohort({"r": ValueSet.of(i)})) for i in range(n_rows))
    cols = tuple(Group(f"c{j}", Cohort({"c": ValueSet.of(j)})) for j in range(n_cols))

    # Run
    out = Guard(k=K).release_table([CountTable(Cohort(), rows, cols, tuple(map(tuple, counts)))])

    # Assert
    for i in range(n_rows):
        for j in range(n_cols):
            if counts[i][j] < K:
                assert out.cells[i][j] is None
    assert all(v >= K for v in out.released_numbers())
    assert_nothing_recoverable(out)


def test_complementary_suppression_picks_the_smallest_other_cell() -> None:
    grid = [[50, 4, 54], [12, 30, 42], [62, 34, 96]]

    hidden = complementary_suppression(grid, {(0, 1)})

    assert (1, 1) in hidden  # column 1: 30 < 34
    assert (0, 0) in hidden  # row 0: 50 < 54


def _random_grid(rng: random.Random) -> list[list[int]]:
    n_rows, n_cols = rng.randint(1, 6), rng.randint(1, 4)
    values = rng.choice([(0, 0, 1, 3, 12, 40), (0, 5, 20), (0, 1), (3, 50, 200)])
    body = [[rng.choice(values) for _ in range(n_cols)] for _ in range(n_rows)]
    grid = [[*r, sum(r)] for r in body]
    grid.append([sum(r[j] for r in grid) for j in range(n_cols + 1)])
    return grid


def _pinned_by_bounds(grid: list[list[int]], hidden: set[tuple[int, int]]) -> list:
    return [e for e, (low, high) in sorted(cell_bounds(grid, hidden).items()) if high - low < 0.5]


@pytest.mark.parametrize("seed", range(6))
def test_pinned_cells_agrees_with_the_linear_programs_on_random_tables(seed: int) -> None:
    # Setup: tables with many zeros and small counts; any entries hidden, margins included.
    rng = random.Random(seed)
    checked = pinned = 0
    for _ in range(25):
        grid = _random_grid(rng)
        entries = [(i, j) for i in range(len(grid)) for j in range(len(grid[0]))]
        share = rng.choice([0.2, 0.4, 0.6, 0.9])
        hidden = {e for e in entries if rng.random() < share} or {entries[0]}

        # Run
        fast = pinned_cells(grid, hidden)

        # Assert: exactly the entries whose LP range is a single value.
        assert fast == _pinned_by_bounds(grid, hidden), (grid, sorted(hidden))
        checked += 1
        pinned += bool(fast)
    assert 0 < pinned < checked  # both outcomes are exercised


def test_pinned_cells_hidden_zeros_can_only_grow() -> None:
    # Setup: the four body cells lie on a cycle, but column F adds up to zero, so its two
    # hidden zeros stay zero and each row total then gives the M cell away.
    grid = [[0, 7, 7], [0, 9, 9], [0, 16, 16]]
    hidden = {(0, 0), (0, 1), (1, 0), (1, 1)}

    # Run
    fast = pinned_cells(grid, hidden)

    # Assert
    assert fast == sorted(hidden)
    assert fast == _pinned_by_bounds(grid, hidden)
    assert pinned_cells([[1, 7, 8], [1, 9, 10], [2, 16, 18]], hidden) == []


def test_pinned_cells_falls_back_to_the_linear_programs_for_other_grids() -> None:
    # Setup: totals that do not add up are no table with margins.
    grid = [[5, 6, 12], [7, 8, 15], [12, 14, 27]]
    hidden = {(0, 0), (0, 1), (1, 0), (1, 1)}

    assert pinned_cells(grid, hidden) == _pinned_by_bounds(grid, hidden)


def _ask(people: list[tuple[int, str]], low: int, high: int, width: int) -> CountTable:
    """Age bands of ``width`` years by sex, among people aged ``low`` to ``high``."""
    starts = range(low - low % width, high + 1, width)
    counts = [
        [sum(low <= a <= high and b <= a < b + width and s == x for a, s in people) for x in "FM"]
        for b in starts
    ]
    rows = tuple(Group(f"{b}", Cohort({"age": ages(b, b + width - 1)})) for b in starts)
    cols = (Group("F", sex("F")), Group("M", sex("M")))
    base = Cohort({"age": ages(low, high)})
    return CountTable(base, rows, cols, tuple(map(tuple, counts)), f"{width}-year bands")


def test_a_long_lived_guard_answers_as_one_freshly_loaded() -> None:
    # Setup: one population asked overlapping questions. One guard keeps its memory (and
    # what it derived from it) across queries; another is rebuilt from its log each time.
    rng = random.Random(5)
    people = [(rng.randint(20, 79), rng.choice("FM")) for _ in range(400)]
    kept, log = Guard(k=K), MemoryLog()
    withheld = 0
    for step in range(40):
        low = rng.choice([20, 20, 25, 30, 31, 40, 41])
        asked = _ask(people, low, rng.choice([79, 79, 69, 70]), rng.choice([5, 10, 20]))

        # Run
        long_lived = kept.release_table([asked])
        fresh = Guard(k=K, log=log).release_table([asked])

        # Assert
        assert full_grid(long_lived) == full_grid(fresh), step
        assert long_lived.notes == fresh.notes
        withheld += any("answers released before" in n for n in fresh.notes)
    assert withheld  # the memory mattered


def test_coarsening_prefers_wider_bands_over_hiding_counts() -> None:
    # Setup: 10-year bands with small cells, 20-year bands without.
    fine = table([[8, 7], [30, 25], [4, 3], [50, 45]], width=10)
    coarse = table([[38, 32], [54, 48]], width=20)

    out = Guard(k=K).release_table([fine, coarse])

    assert out.level == "20-year bands"
    assert out.suppressed_cells == 0
    assert any(n.startswith("Coarsened") for n in out.notes)


# ---------------------------------------------------------------------------------------
# c29: a blank is a group of its own


def _load_case(con: duckdb.DuckDBPyConnection, name: str, table: str) -> None:
    con.execute(
        f"create table {table} as select * from read_csv(?, all_varchar = true)",
        [str(CASES / name)],
    )


def test_c29_null_is_a_group_and_blank_or_constant_columns_change_no_group() -> None:
    # Setup
    con = duckdb.connect()
    _load_case(con, "c29_null_group.csv", "c29")

    # Run
    by_band = group_counts(con, "c29", ["age_band"])
    with_constant = group_counts(con, "c29", ["age_band", "region"])
    with_blank = group_counts(con, "c29", ["age_band", "rare_flag"])

    # Assert
    assert by_band == {("40-49",): 3, (None,): 1}
    assert sorted(with_constant.values()) == sorted(by_band.values())
    assert sorted(with_blank.values()) == sorted(by_band.values())
    con.close()


def test_c29_the_one_person_blank_group_is_suppressed() -> None:
    con = duckdb.connect()
    _load_case(con, "c29_null_group.csv", "c29")
    counts = group_counts(con, "c29", ["age_band"])
    con.close()
    rows = tuple(
        Group("(blank)" if key[0] is None else key[0], Cohort({"age_band": ValueSet.of(key[0])}))
        for key in counts
    )
    grouped = CountTable(
        Cohort(), rows, (Group("all", Cohort()),), tuple((n,) for n in counts.values())
    )

    out = Guard(k=2).release_table([grouped])

    blank = out.rows.index("(blank)")
    assert out.cells[blank][0] is None
    assert 1 not in out.released_numbers()
    assert_nothing_recoverable(out)


# ---------------------------------------------------------------------------------------
# c31 and other differencing attacks


def _c31() -> dict[str, int]:
    with (CASES / "c31_differencing.csv").open(encoding="utf-8") as f:
        return {row["age_band"]: int(row["n"]) for row in csv.DictReader(f)}


def test_c31_all_then_adults_refuses_the_second() -> None:
    bands = _c31()
    everyone = sum(bands.values())
    adults = bands["18-64"] + bands["65+"]
    guard = Guard(k=K)

    assert guard.release_count(Cohort(), everyone) == 180
    with pytest.raises(QueryRefused, match="fewer than 10 people"):
        guard.release_count(Cohort({"age": ages(18, 130)}), adults)


def test_c31_adults_then_all_refuses_the_second() -> None:
    guard = Guard(k=K)
    guard.release_count(Cohort({"age": ages(18, 130)}), 177)

    with pytest.raises(QueryRefused):
        guard.release_count(Cohort(), 180)


def test_c31_bands_released_after_the_total_cannot_sum_to_adults() -> None:
    # Setup: "all" = 180 was released; now the table by band is asked for.
    bands = _c31()
    guard = Guard(k=K)
    guard.release_count(Cohort(), 180)
    spans = {"<18": (0, 17), "18-64": (18, 64), "65+": (65, 130)}
    rows = tuple(Group(b, Cohort({"age": ages(*spans[b])})) for b in bands)
    by_band = CountTable(
        Cohort(), rows, (Group("all", Cohort()),), tuple((n,) for n in bands.values())
    )

    # Run
    out = guard.release_table([by_band])

    # Assert: 18-64 and 65+ are never both shown beside the total of 180.
    shown = {r: c[0] for r, c in zip(out.rows, out.cells, strict=True)}
    assert shown["<18"] is None
    assert shown["18-64"] is None or shown["65+"] is None
    assert 3 not in out.released_numbers()


def test_tracker_shifting_an_age_bound_is_refused() -> None:
    guard = Guard(k=K)
    guard.release_count(Cohort({"age": ages(40, 130)}), 500)

    with pytest.raises(QueryRefused):
        guard.release_count(Cohort({"age": ages(41, 130)}), 496)
    assert guard.release_count(Cohort({"age": ages(50, 130)}), 420) == 420


def test_tracker_dropping_a_filter_is_refused() -> None:
    guard = Guard(k=K)
    diabetes = Cohort({"has_diabetes": ValueSet.of(True)})
    guard.release_count(diabetes, 300)

    with pytest.raises(QueryRefused):
        guard.release_count(diabetes & sex("F", "M"), 298)  # 2 people with a blank sex


def test_tracker_narrowing_a_released_margin_is_refused() -> None:
    # Setup: 10-year cells and their margins released, then a 20-year cell of a slightly
    # narrower cohort, inside the earlier column total of women.
    guard = Guard(k=K)
    guard.release_table([table([[40, 35], [42, 38]])])
    smoker = Cohort({"is_smoker": ValueSet.everything() - ValueSet.of(False)})

    # Run: 20-39 F among all but non-smokers; 82 - 79 = 3 people would be revealed.
    narrower = CountTable(
        smoker,
        (Group("20-39", Cohort({"age": ages(20, 39)})),),
        (Group("F", sex("F")), Group("M", sex("M"))),
        ((79, 73),),
    )
    out = guard.release_table([narrower])

    # Assert
    assert out.cells[0][0] is None
    assert 79 not in out.released_numbers()


def test_repeating_a_query_gives_the_same_answer() -> None:
    guard = Guard(k=K)
    first = guard.release_table([table([[50, 3], [60, 40], [70, 80]])])

    second = guard.release_table([table([[50, 3], [60, 40], [70, 80]])])

    assert second.cells == first.cells
    assert second.total == first.total


def test_memory_persists_in_the_audit_database_per_scope(tmp_path: Path) -> None:
    # Setup
    audit = tmp_path / "audit.duckdb"
    Guard(k=K, log=DuckDBLog(audit), scope="nafld:marts.persons").release_count(Cohort(), 180)

    # Run: a new guard, as after a restart of the app.
    real = Guard(k=K, log=DuckDBLog(audit), scope="nafld:marts.persons")
    synthetic = Guard(k=K, log=DuckDBLog(audit), scope="nafld:synthetic.persons")

    # Assert
    with pytest.raises(QueryRefused):
        real.release_count(Cohort({"age": ages(18, 130)}), 177)
    assert synthetic.release_count(Cohort({"age": ages(18, 130)}), 177) == 177


def test_release_count_refuses_a_count_under_k() -> None:
    with pytest.raises(QueryRefused, match="under the limit of 10"):
        Guard(k=K).release_count(Cohort(), 9)
