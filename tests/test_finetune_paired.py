"""The paired fine-tuning comparison: sampled minus its own anchor, interval over anchors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperrep.sampling.finetune import paired_gain


def _curves(values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"source": s, "model": m, "epoch": e, "test_acc": v}
                         for (s, m), vs in values.items() for e, v in enumerate(vs)])


def test_gain_is_the_mean_paired_difference_and_the_interval_resamples_anchors() -> None:
    # anchor a0 has two samples around it, a1..a5 one each: 7 pairs over 6 anchors
    anchors = ["a0", "a0", "a1", "a2", "a3", "a4", "a5"]
    gains = [0.04, 0.02, -0.01, 0.00, 0.01, -0.02, 0.03]
    values = {("own anchor", a): [0.5, 0.6] for a in set(anchors)}
    values.update({("sampled", f"s{i}"): [0.5 + g, 0.6 - g] for i, g in enumerate(gains)})
    out = paired_gain(_curves(values), pd.DataFrame({"sampled": [f"s{i}" for i in range(7)], "anchor": anchors}))
    assert list(out["epoch"]) == [0, 1] and list(out["pairs"]) == [7, 7] and list(out["anchors"]) == [6, 6]
    assert np.allclose(out["gain"], [np.mean(gains), -np.mean(gains)])
    # every resample's mean lies between the most extreme anchors' own means (a0: 0.03)
    assert -0.02 - 1e-9 <= out["lo"][0] < out["gain"][0] < out["hi"][0] <= 0.03 + 1e-9
    assert np.allclose(out[["lo", "hi"]].to_numpy()[1], -out[["hi", "lo"]].to_numpy()[0])


def test_two_anchors_give_no_interval() -> None:
    curves = _curves({("sampled", "s0"): [0.5, 0.7], ("sampled", "s1"): [0.6, 0.8], ("sampled", "s2"): [0.4, 0.6],
                      ("own anchor", "a"): [0.55, 0.72], ("own anchor", "b"): [0.45, 0.61]})
    out = paired_gain(curves, pd.DataFrame({"sampled": ["s0", "s1", "s2"], "anchor": ["a", "a", "b"]}))
    assert np.isclose(out["gain"][0], np.mean([-0.05, 0.05, -0.05])) and out["lo"].isna().all()


def test_one_anchor_has_no_interval_and_a_missing_curve_is_skipped() -> None:
    curves = _curves({("sampled", "s0"): [0.5, 0.7], ("sampled", "s1"): [0.6], ("own anchor", "a"): [0.55, 0.72]})
    out = paired_gain(curves, pd.DataFrame({"sampled": ["s0", "s1"], "anchor": ["a", "a"]}))
    assert list(out["pairs"]) == [2, 1]  # s1 diverged after epoch 0
    assert np.isnan(out["lo"]).all() and np.isclose(out["gain"][1], -0.02)
