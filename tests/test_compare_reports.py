"""scripts/compare_reports.py on two reports' files written to disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "compare_reports.py"


def _report(folder: Path, noise: float, models: int = 30, val: dict | None = None) -> Path:
    """A report whose emb·ridge predicts test_acc with ``noise`` and pool(emb)·ridge with twice it."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    rows = []
    for model in range(models):
        for epoch in (1, 5):
            true = 0.2 + 0.1 * epoch + 0.05 * np.sin(model)
            for fs, scale in (("emb", 1.0), ("pool(emb)", 2.0)):
                rows.append({"model": model, "epoch": epoch, "feature_set": fs, "predictor": "ridge",
                             "property": "test_acc", "true": true, "pred": true + scale * noise * rng.standard_normal()})
            rows.append({"model": model, "epoch": epoch, "feature_set": "s(W)", "predictor": "gbt",
                         "property": "optimizer", "true": "adam", "pred": "sgd"})  # a class column beside
    pd.DataFrame(rows).to_csv(folder / "predictions.csv", index=False)
    val = val or {"emb": 0.9, "pool(emb)": 0.8}
    pd.DataFrame([{"feature_set": fs, "predictor": "ridge", "property": "test_acc", "val_score": v}
                  for fs, v in val.items()]).to_csv(folder / "results.csv", index=False)
    return folder


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)


def test_a_better_readout_wins_on_the_same_models(tmp_path: Path) -> None:
    good, poor = _report(tmp_path / "good", 0.01), _report(tmp_path / "poor", 0.05, val={"emb": 0.1, "pool(emb)": 0.2})
    done = _run(str(good), str(poor), "--properties", "test_acc")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| test_acc"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == ["emb·ridge", "pool(emb)·ridge", "30"]  # each report's best by validation
    lo = float(cells[4].split("[")[1].split(",")[0])
    assert lo > 0, row  # the paired interval lies above zero
    same = _run(str(good), str(good), "--a", "emb·ridge", "--b", "emb·ridge", "--properties", "test_acc")
    assert "= +0.000 [+0.000, +0.000]" in same.stdout, same.stdout


def test_reports_of_other_models_are_refused(tmp_path: Path) -> None:
    a, b = _report(tmp_path / "a", 0.01), _report(tmp_path / "b", 0.01, models=20)
    done = _run(str(a), str(b), "--properties", "test_acc")
    assert done.returncode != 0 and "test checkpoints of test_acc differ" in done.stderr
    assert "expected FEATURES·PREDICTOR" in _run(str(a), str(a), "--a", "emb").stderr
