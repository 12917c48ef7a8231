"""The cohort explorer: counts of people in the real or the synthetic mart, k-anonymous.

Run it with ``make app``, or::

    .venv/bin/streamlit run app/explorer.py --server.address 127.0.0.1
        --server.headless true -- --config configs/nafld.yml

The configuration comes from ``--config``, else the ``SYNTH_CONFIG`` environment
variable, else ``configs/nafld.yml``. Every number on the page, in the table, the chart
and the download, is a :class:`~app.guard.GuardedTable` value: the page never formats a
count that did not come out of the guard. The guard remembers released counts in
``<run_dir>/audit.duckdb``; the warehouse itself is opened read-only.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import astuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/explorer.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.express as px  # noqa: E402
import streamlit as st  # noqa: E402

from app import queries as q  # noqa: E402
from app.guard import SUPPRESSED, DuckDBLog, Guard, GuardedTable  # noqa: E402
from synth.config import DatasetConfig, load_config  # noqa: E402
from synth.errors import SynthError  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "configs/nafld.yml"
TOTAL = "Total"


# ---------------------------------------------------------------------------------------
# Configuration, connections and cached counts


def config_path(argv: list[str] | None = None) -> Path:
    """The configuration file: ``--config`` after ``--``, else ``SYNTH_CONFIG``, else nafld."""
    argv = sys.argv[1:] if argv is None else argv
    for n, arg in enumerate(argv):
        if arg == "--config" and n + 1 < len(argv):
            return Path(argv[n + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return Path(os.environ.get("SYNTH_CONFIG", DEFAULT_CONFIG))


@st.cache_resource(show_spinner=False)
def _config(path: str) -> DatasetConfig:
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
def _profile(database: str, table: str, version: str, cols: tuple) -> q.TableProfile:
    return q.profile_table(_cursor(database), table, q.Columns(*cols))


@st.cache_data(show_spinner=False, max_entries=256)
def _counts(
    database: str, table: str, version: str, filters: tuple, cols: tuple, k: int
) -> dict[tuple[int | None, str | None], int]:
    # Keyed on database, table version, every filter and k (case c27). The raw counts stay
    # on the server; only the guard's output reaches the page.
    return q.count_by_age_sex(_cursor(database), table, q.Columns(*cols), q.Filters(*filters))


# ---------------------------------------------------------------------------------------
# Showing guarded tables


def _cell(value: int | None) -> str:
    return SUPPRESSED if value is None else f"{value:,}"


def guarded_frame(table: GuardedTable) -> pd.DataFrame:
    """The released table as text, with totals; hidden counts read ``suppressed``."""
    body = [[*row, total] for row, total in zip(table.cells, table.row_totals, strict=True)]
    body.append([*table.col_totals, table.total])
    frame = pd.DataFrame(
        [[_cell(v) for v in row] for row in body],
        index=pd.Index([*table.rows, TOTAL], name="age band"),
        columns=pd.Index([*table.cols, TOTAL], name="sex"),
    )
    if len(table.cols) == 1:
        frame = frame.drop(columns=TOTAL)
    return frame


def _chart(table: GuardedTable, title: str):
    points = [
        {"age band": row, "sex": col, "people": value}
        for row, cells in zip(table.rows, table.cells, strict=True)
        for col, value in zip(table.cols, cells, strict=True)
        if value is not None
    ]
    frame = pd.DataFrame(points, columns=["age band", "sex", "people"])
    fig = px.bar(
        frame,
        x="age band",
        y="people",
        color="sex",
        barmode="group",
        title=title,
        category_orders={"age band": table.rows, "sex": table.cols},
    )
    fig.update_layout(height=340, margin={"t": 48, "b": 8, "l": 8, "r": 8})
    return fig


def _show(cfg: DatasetConfig, table_name: str, label: str, filters: q.Filters, coarsen: bool):
    database = str(cfg.database)
    cols = _columns(cfg)
    con = _cursor(database)
    version = q.table_version(con, database, table_name)
    profile = _profile(database, table_name, version, astuple(cols))
    counts = _counts(database, table_name, version, astuple(filters), astuple(cols), cfg.privacy.k)
    levels = q.age_sex_levels(counts, profile, filters, cols)
    if not levels:
        st.info("No age band or sex matches these filters.")
        return
    if not coarsen:
        levels = levels[:1]
    audit = str(cfg.run_dir / "audit.duckdb")
    guard = _guard(audit, cfg.privacy.k, f"{cfg.dataset}:{table_name}")
    table = guard.release_table(levels)

    st.subheader(label)
    st.caption(f"`{table_name}`: people by {table.level} and sex")
    for note in table.notes:
        (st.warning if note.startswith("Refused") else st.info)(note)
    st.table(guarded_frame(table))
    if table.suppressed_cells < len(table.rows) * len(table.cols):
        st.plotly_chart(_chart(table, label), width="stretch", key=f"chart-{table_name}")
        if table.suppressed_cells:
            st.caption("Suppressed counts are left out of the chart.")
    st.download_button(
        "Download this table (CSV)",
        guarded_frame(table).to_csv().encode("utf-8"),
        file_name=f"{cfg.dataset}_{table_name.replace('.', '_')}_counts.csv",
        mime="text/csv",
        key=f"download-{table_name}",
    )


def _columns(cfg: DatasetConfig) -> q.Columns:
    app = cfg.app
    return q.Columns(app.age_column, app.sex_column, app.bmi_column, tuple(app.flag_columns))


def synthetic_table(cfg: DatasetConfig) -> str:
    """Where the generator writes its look-alike of the mart (``synthetic.<name>``)."""
    return "synthetic." + cfg.mart.table.rpartition(".")[2]


# ---------------------------------------------------------------------------------------
# Pages


def _label(column: str) -> str:
    for prefix in ("has_", "is_"):
        if column.startswith(prefix):
            column = column[len(prefix) :]
    return column.replace("_", " ")


def cohort_page() -> None:
    """Build a cohort and see its counts by age band and sex."""
    cfg: DatasetConfig = st.session_state["cfg"]
    real = cfg.mart.table
    synthetic = synthetic_table(cfg)
    con = _cursor(str(cfg.database))
    has_real = q.table_exists(con, real)
    has_synthetic = q.table_exists(con, synthetic)
    if not has_real:
        st.error(f"The database has no table `{real}` yet. Build it with `make build`.")
        st.stop()

    st.title(f"Cohort explorer: {cfg.dataset}")
    st.caption(
        f"Counts of people only. Any count under {cfg.privacy.k} is shown as "
        f"'{SUPPRESSED}', and so are counts that would let one be worked out."
    )
    sources = ["Real"] + (["Synthetic", "Real and synthetic side by side"] if has_synthetic else [])
    cols = _columns(cfg)
    version = q.table_version(con, str(cfg.database), real)
    profile = _profile(str(cfg.database), real, version, astuple(cols))

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
        flags = st.multiselect(
            "Diagnoses (all of)", list(cols.flags), format_func=_label, key="flags"
        )
        obese = st.checkbox(f"BMI of {q.BMI_OBESE:g} or more", key="obese") if cols.bmi else False
        coarsen = st.checkbox("Widen age bands rather than hide counts", value=True, key="coarsen")

    filters = q.Filters(
        sexes=None
        if len(chosen_sex) == len(sex_labels)
        else tuple(sex_labels[s] for s in chosen_sex),
        age_min=None if ages[0] == low else int(ages[0]),
        age_max=None if ages[1] == high else int(ages[1]),
        flags=tuple(flags),
        obese=bool(obese),
    )
    shown = {
        "Real": [(real, "Real")],
        "Synthetic": [(synthetic, "Synthetic")],
        "Real and synthetic side by side": [(real, "Real"), (synthetic, "Synthetic")],
    }[source]
    try:
        if len(shown) == 1:
            _show(cfg, shown[0][0], shown[0][1], filters, coarsen)
        else:
            for column, (name, label) in zip(st.columns(2), shown, strict=True):
                with column:
                    _show(cfg, name, label, filters, coarsen)
    except duckdb.Error as exc:
        # The message of a database error can quote data; log its kind only.
        log.error("cohort query failed: %s", type(exc).__name__)
        st.error("The query failed in the database. Check that the mart was built completely.")


def about_page() -> None:
    """How counts are protected."""
    cfg: DatasetConfig = st.session_state["cfg"]
    k = cfg.privacy.k
    st.title("How counts are protected")
    st.markdown(
        f"""
Every number in this explorer passes through one guard before it is drawn.

- **Coarsening.** When a 10-year age band holds fewer than {k} people, the table is
  shown with 20-year bands, or all ages, if that hides fewer people.
- **Suppression.** A count under {k}, zero included, reads *{SUPPRESSED}*.
- **Complementary suppression.** Further counts are hidden so that no hidden count can
  be worked out from the row and column totals.
- **Memory.** The guard remembers what it has released for each table. A count that,
  together with earlier answers, would reveal a group of 1 to {k - 1} people (for example
  *everyone* against *everyone aged 18 and over*) is withheld.
- **Blanks** are a group of their own.

Released counts are remembered in `{cfg.run_dir / "audit.duckdb"}`; the warehouse
`{cfg.database}` is opened read-only.
"""
    )


def main() -> None:
    """Load the configuration, declare the pages and run the one asked for."""
    st.set_page_config(page_title="Cohort explorer", layout="wide")
    path = config_path()
    try:
        cfg = _config(str(path))
    except SynthError as exc:
        st.error(str(exc))
        st.stop()
    if not cfg.database.exists():
        st.error(
            f"No database at {cfg.database}. Build the warehouse first (`make build`), "
            "then reload this page."
        )
        st.stop()
    st.session_state["cfg"] = cfg
    page = st.navigation(
        [
            st.Page(cohort_page, title="Cohort counts", icon=":material/groups:", default=True),
            st.Page(about_page, title="How counts are protected", icon=":material/shield:"),
        ]
    )
    page.run()


main()
