"""scripts/prediction_errors.py on a report's predictions.csv written to disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prediction_errors.py"


def _report(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for model in range(20):
        for epoch in (0, 5):
            true = 0.1 + 0.05 * epoch + 0.02 * rng.standard_normal()
            rows.append({"model": model, "epoch": epoch, "feature_set": "s(W)", "predictor": "gbt",
                         "property": "test_acc", "true": true, "pred": true + (0.03 if epoch == 0 else 0.0)})
            rows.append({"model": model, "epoch": epoch, "feature_set": "s(W)", "predictor": "gbt",
                         "property": "optimizer", "true": "adam", "pred": "sgd"})  # a class column beside
    pd.DataFrame(rows).to_csv(tmp_path / "predictions.csv", index=False)
    return tmp_path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)


def test_errors_split_by_epoch(tmp_path) -> None:
    done = _run(str(_report(tmp_path)), "--readouts", "s(W)·gbt")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("| s(W)·gbt")]
    assert [line.split(" | ")[1] for line in lines] == ["0", "5", "all"]
    cells = {line.split(" | ")[1]: line.split(" | ") for line in lines}
    header = [h.strip() for h in done.stdout.splitlines()[0].strip("|").split("|")]
    bias, share = header.index("bias"), header.index("share of squared error")
    # every error sits at epoch 0, where each prediction is 0.03 too high
    assert float(cells["0"][bias]) == 0.03 and float(cells["0"][share]) == 1.0
    assert float(cells["5"][bias]) == 0.0 and float(cells["5"][share]) == 0.0


def test_a_missing_report_or_readout_is_one_clear_error(tmp_path) -> None:
    done = _run(str(tmp_path / "nowhere"))
    assert done.returncode != 0 and "predictions.csv: not found" in done.stderr
    done = _run(str(_report(tmp_path)), "--readouts", "emb·ridge")
    assert done.returncode != 0 and "no test predictions for emb·ridge" in done.stderr
    done = _run(str(tmp_path), "--readouts", "emb")
    assert done.returncode != 0 and "not feature_set·predictor" in done.stderr
