"""What the writer stores for one finished model (docs/zoo-format.md, "Writing protocol")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ModelRecord:
    """One model's results, as :meth:`zoo.ZooWriter.write` takes them.

    ``index`` is the model's row; ``status`` one of "done", "failed", "diverged". Checkpoint
    ``k`` of ``weights`` and of every ``metrics`` array is the state after ``epochs[k]``
    (kept epochs only, in order); metrics the zoo does not define are ignored, and
    ``weight_l2``/``weight_max_abs`` are computed by the writer. ``twin_weights`` and
    ``twin_metrics`` have one row per twin ratio of the zoo.
    """

    index: int
    status: str  # "done" | "failed" | "diverged"
    error: str = ""
    wall_time: float = 0.0
    epochs: list[int] = field(default_factory=list)  # kept epochs reached, in order
    weights: np.ndarray | None = None  # [len(epochs), P_arch] float32
    metrics: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [len(epochs)]
    twin_weights: np.ndarray | None = None  # [R, P_arch]
    twin_metrics: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [R]
    train_size: int = 0
    node: str = ""  # host:pid of the process that trained it
    code: str = ""  # zoo.provenance.source_digest() of the code that trained it
