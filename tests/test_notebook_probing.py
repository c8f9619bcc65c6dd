"""notebooks/probing_vs_weights.ipynb: committed without outputs, parameterised, and it executes
on the tiny wild park (3 architectures of different depths), showing one probe width for every
architecture and the R²/τ table of s(W), probe, probe+s(W) and recipe that ``evaluate`` gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "probing_vs_weights.ipynb"
READOUTS = [f"{fs} · {pr}" for fs in ("s(W)", "probe", "probe+s(W)", "recipe") for pr in ("ridge", "gbt")]
NUMBER = r"-?\d+\.\d{3} \[-?\d+\.\d{2}, -?\d+\.\d{2}\]"  # a value with its 95% interval


def test_notebook_is_committed_clean_and_parameterised():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "clear the notebook's outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in ("HYPERZOO_ZOO", "HYPERZOO_PROBES", "HYPERZOO_THREADS", "HYPERZOO_WORK"):
        assert name in params[0].source
    assert nb.metadata.kernelspec.name == "python3"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for needed in ("Kahana et al. (2025", "ProbeGen", "Why training-split images only",
                   "Why `probe+s(W)` is the fair comparison for any learned view", "tiny_wildpark.toml"):
        assert needed in text, needed


def test_notebook_executes_on_the_tiny_wildpark(tiny_wildpark_zoo, tmp_path, monkeypatch):
    import numpy as np

    from hyperrep.downstream import PredictConfig, Rows, evaluate, load_data

    # the kernel inherits this process's environment: that is how the parameters reach it
    monkeypatch.setenv("HYPERZOO_ZOO", str(tiny_wildpark_zoo))
    monkeypatch.setenv("HYPERZOO_WORK", str(tmp_path / "work"))
    monkeypatch.setenv("HYPERZOO_PROBES", "16")
    monkeypatch.setenv("HYPERZOO_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not (tmp_path / "work").exists()  # a zoo was given: nothing generated
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # probe · ridge against s(W) · ridge
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    widths = re.search(r"probe features: 16 probes x (\d+) classes = (\d+) per checkpoint, for every architecture; "
                       r"raw W: \[([\d, ]+)\] parameters", text)
    assert widths, text
    classes, width, raw = int(widths[1]), int(widths[2]), [int(w) for w in widths[3].split(",")]
    assert width == 16 * classes and len(set(raw)) == 3  # one probe width, three raw widths

    # the width table: one row per architecture, the same s(W) and probe width in each
    frame = next(o["data"]["text/plain"] for o in outputs if "text/html" in o.get("data", {}))
    assert len(re.findall(rf"\b{width}\s*$", frame, flags=re.M)) == 3, frame

    table = next(o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {}))
    assert "| readout | test_acc R² | test_acc τ | test_acc val. | gap R² | gap τ | gap val. |" in table
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| ")}
    for readout in READOUTS:
        assert readout in rows, readout
        assert len(re.findall(NUMBER, rows[readout])) == 4, rows[readout]  # R², τ of test_acc and of gap

    # the table's figures are those evaluate gives on the same rows
    data, _ = load_data(tiny_wildpark_zoo, None, Rows(probes=16))
    res = evaluate(data, PredictConfig(feature_sets=("probe", "s(W)"), predictors=("ridge",),
                                       properties=("test_acc", "gap"), threads=1)).results
    for _, r in res.iterrows():
        cells = rows[f"{r['feature_set']} · {r['predictor']}"].strip("| ").split(" | ")
        column = 1 if r["property"] == "test_acc" else 4
        assert np.isfinite(r["r2"]) and cells[column] == f"{r['r2']:.3f} [{r['r2_lo']:.2f}, {r['r2_hi']:.2f}]", \
            (r["property"], cells)
