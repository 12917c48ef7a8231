from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synth.config import load_config
from synth.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((REPO / "configs" / "nafld.yml").read_text())
    mutate(raw)
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_bundled_config_loads() -> None:
    cfg = load_config(REPO / "configs" / "nafld.yml")
    assert cfg.mart.identifier == "person_id"
    assert "person_id" not in [c.name for c in cfg.mart.modelled]
    assert cfg.privacy.k == 10
    assert cfg.database.is_absolute()
    assert len(cfg.config_hash) == 16


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (
            lambda r: r["mart"]["columns"]["age_years"].update(kind="number"),
            "mart.columns.age_years.kind",
        ),
        (lambda r: r["mart"]["columns"]["sex"].update(role="secret"), "mart.columns.sex.role"),
        (lambda r: r["mart"]["columns"]["sex"].update(colour="red"), "mart.columns.sex.colour"),
        (lambda r: r["privacy"].update(k=1), "privacy.k"),
        (lambda r: r["privacy"].update(k="ten"), "privacy.k"),
        (lambda r: r["split"].update(holdout_fraction=1.5), "split.holdout_fraction"),
        (lambda r: r.pop("mart"), "mart"),
        (lambda r: r.update(extra=1), "extra"),
        (lambda r: r["app"].update(flag_columns=["has_nothing"]), "app.flag_columns[0]"),
        (
            lambda r: r["mart"]["columns"]["age_years"].update(lower=200),
            "mart.columns.age_years.lower",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, mutate, key: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key
    assert f"'{key}'" in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yml")


def test_config_hash_changes_with_content(tmp_path: Path) -> None:
    base = load_config(REPO / "configs" / "nafld.yml")
    changed = load_config(_write(tmp_path, lambda r: r["split"].update(seed=1)))
    assert base.config_hash != changed.config_hash


@pytest.mark.parametrize("dataset", ["nafld", "nhanes", "pbc"])
def test_every_bundled_config_loads(dataset: str) -> None:
    cfg = load_config(REPO / "configs" / f"{dataset}.yml")
    assert cfg.dataset == dataset
    assert cfg.mart.identifier == "person_id"
    assert cfg.app.age_column in [c.name for c in cfg.mart.columns]


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda r: r["mart"]["columns"]["sex"].pop("derive"), "mart.columns.sex.derive"),
        (
            lambda r: r["mart"]["columns"]["sex"]["derive"].update({"from": "lab"}),
            "mart.columns.sex.derive.from",
        ),
        (
            lambda r: r["mart"]["columns"]["sex"]["derive"].update(column="eye_colour"),
            "mart.columns.sex.derive.column",
        ),
        (
            lambda r: r["mart"]["columns"]["hdl_mg_dl"]["derive"].update(aggregate="median"),
            "mart.columns.hdl_mg_dl.derive.aggregate",
        ),
        (
            lambda r: r["mart"]["columns"]["hdl_mg_dl"]["derive"].update(window=[0]),
            "mart.columns.hdl_mg_dl.derive.window",
        ),
        (
            lambda r: r["mart"]["columns"]["has_angina"]["derive"].update(icd10="I20"),
            "mart.columns.has_angina.derive.icd10",
        ),
        (
            lambda r: r["mart"]["columns"]["is_smoker"]["derive"].update(true_answers=[1]),
            "mart.columns.is_smoker.derive.true_answers",
        ),
        (lambda r: r["mart"]["columns"]["sex"].update(type="text"), "mart.columns.sex.type"),
        (
            lambda r: r["mart"]["columns"]["sex"].update(missing="zero"),
            "mart.columns.sex.missing",
        ),
        (
            lambda r: r["mart"]["columns"]["sex"].update(structural_missing={"when": 1}),
            "mart.columns.sex.structural_missing.when",
        ),
    ],
)
def test_variable_errors_name_the_key(tmp_path: Path, mutate, key: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("date_formats", "key"),
    [
        ({"nafld9_unknown": {"lab_date": "%d/%m/%Y"}}, "sources.date_formats.nafld9_unknown"),
        ({"nafld2_labs_long": {}}, "sources.date_formats.nafld2_labs_long"),
        (
            {"nafld2_labs_long": {"Lab Date": "%d/%m/%Y"}},
            "sources.date_formats.nafld2_labs_long.Lab Date",
        ),
        (
            {"nafld2_labs_long": {"lab_date": 20210403}},
            "sources.date_formats.nafld2_labs_long.lab_date",
        ),
        (
            {"nafld2_labs_long": {"lab_date": "%d/%m"}},
            "sources.date_formats.nafld2_labs_long.lab_date",
        ),
        (
            {"nafld2_labs_long": {"lab_date": "%Q-%m-%d"}},
            "sources.date_formats.nafld2_labs_long.lab_date",
        ),
    ],
)
def test_date_format_errors_name_the_key(tmp_path: Path, date_formats, key: str) -> None:
    path = _write(tmp_path, lambda r: r["sources"].update(date_formats=date_formats))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == key


def test_unknown_sources_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda r: r["sources"].update(date_format="%Y"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "sources.date_format"


def test_declared_date_formats_are_kept(tmp_path: Path) -> None:
    formats = {"nafld2_labs_long": {"visit_date": "%d/%m/%Y", "lab_ts": "%Y%m%d%H%M%S%f"}}
    path = _write(tmp_path, lambda r: r["sources"].update(date_formats=formats))
    assert load_config(path).date_formats == formats


@pytest.mark.parametrize("dataset", ["nafld", "nhanes", "pbc"])
def test_bundled_datasets_declare_no_dates(dataset: str) -> None:
    # Their times are day offsets from the index date; the configs say so.
    assert load_config(REPO / "configs" / f"{dataset}.yml").date_formats == {}
