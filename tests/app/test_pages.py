"""Every page under AppTest: the SQL tab, the about page, the ICD-10 picker, thresholds."""

from __future__ import annotations

from pathlib import Path

import duckdb
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "app" / "explorer.py"


def run_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def run_sql(at: AppTest, text: str) -> AppTest:
    at.text_area(key="sql").set_value(text)
    at.button(key="run_sql").click().run()
    return at


def test_about_page_explains_the_guard(explorer_config: Path) -> None:
    at = run_page("about")

    assert not at.exception
    assert at.title[0].value == "How counts are protected"
    assert "Complementary suppression" in at.markdown[0].value


def test_sql_page_answers_a_grouped_count(explorer_config: Path) -> None:
    at = run_page("sql")

    run_sql(at, "select sex, count(*) as people from marts.persons group by sex")

    assert not at.exception
    frame = at.table[0].value
    assert list(frame.columns) == ["sex", "people"]
    assert frame.iloc[-1].tolist() == ["Total", "17,549"]


def test_sql_page_refuses_row_level_and_min_max_with_a_reason(explorer_config: Path) -> None:
    at = run_page("sql")

    run_sql(at, "select min(age_years) from marts.persons")
    first = at.error[0].value
    run_sql(at, "select person_id, age_years from marts.persons")
    second = at.error[0].value

    assert not at.exception
    assert "min and max" in first
    assert "row by row" in second
    assert not at.table


def test_sql_page_suppresses_small_groups_and_their_sums(
    explorer_config: Path, explorer_db: Path
) -> None:
    # Setup: ages with few people.
    with duckdb.connect(str(explorer_db), read_only=True) as con:
        small = {
            a
            for a, n in con.execute(
                "select age_years, count(*) from marts.persons where age_years >= 85 group by 1"
            ).fetchall()
            if n < 10
        }
    at = run_page("sql")

    run_sql(
        at,
        "select age_years, count(*) as n, avg(bmi_kg_m2) as bmi from marts.persons"
        " where age_years >= 85 group by age_years",
    )

    assert not at.exception
    frame = at.table[0].value.set_index("age_years")
    for age in small:
        assert frame.loc[str(age), "n"] == "suppressed"
        assert frame.loc[str(age), "bmi"] == "suppressed"


def test_sql_page_refuses_an_answer_that_differs_from_an_earlier_one_by_few(
    explorer_config: Path, explorer_db: Path
) -> None:
    # c31 through the SQL tab: "all" then "all but the youngest few".
    with duckdb.connect(str(explorer_db), read_only=True) as con:
        ages = con.execute(
            "select age_years, count(*) from marts.persons group by 1 order by 1"
        ).fetchall()
    cut = next(a + 1 for a, n in ages if n < 10)
    at = run_page("sql")

    run_sql(at, "select count(*) from marts.persons")
    run_sql(at, f"select count(*) from marts.persons where age_years >= {cut}")

    assert not at.exception
    assert at.table[0].value.iloc[0, 0] == "suppressed"
    notes = [n.value for n in [*at.info, *at.warning]]
    assert any(n.startswith("Refused") or "released before" in n for n in notes)


def test_icd10_picker_filters_by_chapter_block_and_code(explorer_config: Path) -> None:
    at = run_page()

    at.selectbox(key="dx_chapter").set_value("icd10 chapter IX").run()
    chapter_total = at.table[0].value.loc["Total", "Total"]
    at.selectbox(key="dx_block").set_value("icd10 block I20-I25").run()
    block_total = at.table[0].value.loc["Total", "Total"]
    at.selectbox(key="dx_code").set_value("has_myocardial_infarction").run()

    assert not at.exception
    assert at.selectbox(key="dx_code").options  # codes of the block are offered
    values = [int(v.replace(",", "")) for v in (chapter_total, block_total)]
    assert values[0] >= values[1] > 0


def test_threshold_and_another_quasi_identifier_split(explorer_config: Path) -> None:
    at = run_page()

    at.checkbox(key="threshold-0").check().run()
    at.selectbox(key="rows").set_value("sex").run()
    at.selectbox(key="cols").set_value("(none)").run()

    assert not at.exception
    frame = at.table[0].value
    assert frame.index.name == "sex"
    assert {"F", "M", "Total"} <= set(frame.index)


def test_side_by_side_shows_two_guarded_tables(explorer_config: Path) -> None:
    at = run_page()

    at.radio(key="source").set_value("Real and synthetic side by side").run()

    assert not at.exception
    assert len(at.table) == 2
    assert [s.value for s in at.subheader] == ["Real", "Synthetic"]
