"""The HTML report: built from real NAFLD persons in an in-memory database."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from synth import attacks, report, utility, verdict, warehouse
from synth.config import DatasetConfig, MartConfig, load_config
from synth.errors import SynthError
from synth.schema import ColumnSpec
from tests.nafld_persons import load_persons as _load_real_persons

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "20261204T120000_000001"

COLUMNS = [
    ColumnSpec("person_id", "numeric", "identifier", integer=True),
    ColumnSpec("age_years", "numeric", "quasi_identifier", integer=True),
    ColumnSpec("sex", "categorical", "quasi_identifier"),
    ColumnSpec("region", "categorical"),
    ColumnSpec("weight_kg", "numeric"),
    ColumnSpec("height_cm", "numeric"),
    ColumnSpec("bmi_kg_m2", "numeric"),
    ColumnSpec("followup_days", "numeric", integer=True),
    ColumnSpec("is_dead", "categorical", "sensitive"),
]


def load_persons(n: int, seed: int = 0) -> pd.DataFrame:
    frame = _load_real_persons(n, seed)
    # a made-up category with a level of three persons: under k, never drawn for real rows
    frame.insert(3, "region", np.where(np.arange(n) % 2 == 0, "north", "south"))
    frame.loc[:2, "region"] = "isle"
    return frame


def report_config(tmp_path: Path) -> DatasetConfig:
    cfg = load_config(REPO / "configs" / "nafld.yml")
    mart = MartConfig(table="marts.persons", split_column="split", columns=COLUMNS)
    return dataclasses.replace(cfg, mart=mart, run_dir=tmp_path)


def build_database(con: duckdb.DuckDBPyConnection, cfg: DatasetConfig, *, evaluate: bool) -> None:
    """Mart, views, a leaky synthetic table (noisy train copy), meta.runs and evaluations."""
    persons = load_persons(1500)
    persons["split"] = np.where(persons.index < 1000, "train", "holdout")
    con.execute("create schema marts")
    con.register("persons_frame", warehouse.frame_to_arrow(persons))
    con.execute("create table marts.persons as select * from persons_frame")
    con.unregister("persons_frame")
    for split in ("train", "holdout"):
        con.execute(
            f"create view marts.persons_{split} as select * exclude (split) "
            f"from marts.persons where split = '{split}'"
        )
    train = persons[persons["split"] == "train"].drop(columns="split").reset_index(drop=True)
    holdout = persons[persons["split"] == "holdout"].drop(columns="split").reset_index(drop=True)
    rng = np.random.default_rng(0)
    synthetic = train.copy()
    synthetic["weight_kg"] = synthetic["weight_kg"] + rng.normal(0, 2, len(synthetic))
    synthetic["split"] = "synthetic"
    table = warehouse.write_synthetic_table(
        con,
        synthetic,
        like="marts.persons",
        schema="synthetic",
        name=f"persons__{RUN_ID}",
        latest_view="persons",
    )
    warehouse.record_run(
        con,
        RUN_ID,
        dataset="nafld",
        config_hash=cfg.config_hash,
        generator="noisy_copy",
        seed=0,
        status="sampled",
        n_train=len(train),
        n_synthetic=len(synthetic),
        synthetic_table=table,
    )
    if not evaluate:
        return
    settings = attacks.AttackSettings(n_attacks=300, min_attacks=50)
    attacks.write_attacks(
        con, RUN_ID, attacks.run_attacks(train, holdout, synthetic, COLUMNS, settings)
    )
    utility.write_utility(
        con,
        RUN_ID,
        utility.evaluate_utility(
            train,
            holdout,
            synthetic,
            COLUMNS,
            ["is_dead"],
            models=["logistic_regression"],
            n_bootstrap=20,
        ),
    )
    con.execute(
        "create table evaluation.summary (run_id varchar, metric varchar, "
        "value double, reason varchar)"
    )
    con.executemany(
        "insert into evaluation.summary values (?, ?, ?, null)",
        [
            [RUN_ID, "dcr_share", 0.97],
            [RUN_ID, "dcr_share_ideal", 0.667],
            [RUN_ID, "exact_copies", 0.0],
            [RUN_ID, "shape_score", 0.97],
            [RUN_ID, "trend_score", 0.96],
        ],
    )
    verdict.run_verdict(con, cfg, RUN_ID)


def build_report(tmp_path: Path, *, evaluate: bool = True) -> Path:
    cfg = report_config(tmp_path)
    con = duckdb.connect()
    try:
        build_database(con, cfg, evaluate=evaluate)
        return report.write_report(con, cfg, RUN_ID, tmp_path / "out" / "report.html")
    finally:
        con.close()


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_report(tmp_path_factory.mktemp("report")).read_text(encoding="utf-8")


def test_write_report_puts_verdict_first(report_html):
    verdict_at = report_html.index("Verdict: FAILED")
    assert verdict_at < report_html.index('id="columns"')
    assert "membership_auc" in report_html[verdict_at : verdict_at + 300]


def test_write_report_is_self_contained(report_html):
    assert len(report_html) > 3_000_000  # plotly.js is inline
    assert report_html.count("<script type='text/javascript'>") == 1
    assert not re.search(r"<script[^>]+src=", report_html)
    assert not re.search(r"<link[^>]+href=", report_html)
    assert "cdn.plot.ly/plotly" not in report_html.split("</head>", 1)[1]


def test_write_report_draws_every_section(report_html):
    # 8 columns + correlations + missing + distances + attacks + utility
    assert report_html.count('class="plotly-graph-div"') == 13
    for section in (
        "summary",
        "columns",
        "correlations",
        "missing",
        "distances",
        "attacks",
        "utility",
        "lineage",
    ):
        assert f'id="{section}"' in report_html
    assert "singling_out_multivariate" in report_html
    assert "logistic_regression" in report_html
    assert "dcr_share_ideal" in report_html


def test_write_report_hides_real_counts_under_k(report_html):
    hidden = re.search(r"(\d+) real bin\(s\) or level\(s\) with fewer than k = 10", report_html)
    assert hidden is not None
    assert int(hidden.group(1)) >= 1  # the 'isle' level of three persons


def test_write_report_shows_lineage(report_html):
    cfg = load_config(REPO / "configs" / "nafld.yml")
    assert cfg.config_hash in report_html
    assert "the run was made with the same configuration" in report_html
    assert "noisy_copy" in report_html


def test_write_report_without_evaluation_says_not_judged(tmp_path):
    html = build_report(tmp_path, evaluate=False).read_text(encoding="utf-8")
    assert "Verdict: not judged" in html
    assert "evaluation.attacks holds no rows for this run" in html


def test_write_report_unknown_run_raises(tmp_path):
    cfg = report_config(tmp_path)
    con = duckdb.connect()
    try:
        build_database(con, cfg, evaluate=False)
        with pytest.raises(SynthError, match="No run"):
            report.write_report(con, cfg, "nope", tmp_path / "r.html")
    finally:
        con.close()
