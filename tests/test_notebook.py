"""notebooks/property_prediction.ipynb: committed without outputs, parameterised, and it
executes on a tiny zoo and run, reproducing the table of ``property_report``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from downstream_zoo import tiny_zoo_and_run

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "property_prediction.ipynb"


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_zoo_and_run(tmp_path_factory)


def test_notebook_is_committed_clean_and_parameterised():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "clear the notebook's outputs"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in ("HYPERZOO_ZOO", "HYPERZOO_RUN", "HYPERZOO_REPORT"):
        assert name in params[0].source
    assert nb.metadata.kernelspec.name == "python3"


def test_notebook_executes_on_the_tiny_zoo(zoo_run, tmp_path, monkeypatch):
    from hyperrep.downstream import PredictConfig, property_report

    zoo, run = zoo_run
    out = tmp_path / "nb-report"
    # the kernel inherits this process's environment: that is how the parameters reach it
    monkeypatch.setenv("HYPERZOO_ZOO", str(zoo))
    monkeypatch.setenv("HYPERZOO_RUN", str(run))
    monkeypatch.setenv("HYPERZOO_REPORT", str(out))
    monkeypatch.setenv("HYPERZOO_THREADS", "1")
    monkeypatch.setenv("HYPERZOO_MAX_GBT_FEATURES", "512")  # skips GBT on raw W: the slow cell
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # pred vs true for epoch and test_acc, and the embedding PCA
    markdown = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    assert "## R²" in markdown and "| property | metric | with embedding (val.) |" in markdown

    # the notebook's table is the one property_report gives for the same zoo and run
    # (checked on a cheap part of it: the numbers do not depend on which other cells ran)
    direct = property_report(zoo, run, tmp_path / "direct",
                             PredictConfig(threads=1, feature_sets=("emb", "s(W)"), predictors=("ridge",)))
    keys = ["feature_set", "predictor", "property"]
    from_nb = pd.read_csv(out / "results.csv")
    from_nb_part = from_nb.merge(direct[keys], on=keys, how="inner")
    assert len(from_nb_part) == len(direct)
    pd.testing.assert_frame_equal(from_nb_part[keys], direct[keys])
    for metric in ("r2", "kendall_tau", "mae", "accuracy", "balanced_accuracy"):
        np.testing.assert_allclose(from_nb_part[metric], direct[metric].astype(float), rtol=1e-6, atol=1e-9,
                                   equal_nan=True, err_msg=metric)
    skipped = from_nb[(from_nb["feature_set"] == "W") & (from_nb["predictor"] == "gbt")]["note"]
    assert skipped.str.startswith("n/a").all()
