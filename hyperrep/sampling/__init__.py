"""Sampling unseen models from a hyper-representation (issue 6).

``sample_models(zoo, run, SampleConfig(...))`` draws embeddings around
top-Q anchors (optionally several late checkpoints each) and decodes them into scored
models; the samplers (a registry, ``sampler_names()``: kde (alias neighbour), kde-dim, uniform,
kde-layer, kde-pca; ``register_sampler`` adds one) are compared in docs/sampling.md;
``write_sampled_zoo`` stores them as a
zoo file of the standard format; ``sampling_report`` compares them with anchors and random
inits (zero-shot, fine-tuning) and checks them for memorisation against copy-like
baselines; with a novelty floor (``SampleConfig.min_novelty``, ``Novelty``) draws nearer a
training model than that fraction of the zoo's own spacing are kept last. ``decoder_fidelity``
measures what decode(embed(w)) keeps of held-out models. :mod:`hyperrep.sampling.align` matches two models' neurons (weight matching); ``diversity_table``
gives mean pairwise aligned distances. A zoo without task data (an imported public zoo)
is sampled and reported in weight space only; accuracies are stated as not measured.
A run over several architectures (fusion modes) samples one at a time: ``arch=`` (an
architecture id or a fusion mode name, ``resolve_arch``; ``arch_modes`` lists a zoo's).

Names are imported on first use so that ``hyperzoo --help`` stays fast.
"""

from eo_tasks import lazy_exports

_EXPORTS = {
    "SampleConfig": "hyperrep.sampling.sample",
    "SampleResult": "hyperrep.sampling.sample",
    "sample_models": "hyperrep.sampling.sample",
    "sample_with": "hyperrep.sampling.sample",
    "load_run_and_context": "hyperrep.sampling.sample",
    "Sampler": "hyperrep.sampling.samplers",
    "SamplerConfig": "hyperrep.sampling.samplers",
    "register_sampler": "hyperrep.sampling.samplers",
    "sampler_names": "hyperrep.sampling.samplers",
    "sample_embeddings": "hyperrep.sampling.samplers",
    "write_sampled_zoo": "hyperrep.sampling.write",
    "ReportConfig": "hyperrep.sampling.report",
    "sampling_report": "hyperrep.sampling.report",
    "diversity_table": "hyperrep.sampling.diversity",
    "diversity_ratio": "hyperrep.sampling.diversity",
    "Evaluator": "hyperrep.sampling.evaluate",
    "open_context": "hyperrep.sampling.context",
    "decoder_fidelity": "hyperrep.sampling.fidelity",
    "fidelity_summary": "hyperrep.sampling.fidelity",
    "Novelty": "hyperrep.sampling.novelty",
    "select_anchors": "hyperrep.sampling.context",
    "arch_modes": "hyperrep.sampling.archs",
    "resolve_arch": "hyperrep.sampling.archs",
    "add_parser": "hyperrep.sampling.cli",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
