"""Zoo storage: one HDF5 zoo against one torch file per checkpoint (the layout the model-zoo
literature ships), measured on the same checkpoints in one run.

    python benchmarks/zoo_storage.py --zoo ZOO.h5 [--reads 500]

Prints disk size (torch files / HDF5), random-access read throughput (checkpoints per second
for (model, epoch) pairs drawn at random) and full-scan throughput, as ratios HDF5 / files.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(zoo_path: Path, reads: int, seed: int = 0) -> dict[str, float]:
    from zoo import Zoo

    with Zoo.open(zoo_path) as zoo:
        models = zoo.table.index[zoo.table["status"] == "done"].to_numpy()
        epochs = list(zoo.epochs)
        layout = zoo.layout
        pairs = [(int(m), int(e)) for m in models for e in epochs]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for m, e in pairs:  # the per-checkpoint layout: <model>/checkpoint_<epoch>.pt state dicts
                (folder / f"{m:05d}").mkdir(exist_ok=True)
                state = {k: v.clone() for k, v in layout.unflatten(zoo.weights(m, e)).items()}
                torch.save(state, folder / f"{m:05d}" / f"checkpoint_{e:03d}.pt")
            size_files, size_h5 = _du(folder), zoo_path.stat().st_size
            rng = np.random.default_rng(seed)
            sample = [pairs[i] for i in rng.integers(0, len(pairs), size=reads)]
            os.sync()
            start = time.perf_counter()
            for m, e in sample:
                zoo.weights(m, e)
            t_h5 = time.perf_counter() - start
            start = time.perf_counter()
            for m, e in sample:
                layout.flatten(torch.load(folder / f"{m:05d}" / f"checkpoint_{e:03d}.pt", weights_only=True))
            t_files = time.perf_counter() - start
            start = time.perf_counter()
            for m in models:
                zoo.file["weights"][int(m)]  # all checkpoints of a model: one read per model
            t_scan_h5 = time.perf_counter() - start
            start = time.perf_counter()
            for m, e in pairs:
                torch.load(folder / f"{m:05d}" / f"checkpoint_{e:03d}.pt", weights_only=True)
            t_scan_files = time.perf_counter() - start
    return {
        "checkpoints": len(pairs), "params": layout.num_params, "size_h5": size_h5, "size_files": size_files,
        "random_h5": reads / t_h5, "random_files": reads / t_files,
        "scan_h5": len(pairs) / t_scan_h5, "scan_files": len(pairs) / t_scan_files,
    }


def report(r: dict[str, float]) -> str:
    mb = lambda b: b / 2**20  # noqa: E731
    return "\n".join([
        f"{r['checkpoints']} checkpoints of {r['params']} parameters",
        f"disk: HDF5 {mb(r['size_h5']):.2f} MiB, one torch file per checkpoint {mb(r['size_files']):.2f} MiB "
        f"-> files/HDF5 = {r['size_files'] / r['size_h5']:.2f}",
        f"random reads: HDF5 {r['random_h5']:.0f}/s, files {r['random_files']:.0f}/s "
        f"-> HDF5/files = {r['random_h5'] / r['random_files']:.2f}",
        f"full scan: HDF5 {r['scan_h5']:.0f}/s, files {r['scan_files']:.0f}/s "
        f"-> HDF5/files = {r['scan_h5'] / r['scan_files']:.2f}",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", required=True, type=Path)
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args()
    print(report(measure(args.zoo, args.reads)))


if __name__ == "__main__":
    main()
