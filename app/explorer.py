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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/explorer.py` puts only app/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.views import cached_config  # noqa: E402
from synth.errors import SynthError  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "configs/nafld.yml"
PAGES = Path(__file__).resolve().parent / "pages"


def config_path(argv: list[str] | None = None) -> Path:
    """The configuration file: ``--config`` after ``--``, else ``SYNTH_CONFIG``, else nafld."""
    argv = sys.argv[1:] if argv is None else argv
    for n, arg in enumerate(argv):
        if arg == "--config" and n + 1 < len(argv):
            return Path(argv[n + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return Path(os.environ.get("SYNTH_CONFIG", DEFAULT_CONFIG))


def main() -> None:
    """Load the configuration, declare the pages and run the one asked for."""
    st.set_page_config(page_title="Cohort explorer", layout="wide")
    path = config_path()
    try:
        cfg = cached_config(str(path))
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
            st.Page(
                PAGES / "cohort_builder.py",
                title="Cohort builder",
                icon=":material/groups:",
                default=True,
            ),
            st.Page(PAGES / "sql.py", title="SQL", icon=":material/code:"),
            st.Page(PAGES / "about.py", title="How counts are protected", icon=":material/shield:"),
        ]
    )
    page.run()


main()
