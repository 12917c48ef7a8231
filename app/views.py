"""The explorer's pages: cohort builder, SQL tab and about, and the shared plumbing.

Every number a page shows, in a table, a chart or a download, comes out of the guard
(:class:`~app.guard.GuardedTable`); the warehouse is opened read-only, one cursor per
browser session, and cached results are keyed on the database, the table version, every
filter and k.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import plotly.express as px
import streamlit as st

from app import queries as q
from app import sql_tab
from app.guard import SUPPRESSED, DuckDBLog, Guard, GuardedTable
from synth.config import DatasetConfig, load_config

log = logging.getLogger(__name__)

TOTAL = "Total"


# ---------------------------------------------------------------------------------------
# Configuration, connections and cached counts


@st.cache_resource(show_spinner=False)
def cached_config(path: str) -> DatasetConfig:
    """The dataset configuration at ``path``, read once per process."""
    return load_config(path)


@st.cache_resource(show_spinner=False)
def _connection(database: str, mtime_ns: int) -> duckdb.DuckDBPyConnection:
    # One read-only connection per database file version, shared by all sessions.
    log.info("opening %s read-only", database)
    return q.open_readonly(database)


def _cursor(database: str) -> duckdb.DuckDBPyConnection:
    """A cursor of the shared connection, one per browser session."""
    mtime_ns = Path(database).stat().st_mtime_ns
    key = f"cursor::{database}::{mtime_ns}"
    if key not in st.session_state:
        st.session_state[key] = _connection(database, mtime_ns).cursor()
    return st.session_state[key]


@st.cache_resource(show_spinner=False)
def _guard(audit_path: str, k: int, scope: str) -> Guard:
    # One guard per table, shared by all sessions, so its lock covers every session.
    return Guard(k=k, log=DuckDBLog(audit_path), scope=scope)


@st.cache_data(show_spinner=False, max_entries=256)
def _profile(database: str, table: str, version: str, cols: q.Columns) -> q.TableProfile:
    return q.profile_table(_cursor(database), table, cols)


@st.cache_data(show_spinner=False, max_entries=256)
def _counts(
    database: str,
    table: str,
    version: str,
    filters: q.Filters,
    cols: q.Columns,
    row: str,
    col: str | None,
    k: int,
) -> dict[tuple, int]:
    # Keyed on database, table version, every filter, the split and k (case c27). The raw
    # counts stay on the server; only the guard's output reaches the page.
    return q.count_by(_cursor(database), table, cols, filters, row, col)


@st.cache_data(show_spinner=False, max_entries=256)
def _values(database: str, table: str, version: str, column: str) -> tuple:
    return q.distinct_values(_cursor(database), table, column)


# ---------------------------------------------------------------------------------------
# Showing guarded tables


def _cell(value: int | None) -> str:
    return SUPPRESSED if value is None else f"{value:,}"


def guarded_frame(table: GuardedTable, row_name: str = "age band", col_name: str = "sex"):
    """The released table as text, with totals; hidden counts read ``suppressed``."""
    body = [[*row, total] for row, total in zip(table.cells, table.row_totals, strict=True)]
    body.append([*table.col_totals, table.total])
    frame = pd.DataFrame(
        [[_cell(v) for v in row] for row in body],
        index=pd.Index([*table.rows, TOTAL], name=row_name),
        columns=pd.Index([*table.cols, TOTAL], name=col_name),
    )
    if len(table.cols) == 1:
        frame = frame.drop(columns=TOTAL)
    return frame


def _chart(table: GuardedTable, title: str, row_name: str, col_name: str):
    points = [
        {row_name: row, col_name: col, "people": value}
        for row, cells in zip(table.rows, table.cells, strict=True)
        for col, value in zip(table.cols, cells, strict=True)
        if value is not None
    ]
    frame = pd.DataFrame(points, columns=[row_name, col_name, "people"])
    fig = px.bar(
        frame,
        x=row_name,
        y="people",
        color=col_name,
        barmode="group",
        title=title,
        category_orders={row_name: table.rows, col_name: table.cols},
    )
    fig.update_layout(height=340, margin={"t": 48, "b": 8, "l": 8, "r": 8})
    return fig


def _columns(cfg: DatasetConfig) -> q.Columns:
    return _columns_cached(str(cfg.path))


@st.cache_resource(show_spinner=False)
def _columns_cached(path: str) -> q.Columns:
    return q.columns_from_config(cached_config(path))


def synthetic_table(cfg: DatasetConfig) -> str:
    """Where the generator writes its look-alike of the mart (``synthetic.<name>``)."""
    return "synthetic." + cfg.mart.table.rpartition(".")[2]


def _guard_for(cfg: DatasetConfig, table_name: str) -> Guard:
    audit = str(cfg.run_dir / "audit.duckdb")
    return _guard(audit, cfg.privacy.k, f"{cfg.dataset}:{table_name}")


def _fallbacks(cfg, table_name, version, filters, cols, row, col, values):
    """Wider questions, in order, each counted only when needed.

    First a chosen diagnosis at its parent ICD-10 level (code, block, chapter), then each
    filter dropped, least important first: thresholds, sex, age range, conditions.
    """
    database, k = str(cfg.database), cfg.privacy.k
    steps: list[tuple[str, q.Filters]] = []
    current = filters
    nodes = {n.key: n for n in cols.diagnoses}
    for key in filters.diagnoses:
        node = nodes.get(key)
        while node is not None and node.parent and node.parent != node.key:
            parent = nodes[node.parent]
            dx = tuple(parent.key if d == node.key else d for d in current.diagnoses)
            current = replace(current, diagnoses=dx)
            steps.append(
                (
                    f"Coarsened: the diagnosis {_node_label(node)} is widened to "
                    f"{_node_label(parent)}, so that fewer counts fall under {k} people.",
                    current,
                )
            )
            key, node = parent.key, parent
    drops = [
        (f"threshold {t}", {"thresholds": tuple(x for x in current.thresholds if x != t)})
        for t in reversed(current.thresholds)
    ]
    if current.obese:
        drops.insert(0, ("BMI threshold", {"obese": False}))
    if current.sexes is not None:
        drops.append(("sex filter", {"sexes": None}))
    if current.age_min is not None or current.age_max is not None:
        drops.append(("age range", {"age_min": None, "age_max": None}))
    drops += [
        (f"diagnosis {_words(f)}", {"flags": tuple(x for x in current.flags if x != f)})
        for f in reversed(current.flags)
    ]
    for name, change in drops:
        current = replace(current, **change)
        steps.append(
            (
                f"Filter dropped: the {name} is left out (the least important filter left), "
                f"because with it every count would fall under {k} people.",
                current,
            )
        )

    def levels_of(f: q.Filters):
        def build():
            counts = _counts(database, table_name, version, f, cols, row, col, k)
            return q.levels_by(counts, *values, f, cols, row, col, k)

        return build

    return [(note, levels_of(f)) for note, f in steps]


def _show(
    cfg: DatasetConfig,
    table_name: str,
    label: str,
    filters: q.Filters,
    coarsen: bool,
    row: str,
    col: str | None,
) -> None:
    database = str(cfg.database)
    cols = _columns(cfg)
    con = _cursor(database)
    version = q.table_version(con, database, table_name)
    k = cfg.privacy.k
    values = (
        _values(database, table_name, version, row),
        _values(database, table_name, version, col) if col else (None,),
    )
    counts = _counts(database, table_name, version, filters, cols, row, col, k)
    levels = q.levels_by(counts, *values, filters, cols, row, col, k)
    if not levels:
        st.info("No group matches these filters.")
        return
    if not coarsen:
        levels = levels[:1]
    fallbacks = (
        _fallbacks(cfg, table_name, version, filters, cols, row, col, values) if coarsen else []
    )
    table = _guard_for(cfg, table_name).release_table(levels, fallbacks)

    row_name = "age band" if row == cols.age else _words(row)
    col_name = _words(col) if col else "count"
    st.subheader(label)
    st.caption(f"`{table_name}`: people by {table.level}" + (f" and {col_name}" if col else ""))
    for note in table.notes:
        (st.warning if note.startswith(("Refused", "Filter dropped")) else st.info)(note)
    frame = guarded_frame(table, row_name, col_name)
    st.table(frame)
    if table.suppressed_cells < len(table.rows) * len(table.cols):
        st.plotly_chart(
            _chart(table, label, row_name, col_name), width="stretch", key=f"chart-{table_name}"
        )
        if table.suppressed_cells:
            st.caption("Suppressed counts are left out of the chart.")
    st.download_button(
        "Download this table (CSV)",
        frame.to_csv().encode("utf-8"),
        file_name=f"{cfg.dataset}_{table_name.replace('.', '_')}_counts.csv",
        mime="text/csv",
        key=f"download-{table_name}",
    )


# ---------------------------------------------------------------------------------------
# Pages


def _words(column: str) -> str:
    for prefix in ("has_", "is_"):
        if column.startswith(prefix):
            column = column[len(prefix) :]
    return column.replace("_", " ")


_label = _words


def _node_label(node: q.DxNode) -> str:
    title = f" {node.title}" if node.title else ""
    if node.level == "chapter":
        return f"chapter {node.code}{title}"
    return f"{node.code}{title}"


def _tables(cfg: DatasetConfig) -> tuple[str, str, bool]:
    real, synthetic = cfg.mart.table, synthetic_table(cfg)
    con = _cursor(str(cfg.database))
    if not q.table_exists(con, real):
        st.error(f"The database has no table `{real}` yet. Build it with `make build`.")
        st.stop()
    return real, synthetic, q.table_exists(con, synthetic)


def _diagnosis_picker(cols: q.Columns) -> tuple[str, ...]:
    """Chapter, then block, then code; the finest one chosen is the filter."""
    if not cols.diagnoses:
        return ()
    none = "(any)"
    chapters = [n for n in cols.diagnoses if n.level == "chapter"]
    by_key = {n.key: n for n in chapters}
    chapter = st.selectbox(
        "ICD-10 chapter",
        [none, *by_key],
        format_func=lambda k: k if k == none else _node_label(by_key[k]),
        key="dx_chapter",
    )
    if chapter == none:
        return ()
    blocks = {n.key: n for n in cols.diagnoses if n.level == "block" and n.parent == chapter}
    block = st.selectbox(
        "ICD-10 block",
        [none, *blocks],
        format_func=lambda k: k if k == none else _node_label(blocks[k]),
        key="dx_block",
    )
    if block == none:
        return (chapter,)
    codes = {
        n.key: n
        for n in cols.diagnoses
        if n.level == "code" and n.parent in (block, blocks[block].key)
    }
    code = st.selectbox(
        "ICD-10 code",
        [none, *codes],
        format_func=lambda k: k if k == none else _node_label(codes[k]),
        key="dx_code",
    )
    return (block,) if code == none else (code,)


def cohort_page() -> None:
    """Build a cohort and see its counts split by age band and sex, or any quasi-identifier."""
    cfg: DatasetConfig = st.session_state["cfg"]
    real, synthetic, has_synthetic = _tables(cfg)
    con = _cursor(str(cfg.database))
    st.title(f"Cohort explorer: {cfg.dataset}")
    st.caption(
        f"Counts of people only. Any count under {cfg.privacy.k} is shown as "
        f"'{SUPPRESSED}', and so are counts that would let one be worked out."
    )
    sources = ["Real"] + (["Synthetic", "Real and synthetic side by side"] if has_synthetic else [])
    cols = _columns(cfg)
    version = q.table_version(con, str(cfg.database), real)
    profile = _profile(str(cfg.database), real, version, cols)

    with st.sidebar:
        source = st.radio("Data", sources, key="source")
        if not has_synthetic:
            st.info(f"No synthetic table (`{synthetic}`) yet: only the real data can be explored.")
        sex_labels = {q.BLANK if s is None else str(s): s for s in profile.sexes}
        chosen_sex = st.multiselect("Sex", list(sex_labels), default=list(sex_labels), key="sexes")
        # Whole decades, so the slider does not give away the youngest or oldest age.
        low = (profile.age_low or 0) // 10 * 10
        high = ((profile.age_high if profile.age_high is not None else 99) // 10 + 1) * 10 - 1
        ages = st.slider("Age (years)", low, high, (low, high), key="ages")
        diagnoses = _diagnosis_picker(cols)
        flags = st.multiselect(
            "Conditions (all of)", list(cols.flags), format_func=_words, key="flags"
        )
        thresholds = tuple(
            t.key
            for n, t in enumerate(cols.thresholds)
            if st.checkbox(t.label, key=f"threshold-{n}")
        )
        strata = list(cols.strata)
        row = st.selectbox("Rows", strata, format_func=_words, key="rows")
        col_options = [c for c in strata if c != row] + ["(none)"]
        col = st.selectbox("Columns", col_options, format_func=_words, key="cols")
        coarsen = st.checkbox(
            "Coarsen (wider bands, parent ICD-10 level, fewer filters) rather than hide counts",
            value=True,
            key="coarsen",
        )

    filters = q.Filters(
        sexes=None
        if len(chosen_sex) == len(sex_labels)
        else tuple(sex_labels[s] for s in chosen_sex),
        age_min=None if ages[0] == low else int(ages[0]),
        age_max=None if ages[1] == high else int(ages[1]),
        flags=tuple(flags),
        diagnoses=diagnoses,
        thresholds=thresholds,
    )
    shown = {
        "Real": [(real, "Real")],
        "Synthetic": [(synthetic, "Synthetic")],
        "Real and synthetic side by side": [(real, "Real"), (synthetic, "Synthetic")],
    }[source]
    split = (row, None if col == "(none)" else col)
    try:
        if len(shown) == 1:
            _show(cfg, shown[0][0], shown[0][1], filters, coarsen, *split)
        else:
            for column, (name, label) in zip(st.columns(2), shown, strict=True):
                with column:
                    _show(cfg, name, label, filters, coarsen, *split)
    except duckdb.Error as exc:
        # The message of a database error can quote data; log its kind only.
        log.error("cohort query failed: %s", type(exc).__name__)
        st.error("The query failed in the database. Check that the mart was built completely.")


SQL_EXAMPLE = "select sex, count(*) as people\nfrom {table}\nwhere age_years >= 40\ngroup by sex"


def sql_page() -> None:
    """Analysts type one aggregate SELECT; the guard releases what it may of the answer."""
    cfg: DatasetConfig = st.session_state["cfg"]
    real, synthetic, has_synthetic = _tables(cfg)
    database = str(cfg.database)
    tables = (real, synthetic) if has_synthetic else (real,)
    st.title("SQL for analysts")
    st.caption(
        f"One SELECT over {', '.join(f'`{t}`' for t in tables)}: count(*), "
        f"count(distinct person id), sum and avg beside counts of at least {cfg.privacy.k}; "
        "WHERE as an AND of conditions on single columns. Every answer passes the guard."
    )
    text = st.text_area("Query", SQL_EXAMPLE.format(table=real), height=160, key="sql")
    if not st.button("Run", key="run_sql"):
        return
    con = _cursor(database)
    version = q.table_version(con, database, real)
    schema = _sql_schema(database, version, tables, str(cfg.path))
    try:
        query = sql_tab.parse_query(text, schema)
        answer = sql_tab.run_query(con, query, schema, _guard_for(cfg, query.table))
    except sql_tab.SqlRefused as exc:
        log.info("sql tab refused a query: %s", type(exc).__name__)
        st.error(str(exc))
        return
    except duckdb.Error as exc:
        log.error("sql tab query failed: %s", type(exc).__name__)
        st.error("The query failed in the database.")
        return
    for note in answer.notes:
        (st.warning if note.startswith("Refused") else st.info)(note)
    frame = sql_frame(answer)
    st.table(frame)
    counted = answer.kinds.index("count")
    points = [
        {"group": label, "people": row[counted]}
        for label, row in zip(answer.table.rows, answer.rows, strict=True)
        if row[counted] is not None
    ]
    if query.group_by and points:
        chart = px.bar(pd.DataFrame(points), x="group", y="people")
        st.plotly_chart(chart, width="stretch", key="sql-chart")
    st.download_button(
        "Download this answer (CSV)",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{cfg.dataset}_sql_answer.csv",
        mime="text/csv",
        key="download-sql",
    )


def sql_frame(answer: sql_tab.SqlAnswer) -> pd.DataFrame:
    """The guarded answer as text: counts, sums and averages; hidden ones read ``suppressed``."""
    kinds = {name: kind for name, kind in zip(answer.columns, answer.kinds, strict=True)}
    out = []
    for row in answer.rows:
        shown = []
        for name, value in zip(answer.columns, row, strict=True):
            if kinds[name] == "group":
                shown.append(q.BLANK if value is None else str(value))
            elif kinds[name] == "count":
                shown.append(_cell(value))
            else:
                shown.append(SUPPRESSED if value is None else f"{value:,.2f}")
        out.append(shown)
    total = answer.table.total
    if len(answer.rows) > 1:
        out.append(
            [
                TOTAL
                if kinds[n] == "group" and i == 0
                else (_cell(total) if kinds[n] == "count" else "")
                for i, n in enumerate(answer.columns)
            ]
        )
    return pd.DataFrame(out, columns=answer.columns)


@st.cache_resource(show_spinner=False)
def _sql_schema(
    database: str, version: str, tables: tuple[str, ...], path: str
) -> sql_tab.SqlSchema:
    cfg = cached_config(path)
    return sql_tab.build_schema(_cursor(database), tables, cfg, _columns(cfg))


def about_page() -> None:
    """How counts are protected."""
    cfg: DatasetConfig = st.session_state["cfg"]
    k = cfg.privacy.k
    st.title("How counts are protected")
    st.markdown(
        f"""
Every number in this explorer, in tables, charts, downloads and the SQL tab, passes
through one guard before it is drawn.

- **Coarsening.** When a table would hide too many people, it is shown with wider age
  bands (5, 10, 20 years, all ages), rare categories merged, a diagnosis at its parent
  ICD-10 level (code, block, chapter), and last with the least important filter dropped.
  A note says what changed.
- **Suppression.** A count under {k}, zero included, reads *{SUPPRESSED}*.
- **Complementary suppression.** Further counts are hidden so that no hidden count can
  be worked out from the row and column totals.
- **Memory.** The guard remembers what it has released for each table. A count that,
  together with earlier answers, would reveal a group of 1 to {k - 1} people (for example
  *everyone* against *everyone aged 18 and over*, or a cohort inside cells shown before)
  is withheld.
- **SQL.** Only aggregate queries over the mart and the synthetic table; the typed text
  is checked, then rewritten with bound values; each row of the answer is a cohort.
- **Blanks** are a group of their own.

Released counts are remembered in `{cfg.run_dir / "audit.duckdb"}`; the warehouse
`{cfg.database}` is opened read-only.
"""
    )
