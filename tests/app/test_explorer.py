"""The explorer under AppTest: pages, filters, suppression on screen, cache keys (c27)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from app import queries as q

APP = Path(__file__).resolve().parents[2] / "app" / "explorer.py"
COLS = q.Columns(
    "age_years",
    "sex",
    "bmi_kg_m2",
    (
        "has_diabetes",
        "has_hypertension",
        "has_dyslipidemia",
        "has_myocardial_infarction",
        "has_angina",
        "has_atrial_fibrillation",
        "has_heart_failure",
        "has_stroke",
        "has_cardiac_arrest",
        "is_nafld_case",
    ),
)
SMALL_COHORT = ("has_stroke", "has_heart_failure")


def run_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=30).run()


def screen_text(at: AppTest) -> str:
    """Every piece of text on the page: tables, notes, captions, markdown."""
    parts = [t.value.to_csv() for t in at.table]
    for kind in ("info", "warning", "error", "caption", "markdown", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def small_cells(
    database: Path, flags: tuple[str, ...], width: int = 5
) -> dict[tuple[int, str], int]:
    """The true band counts under k (5-year bands, the finest), read from the database."""
    with duckdb.connect(str(database), read_only=True) as con:
        counts = q.count_by_age_sex(con, "marts.persons", COLS, q.Filters(flags=flags))
    bands: dict[tuple[int, str], int] = {}
    for (age, sex), n in counts.items():
        band = age // width * width
        bands[(band, sex)] = bands.get((band, sex), 0) + n
    return {key: n for key, n in bands.items() if 0 < n < 10}


def test_app_shows_counts_by_age_band_and_sex(explorer_config: Path) -> None:
    at = run_app()

    assert not at.exception
    frame = at.table[0].value
    assert list(frame.columns) == ["F", "M", "Total"]
    assert frame.loc["Total", "Total"] == "17,549"
    assert "50-54" in frame.index


def test_small_cells_show_as_suppressed_and_their_numbers_appear_nowhere(
    explorer_config: Path, explorer_db: Path
) -> None:
    # Setup: a cohort with small cells; bands stay 5 years wide.
    small = small_cells(explorer_db, SMALL_COHORT)
    assert small, "the test cohort must hold cells under k"
    at = run_app()

    # Run
    at.multiselect(key="flags").set_value(list(SMALL_COHORT)).run()
    at.checkbox(key="coarsen").uncheck().run()

    # Assert
    assert not at.exception
    frame = at.table[0].value
    for band, sex in small:
        assert frame.loc[f"{band}-{band + 4}", sex] == "suppressed"
    released = {int(v.replace(",", "")) for v in frame.to_numpy().ravel() if v != "suppressed"}
    assert released.isdisjoint(small.values())
    assert all(n >= 10 for n in released)
    shown = frame.to_csv(index=False) + "\n".join(str(n.value) for n in [*at.info, *at.warning])
    numbers_on_screen = {int(m) for m in re.findall(r"(?<![\d,])\d+(?![\d,])", shown)}
    assert not set(small.values()) & numbers_on_screen, "a hidden count is printed somewhere"
    assert any("Suppressed" in i.value for i in at.info)


def test_small_cohort_is_coarsened_by_default(explorer_config: Path) -> None:
    at = run_app()

    at.multiselect(key="flags").set_value(list(SMALL_COHORT)).run()

    assert not at.exception
    assert any(i.value.startswith("Coarsened") for i in at.info)
    assert "10-19" not in at.table[0].value.index


def test_real_and_synthetic_answers_come_from_their_own_tables(explorer_config: Path) -> None:
    # c27: the same question on two tables gives two answers, never one cached answer.
    at = run_app()
    real_total = at.table[0].value.loc["Total", "Total"]

    at.radio(key="source").set_value("Synthetic").run()
    synthetic_total = at.table[0].value.loc["Total", "Total"]
    at.radio(key="source").set_value("Real and synthetic side by side").run()

    assert not at.exception
    assert real_total == "17,549"
    assert synthetic_total != real_total
    assert [t.value.loc["Total", "Total"] for t in at.table] == [real_total, synthetic_total]


def test_without_a_synthetic_table_only_real_is_offered(
    tmp_path: Path, explorer_db: Path, monkeypatch: pytest.MonkeyPatch, write_config
) -> None:
    # Setup: a warehouse holding only the real mart.
    database = tmp_path / "real_only.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("attach ? as src (read_only)", [str(explorer_db)])
        con.execute("create schema marts")
        con.execute("create table marts.persons as select * from src.marts.persons")
    monkeypatch.setenv("SYNTH_CONFIG", str(write_config(tmp_path, database)))

    at = run_app()

    assert not at.exception
    assert at.radio(key="source").options == ["Real"]
    assert any("No synthetic table" in i.value for i in at.sidebar.info)


def test_missing_database_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_config
) -> None:
    monkeypatch.setenv("SYNTH_CONFIG", str(write_config(tmp_path, tmp_path / "absent.duckdb")))

    at = run_app()

    assert not at.exception
    assert "No database at" in at.error[0].value


def test_differencing_against_an_earlier_answer_is_withheld(
    explorer_config: Path, explorer_db: Path
) -> None:
    # Setup: find an age bound that leaves out 1..9 people of the cohort.
    with duckdb.connect(str(explorer_db), read_only=True) as con:
        ages = con.execute(
            "select age_years, count(*) from marts.persons where has_stroke and"
            " has_heart_failure group by 1 order by 1"
        ).fetchall()
    cut = next(age + 1 for age, n in ages if n < 10)
    at = run_app()
    at.multiselect(key="flags").set_value(list(SMALL_COHORT)).run()
    total = at.table[0].value.loc["Total", "Total"]
    at.checkbox(key="coarsen").uncheck().run()

    # Run: the same cohort from age `cut` on.
    at.slider(key="ages").set_value((cut, 99)).run()

    # Assert
    assert not at.exception
    assert total != "suppressed"
    assert at.table[0].value.loc["Total", "Total"] == "suppressed"
    assert any("released before" in n.value for n in [*at.info, *at.warning])


def test_a_withheld_answer_falls_back_to_dropping_the_least_important_filter(
    explorer_config: Path, explorer_db: Path
) -> None:
    # Setup: as above, but coarsening is on, so the guard may widen the question.
    with duckdb.connect(str(explorer_db), read_only=True) as con:
        ages = con.execute(
            "select age_years, count(*) from marts.persons where has_stroke and"
            " has_heart_failure group by 1 order by 1"
        ).fetchall()
    cut = next(age + 1 for age, n in ages if n < 10)
    narrowed = sum(n for age, n in ages if age >= cut)
    at = run_app()
    at.multiselect(key="flags").set_value(list(SMALL_COHORT)).run()

    # Run
    at.slider(key="ages").set_value((cut, 99)).run()

    # Assert: the narrowed total is never shown; the user is told what changed.
    assert not at.exception
    assert at.table[0].value.loc["Total", "Total"] != f"{narrowed:,}"
    notes = [n.value for n in [*at.info, *at.warning]]
    assert any("Filter dropped: the age range" in n or "released before" in n for n in notes)


def test_cache_keys_and_versions_follow_the_database(tmp_path: Path, explorer_db: Path) -> None:
    # c27: a table's version changes when its content changes; filters are hashable keys.
    database = tmp_path / "copy.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("attach ? as src (read_only)", [str(explorer_db)])
        con.execute("create schema marts")
        con.execute("create table marts.persons as select * from src.marts.persons limit 100")
        before = q.table_version(con, database, "marts.persons")
        con.execute(
            "delete from marts.persons where person_id = (select min(person_id) from marts.persons)"
        )
        con.execute("checkpoint")
        after = q.table_version(con, database, "marts.persons")

    assert before != after
    assert hash(q.Filters(flags=("has_stroke",))) == hash(q.Filters(flags=("has_stroke",)))
    assert q.Filters(flags=("has_stroke",)) != q.Filters(flags=("has_stroke",), obese=True)


def test_where_clause_binds_values_and_quotes_names() -> None:
    filters = q.Filters(sexes=("F", None), age_min=18, flags=("has_stroke",), obese=True)

    sql, params = q.where_clause(filters, COLS)

    assert params == ["F", 18, 30.0]
    assert '"sex" in (?)' in sql and '"sex" is null' in sql
    assert '"has_stroke" is true' in sql
    assert "'F'" not in sql
