"""Published evaluation protocols for ``hyperzoo predict --protocol NAME``: the settings under
which a report's figure sits beside a paper's table. A protocol fills in the options the
command line leaves out (an option given explicitly wins); what it cannot fix, the split of
models, comes from ``--split-file`` (the benchmark's file, converted to
:func:`zoo.read_split_file`'s format). docs/public-zoos.md lists the published figures.

Plain data, no heavy imports: the ``predict`` parser reads the names for ``--help``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    """``final_only``: each model's last stored checkpoint only; ``properties``: the properties
    scored; ``feature_sets``: always, ``with_run`` added when a run is given, ``with_probes``
    when ``--probes N`` is; ``published``: the figures to compare with (one line)."""

    name: str
    help: str
    final_only: bool
    properties: tuple[str, ...]
    feature_sets: tuple[str, ...]
    with_run: tuple[str, ...] = ()
    with_probes: tuple[str, ...] = ()
    published: str = ""

    def features(self, run: bool, probes: bool) -> list[str]:
        return [*self.feature_sets, *(self.with_run if run else ()), *(self.with_probes if probes else ())]


PROTOCOLS = {
    "small-cnn-zoo": Protocol(
        "small-cnn-zoo",
        help="the Small CNN Zoo accuracy-prediction benchmark (Unterthiner et al. 2020; NFN, neural graphs on "
        "CIFAR10-GS): each model's final checkpoint, test_acc, Kendall tau and R2; s(W) (the StatNN baseline: "
        "GBT on layer statistics), plus pool(emb) and emb with --run, probe and probe+s(W) with --probes",
        final_only=True,
        properties=("test_acc",),
        feature_sets=("s(W)",),
        with_run=("pool(emb)", "emb", "pool(emb)+s(W)"),
        with_probes=("probe", "probe+s(W)"),
        published="CIFAR10-GS test accuracy, Kendall tau: StatNN 0.915, NFN 0.934, NG-T 0.935",
    ),
}
