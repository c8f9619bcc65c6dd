"""Is the readout or the embedding the limit? Nonlinear readouts of a run's embedding beside
ridge, on validation models only.

    python scripts/readout_probes.py --zoo ZOO.h5 --run RUN/ [--properties test_acc epoch gap]
        [--features "pool(emb)" "s(W)"] [--readouts ridge gbt mlp pls-gbt krr] [--seed 0] [--out T.md]

The protocol of ``hyperzoo hyperrep ablate``: the zoo's split as the run made it
(``hyperrep.downstream.load_data``); every readout is fitted on the training models'
checkpoints, its hyperparameters chosen on one half of the validation models (split by model,
``--seed``) and scored on the other half, then the halves swapped. Test models are read from
the zoo but never enter a fit, a choice or a score. Readouts: ``ridge`` (strength chosen),
``gbt`` (histogram gradient boosting, rounds and learning rate chosen), ``mlp`` (two hidden
layers of 256, weight decay, dropout and epoch chosen), ``pls-gbt`` (boosting on 8, 16 or 32
partial-least-squares components fitted on the training rows), ``krr`` (RBF kernel ridge, width
and strength chosen; O(n^3) in the training checkpoints, minutes for a 700-model zoo).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import eigh
from scipy.spatial.distance import cdist
from sklearn.cross_decomposition import PLSRegression
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import r2_score
from threadpoolctl import threadpool_limits

Readout = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, str]]


def halves(model: np.ndarray, split: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row masks of two halves of the validation models, split by model."""
    models = np.unique(model[split == "val"])
    if len(models) < 4:
        raise ValueError(f"{len(models)} validation models; need at least 4 to tune on half and score on half")
    np.random.default_rng(seed).shuffle(models)
    k = len(models) // 2
    return np.isin(model, models[:k]), np.isin(model, models[k:])


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a - b) ** 2))


def ridge(X, y, train, tune, score):
    """``hyperzoo predict``'s own ridge: strength chosen on the tune rows."""
    from hyperrep.downstream import PropertyPredictor

    fit = PropertyPredictor("number", "ridge").fit(X[train], y[train], X[tune], y[tune])
    return fit.predict(X[score]), f"alpha {fit.alpha_:.3g}"


def _boost(X, y, train, tune):
    """Boosting fitted on the train rows, learning rate and rounds chosen on the tune rows:
    (tune error, model, rounds, learning rate)."""
    best = None
    for lr in (0.05, 0.1):
        m = HistGradientBoostingRegressor(max_iter=300, learning_rate=lr, early_stopping=False, random_state=0)
        m.fit(X[train], y[train])
        errs = [_mse(p, y[tune]) for p in m.staged_predict(X[tune])]
        k = int(np.argmin(errs))
        if best is None or errs[k] < best[0]:
            best = (errs[k], m, k + 1, lr)
    return best


def _staged(model, X: np.ndarray, rounds: int) -> np.ndarray:
    """The prediction of the model's first ``rounds`` trees."""
    return next(p for i, p in enumerate(model.staged_predict(X), start=1) if i == rounds)


def gbt(X, y, train, tune, score):
    _, m, rounds, lr = _boost(X, y, train, tune)
    return _staged(m, X[score], rounds), f"lr {lr}, {rounds} rounds"


def pls_gbt(X, y, train, tune, score):
    best = None
    for k in (8, 16, 32):
        k = min(k, X.shape[1], int(train.sum()) - 1)
        Z = PLSRegression(n_components=k, scale=False).fit(X[train], y[train]).transform(X)
        err, m, rounds, lr = _boost(Z, y, train, tune)  # the tune half chooses k too
        if best is None or err < best[0]:
            best = (err, Z, m, rounds, lr, k)
    _, Z, m, rounds, lr, k = best
    return _staged(m, Z[score], rounds), f"{k} components, lr {lr}, {rounds} rounds"


def mlp(X, y, train, tune, score, epochs: int = 60, width: int = 256, seed: int = 0):
    mu, sd = y[train].mean(), y[train].std() + 1e-12
    Xt, yt = torch.tensor(X[train], dtype=torch.float32), torch.tensor((y[train] - mu) / sd, dtype=torch.float32)
    Xv, Xs = torch.tensor(X[tune], dtype=torch.float32), torch.tensor(X[score], dtype=torch.float32)
    best = None
    for wd in (1e-4, 1e-2):
        for drop in (0.0, 0.2):
            torch.manual_seed(seed)
            gen = torch.Generator().manual_seed(seed)
            net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], width), torch.nn.GELU(), torch.nn.Dropout(drop),
                                      torch.nn.Linear(width, width), torch.nn.GELU(), torch.nn.Dropout(drop),
                                      torch.nn.Linear(width, 1))
            opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=wd)
            for epoch in range(epochs):
                net.train()
                for idx in torch.randperm(len(Xt), generator=gen).split(128):
                    opt.zero_grad()
                    torch.nn.functional.mse_loss(net(Xt[idx]).squeeze(1), yt[idx]).backward()
                    opt.step()
                net.eval()
                with torch.no_grad():
                    err = _mse(net(Xv).squeeze(1).numpy() * sd + mu, y[tune])
                    if best is None or err < best[0]:
                        best = (err, net(Xs).squeeze(1).numpy() * sd + mu, f"wd {wd}, dropout {drop}, {epoch + 1} epochs")
    return best[1], best[2]


def krr(X, y, train, tune, score):
    mu = y[train].mean()
    d2 = cdist(X[train], X[train], "sqeuclidean")
    med = float(np.median(d2)) or 1.0
    best = None
    for g in (0.25, 0.5, 1.0, 2.0, 4.0):
        lam, Q = eigh(np.exp(-d2 / (g * med)))
        Qy = Q.T @ (y[train] - mu)
        K_tune = np.exp(-cdist(X[tune], X[train], "sqeuclidean") / (g * med))
        for a in np.logspace(-4, 1, 11):
            c = Q @ (Qy / (lam + a))
            err = _mse(K_tune @ c + mu, y[tune])
            if best is None or err < best[0]:
                best = (err, g, a, c)
    _, g, a, c = best
    return np.exp(-cdist(X[score], X[train], "sqeuclidean") / (g * med)) @ c + mu, f"width {g} x median, alpha {a:.3g}"


READOUTS: dict[str, Readout] = {"ridge": ridge, "gbt": gbt, "mlp": mlp, "pls-gbt": pls_gbt, "krr": krr}


def standardise(X: np.ndarray, train: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return (X - X[train].mean(0)) / (X[train].std(0) + 1e-8)


def probe(X: np.ndarray, y: np.ndarray, model: np.ndarray, split: np.ndarray, readout: str, seed: int = 0) -> dict:
    """R² of ``readout`` on each validation half (tuned on the other), with its choices and seconds."""
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}, expected one of {sorted(READOUTS)}")
    train = split == "train"
    X = standardise(X, train)
    y = np.asarray(y, dtype=np.float64)
    a, b = halves(model, split, seed)
    t = time.perf_counter()
    out = {"readout": readout}
    for name, tune, score in (("a", b, a), ("b", a, b)):  # "a": scored on half a, tuned on half b
        pred, info = READOUTS[readout](X, y, train, tune, score)
        out[f"r2_{name}"], out[f"chose_{name}"] = float(r2_score(y[score], pred)), info
    out["seconds"] = time.perf_counter() - t
    return out


def _features(zoo: Path, run: Path) -> tuple[dict[str, np.ndarray], object]:
    from hyperrep.downstream import WeightStats, load_data

    try:
        data, _ = load_data(zoo, run)
    except (FileNotFoundError, ValueError) as err:  # ConfigError is a ValueError
        raise SystemExit(f"readout_probes: {err}") from None
    if data.layout is None:
        raise SystemExit(f"{zoo}: a zoo of several architectures; this script reads one")
    return {"pool(emb)": data.pooled, "s(W)": WeightStats(data.layout).transform(data.weights),
            "emb": data.embeddings.reshape(len(data.rows), -1)}, data.rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zoo", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True, help="a hyper-representation run folder")
    ap.add_argument("--properties", nargs="+", default=["test_acc", "epoch", "gap"])
    ap.add_argument("--features", nargs="+", default=["pool(emb)", "s(W)"], choices=["pool(emb)", "emb", "s(W)"])
    ap.add_argument("--readouts", nargs="+", default=["ridge", "gbt", "mlp", "pls-gbt"], choices=sorted(READOUTS))
    ap.add_argument("--seed", type=int, default=0, help="halving of the validation models")
    ap.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    feats, rows = _features(args.zoo, args.run)
    missing = [p for p in args.properties if p not in rows]
    if missing:
        raise SystemExit(f"{args.zoo}: no property column {missing}; it has {sorted(rows.columns)}")
    lines = ["| property | features | readout | R² half a | R² half b | mean | chosen (a; b) | s |", "|---|---|---|---:|---:|---:|---|---:|"]
    print("\n".join(lines), flush=True)
    model, split = rows["model"].to_numpy(), rows["split"].to_numpy(str)
    with threadpool_limits(1):
        for prop in args.properties:
            for fs in args.features:
                for r in args.readouts:
                    res = probe(feats[fs], rows[prop].to_numpy(float), model, split, r, args.seed)
                    lines.append(f"| {prop} | {fs} | {r} | {res['r2_a']:.3f} | {res['r2_b']:.3f} | "
                                 f"{(res['r2_a'] + res['r2_b']) / 2:.3f} | {res['chose_a']}; {res['chose_b']} | {res['seconds']:.0f} |")
                    print(lines[-1], flush=True)
    if args.out:
        args.out.write_text(f"Readout probes: `{args.zoo}`, run `{args.run}`, validation halves seed {args.seed}\n\n"
                            + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
