"""Samplers of new embeddings around anchor embeddings: the registry
(:mod:`~hyperrep.sampling.samplers.registry`) and one module per sampler, each registering
itself once on import. Adding a sampler is one module with a ``draw`` function and one
``register_sampler(Sampler(...))`` call (docs/extending.md); importing this package registers the
built-in ones, in the order ``--method`` lists them.
"""

from hyperrep.sampling.samplers.registry import (
    BANDWIDTHS, DEFAULT_METHOD, DEFAULT_SCALE, MIN_NOVELTY, PCA_RESIDUALS, RESIDUALS, SAMPLER_REGISTRY, Sampler, SamplerConfig, joint_bandwidth, register_sampler,
    residual_methods, resolve, sample_embeddings, sampler_names,
)
from hyperrep.sampling.samplers import joint, per_dim, uniform, layer, pca  # noqa: E402,F401  (registers them)
from hyperrep.sampling.samplers.pca import pca_components  # noqa: E402

__all__ = ["BANDWIDTHS", "PCA_RESIDUALS", "RESIDUALS", "SAMPLER_REGISTRY", "Sampler", "SamplerConfig", "joint_bandwidth",
           "pca_components", "register_sampler", "residual_methods", "resolve", "sample_embeddings", "sampler_names"]
