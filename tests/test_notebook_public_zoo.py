"""notebooks/public_zoo.ipynb: committed without outputs, parameterised by environment
variables, and it executes on a Small CNN Zoo folder in the published format (the fixture)
with a tiny MNIST folder: import, the protocol's τ and R², a hyper-representation, sampled
models with their zero-shot accuracy, one figure."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from public_zoo_fixtures import write_unterthiner
from test_import_scoring import write_mnist_folder

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "public_zoo.ipynb"
PARAMETERS = ("HYPERZOO_SOURCE", "HYPERZOO_FORMAT", "HYPERZOO_DATA_ROOT", "HYPERZOO_SPLIT_FILE", "HYPERZOO_WORK",
              "HYPERZOO_LIMIT", "HYPERZOO_REP_CONFIG", "HYPERZOO_REP_EPOCHS", "HYPERZOO_SAMPLES", "HYPERZOO_THREADS", "HYPERZOO_RESAMPLES")


def test_notebook_is_committed_clean_and_parameterised():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "clear the notebook's outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in PARAMETERS:
        assert name in params[0].source, name
    assert nb.metadata.kernelspec.name == "python3"


def test_notebook_imports_runs_the_protocol_and_samples(tmp_path: Path, monkeypatch) -> None:
    _, source_table = write_unterthiner(tmp_path / "mnist", n_models=30, crashed=True)
    write_mnist_folder(tmp_path / "MNIST", n_train=40, n_test=20, seed=4)
    work = tmp_path / "work"
    # the kernel inherits this process's environment: that is how the parameters reach it
    for name, value in {"HYPERZOO_SOURCE": tmp_path / "mnist", "HYPERZOO_DATA_ROOT": tmp_path / "MNIST",
                        "HYPERZOO_WORK": work, "HYPERZOO_LIMIT": 0, "HYPERZOO_REP_EPOCHS": 2,
                        "HYPERZOO_REP_CONFIG": ROOT / "configs" / "hyperrep" / "tiny.toml",
                        "HYPERZOO_SAMPLES": 4, "HYPERZOO_THREADS": 1, "HYPERZOO_RESAMPLES": 200,
                        "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("HYPERZOO_SPLIT_FILE", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "30 models, 266 checkpoints" in text
    html = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    markdown = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 1

    # the split the notebook wrote names models by source name, and the report's test models are its test split
    split = json.loads((work / "split.json").read_text())
    dirs = list(dict.fromkeys(source_table["modeldir"]))
    test_rows = sorted(dirs.index(name) for name in split["test"])
    preds = pd.read_csv(work / "protocol" / "predictions.csv")
    assert sorted(set(preds["model"])) == test_rows
    assert preds.groupby(["feature_set", "predictor"])["model"].apply(lambda m: m.is_unique).all()  # final only
    # τ and R² with intervals, shown in the table and beside the published figures
    results = pd.read_csv(work / "protocol" / "results.csv")
    assert set(zip(results["feature_set"], results["predictor"])) == {("s(W)", "gbt"), ("s(W)", "ridge")}
    assert set(results["property"]) == {"test_acc"}
    assert (results["n_test_models"] == len(test_rows)).all()
    for row in results.itertuples():
        assert row.kendall_tau_lo <= row.kendall_tau <= row.kendall_tau_hi and row.r2_lo <= row.r2 <= row.r2_hi
        assert f"| this zoo: s(W) · {row.predictor} | {row.kendall_tau:.3f} [{row.kendall_tau_lo:.2f}, " \
            f"{row.kendall_tau_hi:.2f}] | {row.r2:.3f} [{row.r2_lo:.2f}, {row.r2_hi:.2f}] |" in markdown
    assert "StatNN (Unterthiner et al. 2020) | 0.915" in markdown and "kendall_tau_lo" in html
    # sampled models, scored zero-shot on the MNIST folder, shown per source
    zero_shot = pd.read_csv(work / "sampled-report" / "zero_shot.csv")
    sampled = zero_shot[zero_shot["source"] == "sampled"]
    assert len(sampled) == 4 and sampled["test_acc"].between(0, 1).all()
    assert "sampled" in html and "not measured" not in text
