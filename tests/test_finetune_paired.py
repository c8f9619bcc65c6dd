"""The paired fine-tuning comparison: sampled minus its own anchor, interval over anchors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperrep.sampling.finetune import paired_gain


def _curves(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"source": s, "model": m, "epoch": e, "test_acc": v}
                         for (s, m), vs in values.items() for e, v in enumerate(vs)])


def test_gain_is_the_mean_paired_difference_and_the_interval_resamples_anchors() -> None:
    curves = _curves({("sampled", "s0"): [0.5, 0.7], ("sampled", "s1"): [0.6, 0.8], ("sampled", "s2"): [0.4, 0.6],
                      ("own anchor", "a"): [0.55, 0.72], ("own anchor", "b"): [0.45, 0.61]})
    pairs = pd.DataFrame({"sampled": ["s0", "s1", "s2"], "anchor": ["a", "a", "b"]})
    out = paired_gain(curves, pairs)
    assert list(out["epoch"]) == [0, 1] and list(out["pairs"]) == [3, 3] and list(out["anchors"]) == [2, 2]
    assert np.isclose(out["gain"][0], np.mean([-0.05, 0.05, -0.05]))
    # two anchors: a resample holds anchor a's pairs (mean 0.0), b's (-0.05), or both (-1/60)
    assert out["lo"][0] >= -0.05 - 1e-9 and out["hi"][0] <= 1e-9 and out["lo"][0] < out["hi"][0]


def test_one_anchor_has_no_interval_and_a_missing_curve_is_skipped() -> None:
    curves = _curves({("sampled", "s0"): [0.5, 0.7], ("sampled", "s1"): [0.6], ("own anchor", "a"): [0.55, 0.72]})
    out = paired_gain(curves, pd.DataFrame({"sampled": ["s0", "s1"], "anchor": ["a", "a"]}))
    assert list(out["pairs"]) == [2, 1]  # s1 diverged after epoch 0
    assert np.isnan(out["lo"]).all() and np.isclose(out["gain"][1], -0.02)
