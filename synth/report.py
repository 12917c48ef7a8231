"""One self-contained HTML report per run: verdict, fidelity, privacy, utility, lineage.

The file carries plotly's JavaScript inline and fetches nothing, so it opens offline and
can be archived with the run. Everything is read from the database: the evaluation
tables of the run, the mart's train and holdout views and the run's synthetic table.

Real-data counts below the configuration's ``privacy.k`` are never drawn: histogram bins
and category bars of real rows with fewer than k persons are left out (and said so).

Example:
    >>> from synth.report import write_report
    >>> write_report(con, cfg, run_id, cfg.run_dir / "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import yaml
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from synth import warehouse
from synth.attacks import DistanceEncoder, closest_distances, numeric_values
from synth.config import DatasetConfig
from synth.errors import SynthError
from synth.schema import ColumnSpec
from synth.verdict import read_evaluation

log = logging.getLogger(__name__)

REAL_COLOUR = "#1f77b4"
SYNTHETIC_COLOUR = "#ff7f0e"
HOLDOUT_COLOUR = "#2ca02c"
DCR_SAMPLE_ROWS = 3000  # synthetic rows whose distances are drawn
BINS = 30  # histogram bins over the real range

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto;
       max-width: 1280px; padding: 0 24px 48px; color: #222; line-height: 1.45; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px;
       margin-top: 40px; }
.meta { color: #555; margin-top: 0; }
.banner { padding: 14px 18px; border-radius: 6px; font-size: 1.2em; font-weight: 600;
          margin: 18px 0; }
.pass { background: #e6f4ea; color: #1e6b34; border: 1px solid #b7dfc2; }
.fail { background: #fdecea; color: #a12622; border: 1px solid #f3c1bd; }
.unknown { background: #f1f3f4; color: #444; border: 1px solid #d5d8da; }
table { border-collapse: collapse; margin: 10px 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 4px 9px; text-align: left; }
th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.row-fail td { background: #fdf3f2; } .yes { color: #1e6b34; font-weight: 600; }
.no { color: #a12622; font-weight: 600; } .na { color: #777; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr));
        gap: 8px; }
.note { color: #555; font-size: 0.9em; }
pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 0.85em; }
nav a { margin-right: 14px; }
.scroll { overflow-x: auto; max-width: 100%; }
"""


def write_report(
    con: duckdb.DuckDBPyConnection, cfg: DatasetConfig, run_id: str, path: str | Path
) -> Path:
    """Write the run's HTML report.

    Args:
        con: An open connection to the dataset's database.
        cfg: The dataset configuration.
        run_id: The run to report on; it must have a synthetic table.
        path: Where to write the file; its folder is created.

    Returns:
        The path written.

    Raises:
        SynthError: The run is unknown or has no synthetic table.
    """
    run = warehouse.get_run(con, run_id)
    if not run.get("synthetic_table"):
        raise SynthError(f"Run {run_id} has no synthetic table; sample it before reporting.")
    frames = {
        "train": _read(con, cfg.mart.table + "_train"),
        "holdout": _read(con, cfg.mart.table + "_holdout"),
        "synthetic": _read(con, run["synthetic_table"]),
    }
    tables = {
        name: read_evaluation(con, name, run_id)
        for name in ("verdict", "summary", "column_metrics", "pair_metrics", "attacks", "utility")
    }
    figures = _Figures()
    modelled = cfg.mart.modelled
    sections = [
        ("summary", "Summary and verdict", _summary_section(run, frames, tables)),
        (
            "columns",
            "Columns: real against synthetic",
            _columns_section(frames, modelled, tables["column_metrics"], cfg.privacy.k, figures),
        ),
        ("correlations", "Correlations", _correlation_section(frames, modelled, figures)),
        ("missing", "Missing values", _missing_section(frames, modelled, figures)),
        (
            "distances",
            "Distance to closest record",
            _dcr_section(frames, modelled, tables["summary"], figures),
        ),
        ("attacks", "Privacy attacks", _attacks_section(tables["attacks"], figures)),
        (
            "utility",
            "Utility: train on synthetic, test on real",
            _utility_section(tables["utility"], figures),
        ),
        ("lineage", "Configuration and lineage", _lineage_section(cfg, run)),
    ]
    tuning = _tuning_section(con, run_id, figures)
    if tuning:
        sections.insert(-1, ("tuning", "Tuning: how these settings were picked", tuning))
    nav = " ".join(f'<a href="#{key}">{html.escape(title)}</a>' for key, title, _ in sections)
    body = "\n".join(
        f'<section id="{key}"><h2>{html.escape(title)}</h2>{content}</section>'
        for key, title, content in sections
    )
    title = f"Synthetic data report: {cfg.dataset}, run {run_id}"
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='meta'>{html.escape(cfg.description)}</p><nav>{nav}</nav>{body}"
        "</body></html>"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    log.info(
        "report for run %s written to %s (%d figures, %.1f MB)",
        run_id,
        path,
        figures.count,
        path.stat().st_size / 1e6,
    )
    return path


def _read(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    return con.execute(f"select * from {warehouse.quote_table(table)}").df()


class _Figures:
    """Renders figures as divs; the page's head carries plotly once."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, fig: go.Figure, height: int = 320) -> str:
        self.count += 1
        fig.update_layout(
            height=height, margin={"l": 50, "r": 20, "t": 50, "b": 40}, template="plotly_white"
        )
        return fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
        )


# ----------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "<td class='na'>n/a</td>"
    if isinstance(value, bool | np.bool_):
        label, cls = ("pass", "yes") if value else ("fail", "no")
        return f"<td class='{cls}'>{label}</td>"
    if isinstance(value, int | np.integer):
        return f"<td class='num'>{int(value):,}</td>"
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            # counts stored as doubles (rows, copies) read as whole numbers
            return f"<td class='num'>{int(number):,}</td>"
        return f"<td class='num'>{number:.4g}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _table(frame: pd.DataFrame, fail_column: str | None = None) -> str:
    if frame.empty:
        return "<p class='note'>No rows.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.to_dict("records"):
        failed = fail_column is not None and record.get(fail_column) is False
        cls = " class='row-fail'" if failed else ""
        rows.append(f"<tr{cls}>" + "".join(_cell(v) for v in record.values()) + "</tr>")
    return (
        f"<div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _missing_table_note(name: str) -> str:
    return f"<p class='note'>evaluation.{name} holds no rows for this run.</p>"


# ----------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------


def _summary_section(
    run: dict[str, Any], frames: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame]
) -> str:
    verdict = tables["verdict"]
    parts = []
    if verdict.empty:
        parts.append(
            "<div class='banner unknown'>Verdict: not judged (evaluation.verdict "
            "holds no rows for this run)</div>"
        )
    else:
        privacy = verdict[verdict["kind"] == "privacy"]
        failed = verdict[verdict["passed"].eq(False).fillna(False)]
        privacy_failed = privacy[privacy["passed"].ne(True)]
        if privacy_failed.empty:
            parts.append(
                f"<div class='banner pass'>Verdict: PASSED all {len(privacy)} privacy "
                f"checks ({len(failed)} fidelity or utility check(s) failed)</div>"
                if len(failed)
                else f"<div class='banner pass'>Verdict: PASSED all {len(verdict)} checks</div>"
            )
        else:
            names = ", ".join(privacy_failed["check_name"])
            parts.append(
                f"<div class='banner fail'>Verdict: FAILED {len(privacy_failed)} of "
                f"{len(privacy)} privacy checks ({html.escape(names)})</div>"
            )
    facts = pd.DataFrame(
        [
            {"item": "run", "value": run["run_id"]},
            {"item": "generator", "value": run["generator"]},
            {"item": "train rows", "value": len(frames["train"])},
            {"item": "holdout rows", "value": len(frames["holdout"])},
            {"item": "synthetic rows", "value": len(frames["synthetic"])},
            {"item": "synthetic table", "value": run["synthetic_table"]},
        ]
    )
    parts.append(_table(facts))
    summary = tables["summary"]
    if not summary.empty:
        parts.append("<h3>Headline metrics</h3>")
        parts.append(
            _table(summary[[c for c in ("metric", "value", "reason") if c in summary.columns]])
        )
    if not verdict.empty:
        parts.append("<h3>Checks</h3>")
        columns = [
            c
            for c in ("check_name", "kind", "value", "threshold", "passed", "detail")
            if c in verdict.columns
        ]
        parts.append(_table(verdict[columns], fail_column="passed"))
    return "\n".join(parts)


def _columns_section(
    frames: dict[str, pd.DataFrame],
    columns: Sequence[ColumnSpec],
    column_metrics: pd.DataFrame,
    k: int,
    figures: _Figures,
) -> str:
    real = pd.concat([frames["train"], frames["holdout"]])
    scores: dict[str, str] = {}
    if not column_metrics.empty:
        for r in column_metrics.to_dict("records"):
            if r["metric"] in ("ks_complement", "tv_complement") and pd.notna(r["value"]):
                scores[r["column_name"]] = f"{r['metric']} {r['value']:.3f}"
    divs, hidden = [], 0
    for col in columns:
        if col.kind == "categorical":
            fig, dropped = _category_bars(real[col.name], frames["synthetic"][col.name], k)
        else:
            fig, dropped = _histogram(real[col.name], frames["synthetic"][col.name], col.kind, k)
        hidden += dropped
        title = col.name + (f" ({scores[col.name]})" if col.name in scores else "")
        fig.update_layout(
            title={"text": title, "font": {"size": 14}},
            bargap=0.05,
            legend={"orientation": "h", "y": -0.15},
            yaxis_title="share of rows",
        )
        divs.append(f"<div>{figures.html(fig, 300)}</div>")
    note = (
        f"<p class='note'>Real = train and holdout; bars are shares of each table's rows. "
        f"{hidden} real bin(s) or level(s) with fewer than k = {k} persons are not "
        "drawn.</p>"
    )
    metrics_table = ""
    if not column_metrics.empty:
        wide = column_metrics.pivot_table(
            index="column_name", columns="metric", values="value", aggfunc="first"
        ).reset_index()
        metrics_table = "<h3>Column metrics</h3>" + _table(wide)
    return note + f"<div class='grid'>{''.join(divs)}</div>" + metrics_table


def _histogram(real: pd.Series, synthetic: pd.Series, kind: str, k: int) -> tuple[go.Figure, int]:
    r, s = numeric_values(real, kind), numeric_values(synthetic, kind)
    r, s = r[~np.isnan(r)], s[~np.isnan(s)]
    fig = go.Figure()
    if not len(r):
        return fig, 0
    lo, hi = float(r.min()), float(r.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, BINS + 1)
    real_counts, _ = np.histogram(np.clip(r, lo, hi), edges)
    syn_counts, _ = np.histogram(np.clip(s, lo, hi), edges)
    small = (real_counts > 0) & (real_counts < k)
    real_share = np.where(small, np.nan, real_counts / max(len(r), 1))
    centres = (edges[:-1] + edges[1:]) / 2
    fig.add_bar(x=centres, y=real_share, name="real", marker_color=REAL_COLOUR, opacity=0.7)
    fig.add_bar(
        x=centres,
        y=syn_counts / max(len(s), 1),
        name="synthetic",
        marker_color=SYNTHETIC_COLOUR,
        opacity=0.7,
    )
    fig.update_layout(barmode="overlay")
    return fig, int(small.sum())


def _category_bars(real: pd.Series, synthetic: pd.Series, k: int) -> tuple[go.Figure, int]:
    r = real.astype(object).where(real.notna(), "(missing)").astype(str).value_counts()
    s = synthetic.astype(object).where(synthetic.notna(), "(missing)").astype(str).value_counts()
    levels = sorted(set(r.index) | set(s.index))
    small = [lv for lv in levels if 0 < r.get(lv, 0) < k]
    real_share = [np.nan if lv in small else r.get(lv, 0) / r.sum() for lv in levels]
    fig = go.Figure()
    fig.add_bar(x=levels, y=real_share, name="real", marker_color=REAL_COLOUR)
    fig.add_bar(
        x=levels,
        y=[s.get(lv, 0) / max(s.sum(), 1) for lv in levels],
        name="synthetic",
        marker_color=SYNTHETIC_COLOUR,
    )
    fig.update_layout(barmode="group")
    return fig, len(small)


def _correlation_matrix(frame: pd.DataFrame, columns: Sequence[ColumnSpec]) -> pd.DataFrame:
    data = {}
    for col in columns:
        if col.kind == "categorical":
            values = frame[col.name].astype(object).where(frame[col.name].notna(), None)
            levels = {str(v) for v in values.dropna()}
            if not levels <= {"True", "False"}:
                continue
            data[col.name] = values.map(lambda v: np.nan if v is None else float(str(v) == "True"))
        else:
            data[col.name] = numeric_values(frame[col.name], col.kind)
    return pd.DataFrame(data).astype(float).corr()


def _correlation_section(
    frames: dict[str, pd.DataFrame], columns: Sequence[ColumnSpec], figures: _Figures
) -> str:
    real = _correlation_matrix(frames["train"], columns)
    syn = _correlation_matrix(frames["synthetic"], columns).reindex_like(real)
    diff = syn - real
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.09,
        subplot_titles=("real (train)", "synthetic", "synthetic - real"),
    )
    labels = list(real.columns)
    span = max(0.1, float(np.nanmax(np.abs(diff.to_numpy()))) if diff.size else 0.1)
    panels = (
        (
            real,
            "RdBu",
            1.0,
            {
                "orientation": "h",
                "x": 0.36,
                "y": -0.32,
                "len": 0.55,
                "thickness": 10,
                "title": {"text": "correlation"},
            },
        ),
        (syn, "RdBu", 1.0, None),
        (
            diff,
            "PuOr",
            span,
            {"x": 1.0, "len": 0.9, "thickness": 10, "title": {"text": "difference"}},
        ),
    )
    for i, (matrix, scale, limit, bar) in enumerate(panels, 1):
        fig.add_heatmap(
            z=matrix.to_numpy(),
            x=labels,
            y=labels,
            zmin=-limit,
            zmax=limit,
            colorscale=scale,
            reversescale=True,
            showscale=bar is not None,
            colorbar=bar,
            row=1,
            col=i,
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=45, tickfont={"size": 9})
    fig.update_yaxes(tickfont={"size": 9})
    worst = diff.abs().stack().sort_values(ascending=False)
    top = (
        f"Largest difference: {worst.index[0][0]} with {worst.index[0][1]}, {worst.iloc[0]:.3f}."
        if len(worst)
        else ""
    )
    return (
        f"<p class='note'>Pearson correlations over numbers, dates and yes/no columns "
        f"(pairwise complete rows). {html.escape(top)}</p>" + figures.html(fig, 600)
    )


def _missing_section(
    frames: dict[str, pd.DataFrame], columns: Sequence[ColumnSpec], figures: _Figures
) -> str:
    names = [c.name for c in columns]
    real = frames["train"][names].isna().mean()
    syn = frames["synthetic"][names].isna().mean()
    fig = go.Figure()
    fig.add_bar(x=names, y=real.to_numpy(), name="real (train)", marker_color=REAL_COLOUR)
    fig.add_bar(x=names, y=syn.to_numpy(), name="synthetic", marker_color=SYNTHETIC_COLOUR)
    fig.update_layout(barmode="group", yaxis_title="missing rate", xaxis_tickangle=45)
    return figures.html(fig, 380)


def _dcr_section(
    frames: dict[str, pd.DataFrame],
    columns: Sequence[ColumnSpec],
    summary: pd.DataFrame,
    figures: _Figures,
) -> str:
    real = pd.concat([frames["train"], frames["holdout"]])
    encoder = DistanceEncoder(columns, real, [frames["synthetic"]])
    syn = frames["synthetic"]
    if len(syn) > DCR_SAMPLE_ROWS:
        syn = syn.sample(DCR_SAMPLE_ROWS, random_state=0)
    to_train = closest_distances(encoder, frames["train"], syn)
    to_holdout = closest_distances(encoder, frames["holdout"], syn)
    fig = go.Figure()
    edges = {
        "start": 0.0,
        "end": float(max(to_train.max(), to_holdout.max(), 1e-6)),
        "size": float(max(to_train.max(), to_holdout.max(), 1e-6)) / 40,
    }
    fig.add_histogram(
        x=to_train,
        name="synthetic → train",
        xbins=edges,
        marker_color=REAL_COLOUR,
        opacity=0.65,
        histnorm="probability",
    )
    fig.add_histogram(
        x=to_holdout,
        name="synthetic → holdout",
        xbins=edges,
        marker_color=HOLDOUT_COLOUR,
        opacity=0.65,
        histnorm="probability",
    )
    fig.update_layout(
        barmode="overlay",
        xaxis_title="distance to closest record (mean per column)",
        yaxis_title="share of synthetic rows",
    )
    values = dict(zip(summary["metric"], summary["value"], strict=True)) if len(summary) else {}
    share = values.get("dcr_share")
    ideal = values.get("dcr_share_ideal")
    caption = (
        f"DCR share (evaluation.summary): {share:.3f}, ideal {ideal:.3f}. "
        if share is not None and ideal is not None and pd.notna(share)
        else ""
    )
    return (
        f"<p class='note'>{caption}{len(syn):,} synthetic rows; exact copies of train "
        f"rows here: {int((to_train == 0).sum())}; of holdout rows: "
        f"{int((to_holdout == 0).sum())}. The train split is larger than the holdout, so "
        "its distances run a little shorter even for a generator that copies no one."
        f"</p>{figures.html(fig, 360)}"
    )


def _attacks_section(attacks: pd.DataFrame, figures: _Figures) -> str:
    if attacks.empty:
        return _missing_table_note("attacks")
    frame = attacks.drop(columns=["run_id"], errors="ignore").copy()
    shown = frame.drop(columns=["detail"], errors="ignore")
    note = (
        "<p class='note'>Risk = (attack success - control success) / (1 - control "
        "success), with a Wilson interval; attacks are built from the synthetic rows and "
        "scored on train persons (attack) and holdout persons (control). For "
        "membership inference the risk column holds the AUC (0.5 = no leak).</p>"
    )
    ok = frame[frame["status"] == "ok"]
    fig = go.Figure()
    fig.add_bar(
        y=ok["attack"],
        x=ok["risk"],
        orientation="h",
        marker_color=SYNTHETIC_COLOUR,
        error_x={
            "type": "data",
            "symmetric": False,
            "array": (ok["ci_high"] - ok["risk"]).to_numpy(),
            "arrayminus": (ok["risk"] - ok["ci_low"]).to_numpy(),
        },
    )
    fig.update_layout(
        xaxis={"range": [0, 1], "title": "risk (AUC for membership)"},
        yaxis={"autorange": "reversed"},
    )
    details = "".join(
        f"<li><b>{html.escape(str(r['attack']))}</b>: {html.escape(str(r['detail']))}</li>"
        for r in frame.to_dict("records")
    )
    return (
        note
        + _table(shown)
        + figures.html(fig, 60 + 26 * max(len(ok), 1))
        + f"<details><summary>Attack details</summary><ul class='note'>{details}</ul>"
        "</details>"
    )


def _utility_section(utility: pd.DataFrame, figures: _Figures) -> str:
    if utility.empty:
        return _missing_table_note("utility")
    frame = utility.drop(columns=["run_id"], errors="ignore")
    fig = go.Figure()
    for train_on, colour in (("real", REAL_COLOUR), ("synthetic", SYNTHETIC_COLOUR)):
        rows = frame[frame["train_on"] == train_on]
        fig.add_scatter(
            x=rows["value"],
            y=rows["target"] + " / " + rows["model"],
            mode="markers",
            name=f"trained on {train_on}",
            marker={"color": colour, "size": 11},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (rows["ci_high"] - rows["value"]).to_numpy(),
                "arrayminus": (rows["value"] - rows["ci_low"]).to_numpy(),
            },
        )
    fig.update_layout(
        xaxis_title="score on the real holdout (AUC or macro F1)",
        legend={"orientation": "h", "y": -0.25},
    )
    return (
        "<p class='note'>Every model is tested on the real holdout; the gap is real "
        "minus synthetic, with a paired bootstrap interval over holdout rows.</p>"
        + _table(frame)
        + figures.html(fig, 120 + 40 * frame["target"].nunique() * frame["model"].nunique())
    )


def _lineage_section(cfg: DatasetConfig, run: dict[str, Any]) -> str:
    run_frame = pd.DataFrame(
        [{"field": k, "value": "" if v is None else str(v)} for k, v in run.items()]
    )
    same = run.get("config_hash") == cfg.config_hash
    hash_note = f"<p>Configuration hash of this file: <code>{cfg.config_hash}</code>; " + (
        "the run was made with the same configuration.</p>"
        if same
        else f"<b>the run was made with a different one (<code>"
        f"{html.escape(str(run.get('config_hash')))}</code>)</b>.</p>"
    )
    text = yaml.safe_dump(json.loads(json.dumps(cfg.raw, default=str)), sort_keys=False)
    return (
        "<h3>meta.runs</h3>"
        + _table(run_frame)
        + hash_note
        + f"<h3>{html.escape(cfg.path.name)}</h3><pre>{html.escape(text)}</pre>"
    )


def _tuning_section(con: duckdb.DuckDBPyConnection, run_id: str, figures: _Figures) -> str:
    """The search that picked this run's settings; empty when the run was not tuned."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'evaluation' and table_name = 'tuning_picks'"
    ).fetchone()[0]
    if not exists:
        return ""
    picks = con.execute(
        "select * from evaluation.tuning_picks where run_id = ? order by created_at desc limit 1",
        [run_id],
    ).df()
    if picks.empty:
        return ""
    pick = picks.iloc[0]
    study = str(pick["study_name"])
    trials = con.execute(
        "select * from evaluation.tuning_trials where study_name = ? order by trial_number",
        [study],
    ).df()
    importances = con.execute(
        "select objective, param, importance, note from evaluation.tuning_importances "
        "where study_name = ? order by objective, importance desc",
        [study],
    ).df()
    objectives = ("fidelity", "utility", "privacy")
    done = trials[trials["state"] == "complete"]
    picked = trials[trials["picked"].astype(bool)]
    # Booleans as words: the table helper draws True / False as pass / fail.
    words = {True: "yes", False: "no"}
    listed = trials.assign(
        on_front=trials["on_front"].map(words), picked=trials["picked"].map(words)
    )
    intro = (
        f"<p>Study <code>{html.escape(study)}</code>: {int(pick['n_trials'])} trials, "
        f"{int(pick['n_complete'])} complete, {int(pick['n_pruned'])} pruned. Every trial "
        "fitted on the train split less a seeded validation slice and was scored on that "
        "slice (the holdout was not read): fidelity = mean of shape and trend error, "
        "utility = train-synthetic-test-real gap, privacy = |balanced DCR share - 0.5| "
        "(or the largest attack risk); all three are minimised. The pick ranks every "
        f"trial of the {'Pareto front' if pick['pick_from'] == 'pareto' else 'study'} on "
        "each objective and takes the lowest mean rank; it was retrained on the whole "
        "train split as this run.</p>"
    )
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("fidelity against privacy", "fidelity against utility")
    )
    for col, other in ((1, "privacy"), (2, "utility")):
        for label, rows, symbol, colour in (
            ("trial", done[~done["on_front"].astype(bool)], "circle", "#bbbbbb"),
            ("Pareto front", done[done["on_front"].astype(bool)], "diamond", SYNTHETIC_COLOUR),
            ("picked", picked, "star", REAL_COLOUR),
        ):
            fig.add_scatter(
                x=rows["fidelity"],
                y=rows[other],
                mode="markers",
                name=label,
                legendgroup=label,
                showlegend=col == 1,
                text=[f"trial {n}" for n in rows["trial_number"]],
                marker={"symbol": symbol, "color": colour, "size": 14 if label == "picked" else 9},
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="fidelity error", row=1, col=col)
        fig.update_yaxes(title_text=f"{other} (lower is better)", row=1, col=col)
    shown = ["trial_number", "state", *objectives, "on_front"]
    shown += [f"rank_{o}" for o in objectives] + ["mean_rank", "picked", "seconds"]
    parts = [intro, figures.html(fig, 380)]
    parts.append(
        "<h3>Picked trial and its ranks</h3>"
        + _table(listed[listed["picked"] == "yes"][shown])
        + f"<pre>{html.escape(json.dumps(json.loads(pick['generator']), indent=2))}</pre>"
    )
    parts.append("<h3>Parameter importances</h3>")
    values = importances.dropna(subset=["importance"])
    if values.empty:
        notes = "; ".join(importances["note"].dropna()) or "none were computed"
        parts.append(f"<p class='note'>No importances: {html.escape(notes)}.</p>")
    else:
        bars = go.Figure()
        for objective in objectives:
            rows = values[values["objective"] == objective]
            bars.add_bar(y=rows["param"], x=rows["importance"], orientation="h", name=objective)
        bars.update_layout(barmode="group", xaxis_title="importance (optuna, normalised)")
        parts.append(figures.html(bars, 80 + 22 * len(values)))
    failed = trials[trials["prune_reason"].notna()]
    parts.append("<h3>All trials</h3>" + _table(listed[[*shown, "params"]]))
    if not failed.empty:
        parts.append(
            "<details><summary>Why trials were pruned</summary><ul class='note'>"
            + "".join(
                f"<li>trial {int(r['trial_number'])}: {html.escape(str(r['prune_reason']))}</li>"
                for r in failed.to_dict("records")
            )
            + "</ul></details>"
        )
    return "\n".join(parts)
