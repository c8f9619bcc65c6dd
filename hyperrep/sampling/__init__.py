"""Sampling unseen models from a hyper-representation (issue 6).

``sample_models(zoo, run, method, n, anchors_q, select_k, seed)`` draws embeddings around
top-Q anchors (optionally several late checkpoints each) and decodes them into scored
models; the samplers (``METHODS``: kde, kde-dim, kde-layer, kde-pca, neighbour, uniform)
are compared in docs/sampling.md; ``write_sampled_zoo`` stores them as a
zoo file of the standard format; ``sampling_report`` compares them with anchors and random
inits (zero-shot, fine-tuning) and checks them for memorisation against copy-like
baselines. ``align`` matches two models' neurons (weight matching); ``diversity_table``
gives mean pairwise aligned distances. A zoo without task data (an imported public zoo)
is sampled and reported in weight space only; accuracies are stated as not measured.
A run over several architectures (fusion modes) samples one at a time: ``arch=`` (an
architecture id or a fusion mode name, ``resolve_arch``; ``arch_modes`` lists a zoo's).

Names are imported on first use so that ``hyperzoo --help`` stays fast.
"""

from eo_tasks.lazy import lazy_exports

_EXPORTS = {
    "SampleConfig": "hyperrep.sampling.sample",
    "SampleResult": "hyperrep.sampling.sample",
    "sample_models": "hyperrep.sampling.sample",
    "SamplerConfig": "hyperrep.sampling.kde",
    "sample_embeddings": "hyperrep.sampling.kde",
    "METHODS": "hyperrep.sampling.kde",
    "write_sampled_zoo": "hyperrep.sampling.write",
    "ReportConfig": "hyperrep.sampling.report",
    "sampling_report": "hyperrep.sampling.report",
    "align": "hyperrep.sampling.align",
    "diversity_table": "hyperrep.sampling.diversity",
    "Evaluator": "hyperrep.sampling.evaluate",
    "open_context": "hyperrep.sampling.context",
    "select_anchors": "hyperrep.sampling.context",
    "arch_modes": "hyperrep.sampling.archs",
    "resolve_arch": "hyperrep.sampling.archs",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
