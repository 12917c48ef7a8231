"""The run report in a real browser: Debian's Chromium, driven by playwright, from a file."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = os.environ.get("REPORT_SCREENSHOTS")  # keep screenshots here when set


def _report_fixtures():
    spec = importlib.util.spec_from_file_location(
        "report_fixtures", ROOT / "tests" / "unit" / "test_report.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_report_renders_offline_in_chromium(tmp_path, chromium):
    path = _report_fixtures().build_report(tmp_path)
    errors: list[str] = []
    outside: list[str] = []
    try:
        page = chromium.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith(("file:", "data:", "blob:")) else outside.append(r.url)
            ),
        )
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot svg.main-svg", timeout=20_000)
        page.wait_for_load_state("load")
        plots = page.locator(".js-plotly-plot").count()
        drawn = page.locator(".js-plotly-plot svg.main-svg .cartesianlayer .subplot").count()
        banner = page.locator(".banner").first
        banner_text = banner.inner_text()
        banner_visible = banner.is_visible()
        heatmaps = page.locator("#correlations .js-plotly-plot .heatmaplayer image").count()
        bars = page.locator("#columns .js-plotly-plot .bars path").count()
        if SCREENSHOT_DIR:
            page.screenshot(path=str(Path(SCREENSHOT_DIR) / "report_top.png"))
            page.locator("#attacks").scroll_into_view_if_needed()
            page.screenshot(path=str(Path(SCREENSHOT_DIR) / "report_attacks.png"))
    finally:
        page.close()
    assert plots == 13
    assert drawn >= 15  # one subplot per figure, three for the correlations
    assert banner_visible
    assert banner_text.startswith("Verdict: FAILED")
    assert heatmaps == 3
    assert bars > 50
    assert errors == []
    assert outside == []
