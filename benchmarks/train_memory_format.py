"""The trainer with NCHW tensors against channels-last ones (its default), in one run.

    python benchmarks/train_memory_format.py [--models 3] [--train 2000] [--eval 3200]

Trains ``--models`` members of the large EuroSAT zoo's architecture (configs/zoos/eurosat_rgb_large.toml:
3 conv layers of 8 channels, 32x32 RGB input; each model a different activation and seed) for
2 epochs on ``--train`` random images and evaluates ``--eval`` images at 3 checkpoints, once per
memory format, on one thread. The inputs are random (SYNTHETIC): only the timings matter, and
the two formats train the same models on the same batches. Prints seconds per model in each
format, their ratio, and the largest difference between the two formats' final weights.

Then the hyper-representation's behavioural loss (``hyperrep.losses.run_models``, forward and
backward of 32 such models on 64 probe images): ``vmap`` over the models (what it runs on a
GPU) against its CPU path, one model after another on a channels-last probe.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from eo_tasks.data import ModalityInfo, TaskData, TaskInfo, TensorSet
from eo_tasks.models import ArchConfig, spec_for
from eo_tasks.train import TrainConfig
from eo_tasks.train import loop  # the trainer's module itself: this benchmark switches its MEMORY_FORMAT
from hyperrep import run_models

ACTIVATIONS = ("relu", "gelu", "tanh", "leaky_relu")


def _task(n_train: int, n_eval: int) -> TaskData:
    g = torch.Generator().manual_seed(0)
    info = TaskInfo("random-32", tuple(f"c{i}" for i in range(10)), False, (ModalityInfo("rgb", "image", 3),), 32)
    split = lambda n: TensorSet({"rgb": torch.randn(n, 3, 32, 32, generator=g)},  # noqa: E731
                                torch.randint(0, 10, (n,), generator=g))
    return TaskData(info, {"train": split(n_train), "val": split(n_eval // 2), "test": split(n_eval - n_eval // 2)})


def _run(fmt: torch.memory_format, data: TaskData, models: int) -> tuple[float, list[np.ndarray]]:
    loop.MEMORY_FORMAT = fmt  # the trainer reads it at every call
    weights, start = [], time.perf_counter()
    for i in range(models):
        arch = ArchConfig(fusion="single", channels=(8, 8, 8), kernel_sizes=(3, 3, 3), hidden=32,
                          activation=ACTIVATIONS[i % len(ACTIVATIONS)])
        spec = spec_for(arch, data.info.modalities, 10, 32)
        cfg = TrainConfig(epochs=2, batch_size=64, seed=i, threads=1, train_eval_size=500, eval_batch_size=256)
        result = loop.train_model(spec, data, cfg)
        weights.append(result.model.layout.flatten(result.model.state_dict()))
    return (time.perf_counter() - start) / models, weights


def _behaviour(models: int = 32, probes: int = 64, reps: int = 3) -> tuple[float, float, float]:
    arch = ArchConfig(fusion="single", channels=(8, 8, 8), kernel_sizes=(3, 3, 3), hidden=32, activation="gelu")
    data = _task(probes, 2)
    net = loop.build_model(spec_for(arch, data.info.modalities, 10, 32), seed=0).eval()
    flat = torch.randn(models, net.layout.num_params, generator=torch.Generator().manual_seed(1)) * 0.1
    probe = {"rgb": data.splits["train"].inputs["rgb"]}

    def timed(fn) -> tuple[float, torch.Tensor]:
        f = flat.clone().requires_grad_()
        fn(f).square().mean().backward()  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            f.grad = None
            out = fn(f)
            out.square().mean().backward()
        return (time.perf_counter() - start) / reps, out.detach()

    t_vmap, out_vmap = timed(lambda f: run_models(net, net.layout, f, probe, vectorise=True))
    t_loop, out_loop = timed(lambda f: run_models(net, net.layout, f, probe, vectorise=False))
    return t_vmap, t_loop, float((out_vmap - out_loop).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--eval", type=int, default=3200)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the zoo's workers and the hyper-representation's configs run
    data = _task(args.train, args.eval)
    default = loop.MEMORY_FORMAT
    _run(torch.contiguous_format, data, 1)  # warm-up: imports, allocator
    nchw, w_nchw = _run(torch.contiguous_format, data, args.models)
    last, w_last = _run(torch.channels_last, data, args.models)
    loop.MEMORY_FORMAT = default
    diff = max(float(np.abs(a - b).max()) for a, b in zip(w_nchw, w_last))
    print(f"SYNTHETIC inputs, {args.models} models x (2 epochs on {args.train} images + 3 evaluations of {args.eval})")
    print(f"NCHW:          {nchw:.2f} s/model")
    print(f"channels-last: {last:.2f} s/model")
    print(f"ratio NCHW / channels-last: {nchw / last:.2f}x")
    print(f"largest weight difference between the formats after training: {diff:.2e}")
    t_vmap, t_loop, out_diff = _behaviour()
    print("behavioural loss, 32 models x 64 probe images, forward + backward:")
    print(f"vmap:                       {t_vmap:.3f} s")
    print(f"CPU loop, channels-last:    {t_loop:.3f} s")
    print(f"ratio vmap / loop: {t_vmap / t_loop:.2f}x; largest output difference {out_diff:.2e}")


if __name__ == "__main__":
    main()
