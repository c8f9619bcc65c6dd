"""Hyper-representation throughput: training and embedding speed on one zoo, in one run.

    python benchmarks/hyperrep_throughput.py --zoo ZOO.h5 [--config configs/hyperrep/tiny.toml] [--epochs 3]

Trains for a few epochs (two augmented views per sample and step) and embeds every
checkpoint; prints checkpoints per second for both and their ratio (embedding / training).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(zoo_path: Path, config: Path, epochs: int) -> dict[str, float]:
    from hyperrep import HyperRepConfig, from_zoo, train_hyperrep

    cfg = HyperRepConfig.load(config)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs, checkpoint_every=epochs))
    data = from_zoo(zoo_path, cfg.data)
    n_train = int((data.split == "train").sum())
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = train_hyperrep(data, cfg, Path(tmp) / "run")
        t_train = time.perf_counter() - start
        start = time.perf_counter()
        outcome.rep.embed(data.weights)
        t_embed = time.perf_counter() - start
    return {"train": n_train * epochs / t_train, "embed": len(data.weights) / t_embed,
            "n_train": n_train, "n_all": len(data.weights), "epochs": epochs,
            "device": str(outcome.rep.device)}


def report(r: dict[str, float]) -> str:
    return (f"hyperrep on {r['device']}: training {r['train']:.0f} checkpoints/s ({r['n_train']} train checkpoints x "
            f"{r['epochs']} epochs, incl. per-epoch validation), embedding {r['embed']:.0f} checkpoints/s "
            f"({r['n_all']}) -> embed/train = {r['embed'] / r['train']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "hyperrep" / "tiny.toml")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(report(measure(args.zoo, args.config, args.epochs)))


if __name__ == "__main__":
    main()
