"""scripts/readout_probes.py: nonlinear readouts on validation halves, test models never used."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "readout_probes.py"
_spec = importlib.util.spec_from_file_location("readout_probes", SCRIPT)
rp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rp)


def _rows(target, models: int = 90, ckpts: int = 3, width: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    model = np.repeat(np.arange(models), ckpts)
    split = np.array(["train"] * 60 + ["val"] * 16 + ["test"] * 14)[model]
    X = rng.standard_normal((len(model), width))
    return X, target(X) + 0.05 * rng.standard_normal(len(model)), model, split


def test_a_nonlinear_readout_reads_what_ridge_cannot() -> None:
    X, y, model, split = _rows(lambda X: X[:, 0] ** 2)
    lin = rp.probe(X, y, model, split, "ridge")
    for r in ("gbt", "krr"):
        res = rp.probe(X, y, model, split, r)
        assert min(res["r2_a"], res["r2_b"]) > lin["r2_a"] + 0.4, (r, res, lin)
    X, y, model, split = _rows(lambda X: X[:, 0] - 0.5 * X[:, 1])
    assert min(rp.probe(X, y, model, split, "ridge")[k] for k in ("r2_a", "r2_b")) > 0.95


def test_test_models_take_no_part() -> None:
    X, y, model, split = _rows(lambda X: np.sin(X[:, 0]) + X[:, 1])
    test = split == "test"
    X2, y2 = X.copy(), y.copy()
    X2[test] = 100.0
    y2[test] = -7.0
    for r in ("ridge", "gbt", "pls-gbt"):
        a, b = rp.probe(X, y, model, split, r), rp.probe(X2, y2, model, split, r)
        assert (a["r2_a"], a["r2_b"]) == pytest.approx((b["r2_a"], b["r2_b"]), abs=1e-9), r


def test_the_mlp_chooses_on_the_other_half() -> None:
    X, y, model, split = _rows(lambda X: np.tanh(2 * X[:, 0]))
    res = rp.probe(X, y, model, split, "mlp")
    assert res["r2_a"] > 0.7 and res["r2_b"] > 0.7, res
    assert "epochs" in res["chose_a"]


def test_too_few_validation_models_and_unknown_readouts_are_refused() -> None:
    X, y, model, split = _rows(lambda X: X[:, 0])
    with pytest.raises(ValueError, match="unknown readout 'svm'"):
        rp.probe(X, y, model, split, "svm")
    split = np.where(split == "val", "test", split)
    split[model == 60] = "val"
    with pytest.raises(ValueError, match="1 validation models"):
        rp.probe(X, y, model, split, "ridge")


def test_a_missing_zoo_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--zoo", str(tmp_path / "none.h5"), "--run", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0
    assert "none.h5" in proc.stderr.strip().splitlines()[-1]
