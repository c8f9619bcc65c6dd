"""Results tables in the README and docs/ are generated blocks (hyperzoo.docblocks): each
one equals what its committed results folder renders to, and a change of the files changes
the block."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hyperzoo.docblocks import BEGIN, END, blocks, doc_files, publish, refresh, refreshed, render

ROOT = Path(__file__).resolve().parents[1]


def test_every_block_of_the_docs_is_what_its_files_render() -> None:
    found = 0
    for path in doc_files(ROOT):
        for name, body in blocks(path.read_text()):
            found += 1
            assert body == render(name, ROOT), f"{path.name}: block {name} is stale: run python scripts/refresh_docs.py"
    assert found >= 1, "the README's results tables are generated blocks"


def _results(root: Path, test_best: float) -> Path:
    rows = []
    for fs, pr, r2, val in (("probe", "gbt", 0.90, 0.95), ("s(W)", "gbt", test_best, 0.80)):
        rows.append({"feature_set": fs, "predictor": pr, "property": "test_acc", "r2": r2, "r2_lo": r2 - 0.05,
                     "r2_hi": r2 + 0.05, "kendall_tau": 0.7, "kendall_tau_lo": 0.6, "kendall_tau_hi": 0.8,
                     "val_score": val, "n_test_models": 20})
    spec = pd.DataFrame([{"label": "best of probe, s(W) (by validation)", "feature_sets": "probe;s(W)",
                          "predictors": "gbt"}])
    return publish(root / "docs" / "results" / "toy", label="synthetic toy zoo", command="python make_toy.py",
                   zoo="toy.h5", files={"results.csv": pd.DataFrame(rows), "rows.csv": spec})


def test_a_block_follows_its_files_and_validation_chooses(tmp_path: Path) -> None:
    _results(tmp_path, test_best=0.99)  # s(W) is best on test, probe on validation
    doc = tmp_path / "README.md"
    doc.write_text(f"intro\n{BEGIN.format(name='toy/properties')}\nold\n{END.format(name='toy/properties')}\nend\n")
    assert refresh([doc], tmp_path) == [doc]
    text = doc.read_text()
    assert "| best of probe, s(W) (by validation) | 0.900 [0.85, 0.95]" in text
    assert "`python make_toy.py`" in text and text.startswith("intro\n") and text.endswith("end\n")
    assert refresh([doc], tmp_path) == []  # idempotent
    _results(tmp_path, test_best=0.5)
    assert refreshed(text, tmp_path) == text  # the test score of the unchosen row changes nothing shown
    res = pd.read_csv(tmp_path / "docs/results/toy/results.csv")
    res.loc[0, "r2"] = 0.7
    res.to_csv(tmp_path / "docs/results/toy/results.csv", index=False)
    assert "0.700" in refreshed(text, tmp_path)


def test_a_table_block_shows_its_csv_as_written(tmp_path: Path) -> None:
    table = pd.DataFrame([{"probes": 16, "test R² [95%]": "0.900 [0.85, 0.95]"}, {"probes": 64, "test R² [95%]": "n/a"}])
    publish(tmp_path / "docs" / "results" / "abl", label="toy", command="python ablate.py", zoo="toy.h5",
            files={"table.csv": table})
    text = render("abl/table", tmp_path)
    assert "| probes | test R² [95%] |" in text and "| 64 | n/a |" in text and "`python ablate.py`" in text


def test_a_block_without_its_files_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "docs/results/nowhere").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="nowhere/provenance.json: missing"):
        render("nowhere/properties", tmp_path)
    with pytest.raises(KeyError, match="unknown kind 'plots'"):
        render("toy/plots", tmp_path)


def test_a_properties_block_shows_a_fusion_zoos_robustness_columns_after_the_usual_ones(tmp_path: Path) -> None:
    folder = _results(tmp_path, test_best=0.5)
    res = pd.read_csv(folder / "results.csv")
    extra = res.assign(property="cloudy_drop", r2=0.3, r2_lo=0.2, r2_hi=0.4)
    pd.concat([extra, res], ignore_index=True).to_csv(folder / "results.csv", index=False)
    text = render("toy/properties", tmp_path)
    header = next(line for line in text.splitlines() if line.startswith("| readout"))
    assert header == "| readout | test_acc R² | test_acc τ | cloudy_drop R² | cloudy_drop τ |"
    assert "| 0.900 [0.85, 0.95] | 0.700 [0.60, 0.80] | 0.300 [0.20, 0.40] |" in text
