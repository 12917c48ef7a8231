"""The explorer in a real browser: Debian's Chromium, driven by playwright, on loopback."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = os.environ.get("EXPLORER_SCREENSHOTS")  # keep screenshots here when set


def _app_fixtures():
    spec = importlib.util.spec_from_file_location(
        "explorer_app_fixtures", ROOT / "tests" / "app" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _app_fixtures()
explorer_db = _fixtures.explorer_db  # the same warehouse as the AppTest tests
write_config = _fixtures.write_config


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_app(tmp_path: Path, explorer_db: Path) -> Iterator[str]:
    """The explorer served by streamlit on a free loopback port."""
    config = write_config(tmp_path, explorer_db)
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("streamlit")),
            "run",
            str(ROOT / "app" / "explorer.py"),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--",
            "--config",
            str(config),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}"
                    )
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _screenshot(page, tmp_path: Path, name: str) -> None:
    folder = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_a_filter_with_small_cells_shows_them_as_suppressed(
    served_app: str, tmp_path: Path, explorer_db: Path, chromium
) -> None:
    import duckdb
    from playwright.sync_api import expect

    with duckdb.connect(str(explorer_db), read_only=True) as con:
        cohort_total = con.execute(
            "select count(*) from marts.persons where has_stroke and has_heart_failure"
        ).fetchone()[0]

    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # Setup: the page with every person.
        page.goto(served_app)
        table = page.get_by_test_id("stTable").first
        expect(table).to_contain_text("17,549", timeout=20_000)
        _screenshot(page, tmp_path, "explorer_all")

        # Run: stroke and heart failure, 5-year bands kept (no coarsening).
        diagnoses = page.get_by_test_id("stSidebar").get_by_role("combobox").nth(2)
        for flag in ("stroke", "heart failure"):
            diagnoses.click()
            page.get_by_role("option", name=flag, exact=True).click()
            page.keyboard.press("Escape")
        page.get_by_text("Coarsen (wider bands", exact=False).click()

        # Assert: first wait for the filtered table (the cohort's total is shown).
        expect(table).not_to_contain_text("17,549", timeout=20_000)
        expect(table).to_contain_text(f"{cohort_total:,}", timeout=20_000)
        expect(table).to_contain_text("suppressed", timeout=20_000)
        expect(table).to_contain_text("90-94")
        expect(page.get_by_test_id("stAlert").first).to_contain_text("Suppressed")
        _screenshot(page, tmp_path, "explorer_suppressed")
    finally:
        page.close()
