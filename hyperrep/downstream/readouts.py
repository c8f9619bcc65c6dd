"""Nonlinear readouts of numbers, registered but not run by default (name them:
``--predictors mlp krr``): a two-layer MLP and RBF kernel ridge, the probes of
scripts/readout_probes.py as ``fit``/``predict`` predictors. Both standardise the features
and the target on the training rows and choose their hyperparameters on the validation
rows (without any: the first setting, every epoch)."""

from __future__ import annotations

import copy

import numpy as np
from scipy.linalg import eigh
from scipy.spatial.distance import cdist


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


class _Scaled:
    """Features standardised with the training rows' statistics."""

    def _fit_scale(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        self.mean_, self.sd_ = x.mean(0), x.std(0) + 1e-8
        return (x - self.mean_) / self.sd_

    def _scale(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.mean_) / self.sd_


class MLPReadout(_Scaled):
    """Two hidden GELU layers of ``width``, AdamW at 1e-3; weight decay (1e-4, 1e-2), dropout
    (0, 0.2) and the epoch (of ``epochs``) chosen on the validation rows' squared error."""

    def __init__(self, epochs: int = 60, width: int = 256, seed: int = 0) -> None:
        self.epochs, self.width, self.seed = epochs, width, seed

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> MLPReadout:
        import torch

        xt = torch.tensor(self._fit_scale(x_train), dtype=torch.float32)
        y = np.asarray(y_train, np.float64)
        self.mu_, self.sd_y_ = float(y.mean()), float(y.std()) + 1e-12
        yt = torch.tensor((y - self.mu_) / self.sd_y_, dtype=torch.float32)
        has_val = x_val is not None and len(x_val) > 0
        xv = torch.tensor(self._scale(x_val), dtype=torch.float32) if has_val else None
        self.selected_on_val_, best = has_val, None
        for wd in (1e-4, 1e-2) if has_val else (1e-4,):
            for drop in (0.0, 0.2) if has_val else (0.0,):
                torch.manual_seed(self.seed)
                gen = torch.Generator().manual_seed(self.seed)
                nn = torch.nn
                net = nn.Sequential(nn.Linear(xt.shape[1], self.width), nn.GELU(), nn.Dropout(drop),
                                    nn.Linear(self.width, self.width), nn.GELU(), nn.Dropout(drop),
                                    nn.Linear(self.width, 1))
                opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=wd)
                for epoch in range(self.epochs):
                    net.train()
                    for idx in torch.randperm(len(xt), generator=gen).split(128):
                        opt.zero_grad()
                        torch.nn.functional.mse_loss(net(xt[idx]).squeeze(1), yt[idx]).backward()
                        opt.step()
                    if not has_val:
                        continue
                    err = _mse(self._out(net, xv), y_val)
                    if best is None or err < best[0]:
                        best = (err, copy.deepcopy(net), f"wd {wd}, dropout {drop}, {epoch + 1} epochs")
        self.net_, self.chosen = (best[1], best[2]) if best else (net, f"{self.epochs} epochs (no validation rows)")
        return self

    def _out(self, net, x) -> np.ndarray:
        import torch

        net.eval()
        with torch.no_grad():
            return net(x).squeeze(1).numpy().astype(np.float64) * self.sd_y_ + self.mu_

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        return self._out(self.net_, torch.tensor(self._scale(x), dtype=torch.float32))


class KernelRidgeReadout(_Scaled):
    """RBF kernel ridge: width (times the training rows' median squared distance) and
    strength chosen on the validation rows' squared error. O(n^3) in the training rows."""

    widths = (0.25, 0.5, 1.0, 2.0, 4.0)
    alphas = tuple(float(a) for a in np.logspace(-4, 1, 11))

    def fit(self, x_train, y_train, x_val=None, y_val=None) -> KernelRidgeReadout:
        self.x_ = self._fit_scale(x_train)
        y = np.asarray(y_train, np.float64)
        self.mu_ = float(y.mean())
        d2 = cdist(self.x_, self.x_, "sqeuclidean")
        self.med_ = float(np.median(d2)) or 1.0
        has_val = x_val is not None and len(x_val) > 0
        self.selected_on_val_, best = has_val, None
        xv = self._scale(x_val) if has_val else None
        for g in self.widths if has_val else (1.0,):
            lam, q = eigh(np.exp(-d2 / (g * self.med_)))
            qy = q.T @ (y - self.mu_)
            k_val = np.exp(-cdist(xv, self.x_, "sqeuclidean") / (g * self.med_)) if has_val else None
            for a in self.alphas if has_val else (1.0,):
                c = q @ (qy / (lam + a))
                err = _mse(k_val @ c + self.mu_, y_val) if has_val else 0.0
                if best is None or err < best[0]:
                    best = (err, g, a, c)
        _, self.width_, self.alpha_, self.coef_ = best
        self.chosen = f"width {self.width_} x median, alpha {self.alpha_:.3g}"
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        k = np.exp(-cdist(self._scale(x), self.x_, "sqeuclidean") / (self.width_ * self.med_))
        return k @ self.coef_ + self.mu_
