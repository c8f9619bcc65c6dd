"""One tiny zoo and one tiny hyper-representation run for the property-prediction tests,
built once per test session and shared by tests/test_downstream_report.py and
tests/test_notebook.py (each of them asks through a module-scoped fixture).

The zoo is small but has what the tests need: 16 models (so the 70/15/15 split by model
leaves 3 test models), 5 checkpoints (epochs 0-4) of Adam at a high learning rate and
small batches, so that the weights drift visibly with training (epoch is a property the
weights determine), and two varying categorical hyperparameters (activation, init).
The activations are leaky ReLU and tanh because at this learning rate some plain-ReLU
nets die early and stop drifting, which would make the epoch unreadable for them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from zoo_configs import small_cnn_zoo

ZOO_TOML = small_cnn_zoo(
    images=300, hidden=16, epochs=4, batch_size=8, lr=0.03, optimizer="adam",
    population="""
[population.random]
n = 16
seed = 0
activation = {choice = ["leaky_relu", "tanh"]}
init = {choice = ["kaiming_uniform", "xavier"]}
""",
)
HYPERREP_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "hyperrep" / "tiny.toml"
HYPERREP_EPOCHS = 10

_built: dict[str, tuple[Path, Path]] = {}  # the session's one build, keyed by "tiny"


def tiny_zoo_and_run(factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(ZOO.h5, RUN/) generated and trained on the first call of the session."""
    if "tiny" in _built:
        return _built["tiny"]
    from hyperrep import HyperRepConfig, train_hyperrep
    from zoo import generate, spec_from_text

    root = factory.mktemp("downstream")
    zoo_path = root / "zoo.h5"
    report = generate(spec_from_text(ZOO_TOML, "downstream test zoo"), zoo_path, max_workers=2, progress=None)
    assert report.status["done"] == 16, report
    cfg = HyperRepConfig.load(HYPERREP_CONFIG)
    cfg = dataclasses.replace(
        cfg, train=dataclasses.replace(cfg.train, epochs=HYPERREP_EPOCHS, device="cpu", threads=1, amp=False)
    )
    run = root / "run"
    train_hyperrep(zoo_path, cfg, run)
    _built["tiny"] = (zoo_path, run)
    return zoo_path, run
