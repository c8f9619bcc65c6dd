"""Declarative specs for the fusion-CNN family.

``ArchConfig`` is what a user writes in TOML (the architecture's hyperparameters);
``ModelSpec`` adds what the task decides (input modalities, their channels, classes),
and is what :func:`eo_tasks.models.build_model` takes and what a zoo file stores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

Fusion = Literal["single", "early", "early_blowup", "late"]
Activation = Literal["relu", "tanh", "gelu", "sigmoid", "leaky_relu"]
Init = Literal["uniform", "normal", "kaiming_uniform", "kaiming_normal", "xavier"]

FUSIONS = ("single", "early", "early_blowup", "late")
ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid", "leaky_relu")
INITS = ("uniform", "normal", "kaiming_uniform", "kaiming_normal", "xavier")


@dataclass(frozen=True)
class InputSpec:
    """One input modality: an image ``[channels, H, W]`` or a vector ``[channels]``."""

    name: str
    channels: int
    kind: Literal["image", "vector"] = "image"


@dataclass(frozen=True)
class ArchConfig:
    fusion: Fusion = "single"
    channels: tuple[int, ...] = (8, 8, 8)  # conv output channels, one per conv layer
    kernel_sizes: tuple[int, ...] = (3, 3, 3)
    hidden: int = 32  # width of the head's hidden linear layer (0: none)
    activation: Activation = "relu"
    dropout: float = 0.0
    init: Init = "kaiming_uniform"
    shared_backbone: bool = False  # late fusion: one backbone for all image modalities

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if len(self.channels) != len(self.kernel_sizes) or not self.channels:
            raise ValueError("channels and kernel_sizes must be non-empty and of equal length")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class ModelSpec:
    arch: ArchConfig  # or eo_tasks.models.convspec.ConvNetArch (its JSON has "family")
    inputs: tuple[InputSpec, ...]
    num_classes: int
    image_size: int
    multilabel: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    def for_eval(self) -> ModelSpec:
        """This spec with its training-only settings fixed (dropout 0, the default init): two
        models whose ``for_eval()`` specs are equal compute the same eval-mode forward pass."""
        return replace(self, arch=replace(self.arch, dropout=0.0, init="kaiming_uniform"))

    @staticmethod
    def from_json(text: str) -> ModelSpec:
        raw = json.loads(text)
        arch = raw["arch"]
        if arch.get("family") is not None:  # a plain CNN of the imported public zoos (convspec)
            from eo_tasks.models.convspec import ConvNetArch

            arch = ConvNetArch.from_dict(arch)
        else:
            arch = ArchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()})
        return ModelSpec(
            arch=arch,
            inputs=tuple(InputSpec(**i) for i in raw["inputs"]),
            num_classes=raw["num_classes"],
            image_size=raw["image_size"],
            multilabel=raw.get("multilabel", False),
        )
