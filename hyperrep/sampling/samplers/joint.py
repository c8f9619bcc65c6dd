"""``kde``: a joint Gaussian KDE over the anchors, i.e. a random anchor plus isotropic
Gaussian noise of bandwidth ``h`` in every (standardised) dimension.

``neighbour`` is the same algorithm under its older name, kept as an alias: with the
bandwidth set to ``neighbour_scale`` (``--scale``) it draws exactly what ``kde`` draws with
``--bandwidth`` of that number, in the same random order (one implementation, two names).

A joint KDE over thousands of dimensions from a few dozen anchors is not estimable: the
Silverman/Scott bandwidth tends to 1 (the anchors' own spread) as the dimension grows, so
the rules add noise as large as the anchors' spread in every direction; a small fixed
bandwidth (the ``neighbour`` name, 0.2) perturbs one anchor instead.
"""

from __future__ import annotations

import numpy as np

from hyperrep.sampling.samplers.registry import Sampler, SamplerConfig, joint_bandwidth, register_sampler


def draw(z: np.ndarray, n: int, rng: np.random.Generator, config: SamplerConfig,
         groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    # sklearn's KernelDensity.sample is a random anchor plus isotropic Gaussian noise;
    # drawing it here keeps the Generator the only source of randomness
    h = joint_bandwidth(z, config.bandwidth)
    origin = rng.integers(0, len(z), size=n)
    return z[origin] + h * rng.standard_normal((n, z.shape[1])), origin


SAMPLER = register_sampler(Sampler(
    "kde", draw, options=("bandwidth",), around_anchor=True, aliases={"neighbour": "neighbour_scale"},
    help="joint KDE: a random anchor plus Gaussian noise of --bandwidth (a rule or a number) in every dimension; "
         "neighbour: the same with --bandwidth = --scale (its older name, kept)",
))
