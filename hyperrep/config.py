"""Hyper-representation run config, as written in TOML (``configs/hyperrep/*.toml``).

Every table maps to a frozen dataclass and goes through :func:`eo_tasks.config.from_dict`,
so an unknown or mistyped key fails with its full path. :func:`eo_tasks.config.dump_toml` writes the
resolved config back into the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from eo_tasks import ConfigError, from_dict, load_toml, to_dict


@dataclass(frozen=True)
class DataSection:
    """Which (model, checkpoint) samples of the zoo train the hyper-representation."""

    status: tuple[str, ...] = ("done",)  # models with one of these statuses
    # checkpoints to use: a list of kept epochs, or a selection that holds for any zoo, resolved
    # against the zoo's kept epochs when the data is loaded (zoo.resolve_epochs): "all" (every
    # kept checkpoint, as ()), "last:K" (the last K kept), "every:K" (every K-th kept, the last included)
    epochs: tuple[int, ...] | str = ()
    min_epoch: int = 0  # skip checkpoints before this epoch (e.g. 1 drops the inits)
    max_abs: float = 1e3  # drop checkpoints with a weight beyond this (non-finite always dropped)
    split_seed: int = 0  # seed of the split by model (zoo.ZooDataset's, eo_tasks.data.DEFAULT_FRACTIONS)
    # architectures (the zoo's arch indices) to train on: -1 = every architecture of the
    # selected models (one for a one-architecture zoo), an index = that one, a list = those
    arch: int | tuple[int, ...] = -1

    def __post_init__(self) -> None:
        if not self.status:
            raise ConfigError("status must name at least one model status")
        if isinstance(self.arch, tuple) and (not self.arch or min(self.arch) < 0):
            raise ConfigError(f"arch must be -1, an architecture index or a non-empty list of them, got {self.arch}")
        if self.max_abs <= 0:
            raise ConfigError(f"max_abs must be > 0, got {self.max_abs}")
        if isinstance(self.epochs, str):
            from zoo import parse_epoch_selection

            parse_epoch_selection(self.epochs)


@dataclass(frozen=True)
class TokenSection:
    token_size: int = 0  # 0: longest neuron (incoming weights + bias), capped at max_token_size
    max_token_size: int = 256  # longer neurons are split into chunks of token_size

    def __post_init__(self) -> None:
        if self.token_size < 0 or self.max_token_size < 1:
            raise ConfigError("token_size must be >= 0 and max_token_size >= 1")


@dataclass(frozen=True)
class ModelSection:
    # "tokens": one lat_dim latent per weight token, embedding = num_tokens * lat_dim values (SANE);
    # "summary": latent_tokens learned summary tokens, embedding = latent_tokens * lat_dim values
    # (a fixed size, but too narrow a bottleneck to reconstruct working models)
    embedding: Literal["tokens", "summary"] = "tokens"
    d_model: int = 64  # transformer width
    depth: int = 2  # encoder layers (the decoder has as many)
    heads: int = 4
    ff_mult: int = 2  # feed-forward width = ff_mult * d_model
    dropout: float = 0.0
    lat_dim: int = 16  # latent size per token (or per summary token)
    latent_tokens: int = 8  # summary tokens (embedding = "summary" only)
    pool: Literal["mean", "flat"] = "mean"  # projection head input: mean latents (all, per layer) or the flat embedding
    proj_hidden: int = 128  # projection head hidden width
    proj_dim: int = 32  # contrastive projection head output

    def __post_init__(self) -> None:
        if min(self.d_model, self.depth, self.heads, self.ff_mult, self.lat_dim,
               self.latent_tokens, self.proj_hidden, self.proj_dim) < 1:
            raise ConfigError("model sizes must all be >= 1")
        if self.d_model % self.heads:
            raise ConfigError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class AugmentSection:
    permute: bool = True  # random neuron permutations from the layout's symmetry groups
    noise_add: float = 0.05  # std of additive noise (on standardised weights)
    noise_mul: float = 0.05  # std of multiplicative noise: w * (1 + s * eps)
    erase_block: float = 0.5  # probability that a view gets one erased token x element block
    erase_size: tuple[float, float] = (0.05, 0.25)  # block side as a fraction of tokens/elements
    erase_scatter: float = 0.0  # probability of zeroing each single element
    window: int = 0  # > 0: each view sees a random window of this many consecutive tokens

    def __post_init__(self) -> None:
        if self.noise_add < 0 or self.noise_mul < 0:
            raise ConfigError("noise_add and noise_mul must be >= 0")
        if not (0 <= self.erase_block <= 1 and 0 <= self.erase_scatter < 1):
            raise ConfigError("erase_block must be in [0, 1] and erase_scatter in [0, 1)")
        lo, hi = self.erase_size
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"erase_size must satisfy 0 < lo <= hi <= 1, got {self.erase_size}")
        if self.window < 0:
            raise ConfigError("window must be >= 0")


@dataclass(frozen=True)
class LossSection:
    gamma: float = 0.1  # loss = gamma * contrastive + (1 - gamma) * reconstruction
    temperature: float = 0.1  # NT-Xent temperature
    behaviour: float = 0.0  # weight of the behavioural loss (0: off)
    # probe inputs of the behavioural loss: "data" = images of the zoo's own task (training
    # split, rebuilt from the config stored in the zoo), "random" = standard-normal noise
    probe: Literal["data", "random"] = "data"
    probe_size: int = 32  # probe inputs per step, drawn from a fixed pool
    probe_pool: int = 512  # the pool's size
    probe_root: str = ""  # data folder of the zoo's task when the path stored in the zoo does not resolve here
    probe_file: str = ""  # the pool saved by `hyperzoo hyperrep probes` (a machine without the data)
    behaviour_every: int = 1  # compute it every this many steps (it runs the CNNs)

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.temperature <= 0:
            raise ConfigError("temperature must be > 0")
        if self.behaviour < 0 or self.probe_size < 1 or self.behaviour_every < 1:
            raise ConfigError("behaviour must be >= 0, probe_size and behaviour_every >= 1")
        if self.probe_pool < self.probe_size:
            raise ConfigError(f"probe_pool ({self.probe_pool}) must be >= probe_size ({self.probe_size})")


@dataclass(frozen=True)
class FunctionSection:
    """Function tokens (hyperrep.function): the encoder also reads every model's output logits
    on a fixed probe set, one token per probe, so one embedding holds structure and function."""

    probes: int = 0  # probe inputs = function tokens per model; 0: off (the weight-only network)
    # "data": inputs of the training split of the zoo's own task (no labels); "random":
    # standard-normal noise of the same shapes (zoos without task data)
    source: Literal["data", "random"] = "data"
    seed: int = 0  # which probes are drawn
    root: str = ""  # data folder of the zoo's task when the path stored in the zoo does not resolve here
    recon: float = 1.0  # weight of the decoder's response reconstruction, relative to the weights'

    def __post_init__(self) -> None:
        if self.probes < 0 or self.recon < 0:
            raise ConfigError("probes and recon must be >= 0")


@dataclass(frozen=True)
class TrainSection:
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup: float = 0.05  # fraction of all steps with a linear warm-up (cosine/constant)
    clip_grad: float = 1.0  # max gradient norm; 0: no clipping
    amp: bool = True  # bf16 autocast, on CUDA only
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1"
    threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    seed: int = 0
    checkpoint_every: int = 5  # epochs between RUN/checkpoint.pt writes (the last epoch always)
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("epochs must be >= 1 and batch_size >= 2 (contrastive pairs)")
        if self.lr <= 0 or self.weight_decay < 0 or self.clip_grad < 0:
            raise ConfigError("lr must be > 0, weight_decay and clip_grad >= 0")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.checkpoint_every < 1 or self.eval_batch_size < 1:
            raise ConfigError("checkpoint_every and eval_batch_size must be >= 1")


@dataclass(frozen=True)
class HyperRepConfig:
    data: DataSection = field(default_factory=DataSection)
    tokens: TokenSection = field(default_factory=TokenSection)
    model: ModelSection = field(default_factory=ModelSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    loss: LossSection = field(default_factory=LossSection)
    train: TrainSection = field(default_factory=TrainSection)
    function: FunctionSection = field(default_factory=FunctionSection)

    @staticmethod
    def from_dict(data: dict[str, Any], where: str = "config") -> HyperRepConfig:
        return from_dict(HyperRepConfig, data, where)

    @staticmethod
    def load(path: str | Path) -> HyperRepConfig:
        return from_dict(HyperRepConfig, load_toml(path), where=str(path))

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def with_token_size(self, token_size: int) -> HyperRepConfig:
        return replace(self, tokens=replace(self.tokens, token_size=token_size))

    def with_device(self, device: str) -> HyperRepConfig:
        """The same run on another device (not part of the run's identity: a run resumes anywhere)."""
        return replace(self, train=replace(self.train, device=device))
