"""A trained hyper-representation: load a run folder, embed, decode, reconstruct.

A run folder ``RUN/`` holds the network's state dict (``model.pt``), the resolved config
(``config.toml``), the weight-space layout of every architecture it spans (``layout.json``),
their standardisation statistics (``norm.json``), ``meta.json`` (format version, the
architectures, token dims, the models of each split, the model specs) and the training
state; docs/run-format.md specifies them.

A run over several architectures of a zoo takes the architecture (the zoo's ``arch``
index) in every call that reads or makes weights or per-token embeddings: ``embed(w,
arch=a)``, ``decode(e, arch=a)`` (an embedding decodes to a model of the architecture
asked for), ``pool(e, arch=a)``; a one-architecture run needs none.

A run with function tokens (``[function] probes = K``, hyperrep.function) reads each
model's responses to its stored probe set beside the weights: :meth:`HyperRep.embed`
computes them itself by running the given weights, which needs the model's spec (``spec=``,
one or one per row) when the architecture's models had several (e.g. activations).
Decoding is unchanged: the full embedding in, weights out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from eo_tasks import ConfigError
from eo_tasks.models import Layout, ModelSpec
from eo_tasks.train import resolve_device
from hyperrep.augment import Permuter
from hyperrep.config import HyperRepConfig
from hyperrep.function import FunctionReader, ProbeSet
from hyperrep.model import FunctionDims, HyperRepNet, TokenDims
from hyperrep.runfolder import PROBES, RUN_FILES, read_layouts, read_meta, read_norms, read_probes, read_specs
from hyperrep.tokens import Standardizer, Tokenizer, TokenSpace

__all__ = ["HyperRep", "RUN_FILES", "resolve_device"]


def _as_batch(weights: np.ndarray | torch.Tensor, num_params: int) -> tuple[torch.Tensor, bool]:
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32) if not torch.is_tensor(weights) else weights)
    single = w.ndim == 1
    w = w.reshape(1, -1) if single else w
    if w.ndim != 2 or w.shape[1] != num_params:
        raise ValueError(f"weights must be [N, {num_params}] or [{num_params}], got {tuple(w.shape)}")
    return w.float(), single


def default_arch(config: HyperRepConfig) -> int:
    """The architecture id of a one-architecture run whose files do not name it (run format 1)."""
    arch = config.data.arch
    return arch if isinstance(arch, int) and arch >= 0 else (arch[0] if isinstance(arch, tuple) else 0)


class HyperRep:
    """A hyper-representation model with its tokenizers and normalisations, one per architecture."""

    def __init__(self, config: HyperRepConfig, layouts: Layout | Mapping[int, Layout],
                 standardizers: Standardizer | Mapping[int, Standardizer],
                 net: HyperRepNet | None = None, device: str | torch.device = "cpu",
                 specs: tuple[ModelSpec, ...] | Mapping[int, tuple[ModelSpec, ...]] = (),
                 probes: ProbeSet | None = None) -> None:
        """``probes``: the probe set of a run with function tokens (``config.function.probes > 0``;
        hyperrep.function.fit_probe_set draws one), None without."""
        if isinstance(layouts, Layout):  # one architecture, as before
            a = default_arch(config)
            layouts, standardizers = {a: layouts}, {a: standardizers}
        layouts = dict(layouts)
        if not isinstance(specs, Mapping):
            if len(layouts) > 1 and specs:
                raise ValueError("specs of several architectures must be given per architecture")
            specs = {a: tuple(specs) for a in layouts}
        self.config = config
        self.space = TokenSpace(layouts, config.tokens.token_size, config.tokens.max_token_size)
        self.archs: tuple[int, ...] = self.space.archs
        self.layouts: dict[int, Layout] = self.space.layouts
        self.tokenizers: dict[int, Tokenizer] = self.space.tokenizers
        self.standardizers: dict[int, Standardizer] = {a: standardizers[a] for a in self.archs}
        self.arch_specs: dict[int, tuple[ModelSpec, ...]] = {a: tuple(specs.get(a, ())) for a in self.archs}
        self.specs = tuple(s for a in self.archs for s in self.arch_specs[a])  # the eval specs trained on
        self.device = torch.device(device)
        sp = self.space
        self.dims = TokenDims(sp.num_tokens, sp.token_size, sp.num_layers, sp.max_neurons, sp.num_archs)
        wanted = config.function.probes
        if (probes.count if probes is not None else 0) != wanted:
            raise ValueError(f"function.probes = {wanted} needs a probe set of {wanted} inputs "
                             f"(hyperrep.function.fit_probe_set), got {probes.count if probes else None}")
        self.probes = probes
        self.reader = FunctionReader.of(probes, self.device) if probes is not None else None
        fdims = FunctionDims(probes.count, probes.classes) if probes is not None else None
        self.net = (net if net is not None else HyperRepNet(self.dims, config.model, fdims)).to(self.device)
        self._permuters: dict[int, Permuter] = {}

    # ---- loading ------------------------------------------------------------------------
    @classmethod
    def load(cls, run: str | Path, device: str | torch.device = "cpu") -> HyperRep:
        """The run in folder ``run`` (docs/run-format.md, formats 1 to 3); a run written by a
        newer format than this code reads is refused (ConfigError naming its meta.json)."""
        run = Path(run)
        # the version first: a newer format may name its files differently
        meta = read_meta(run) if (run / "meta.json").is_file() else None
        missing = [f for f in RUN_FILES if not (run / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{run}: not a finished hyperrep run, missing {missing}")
        config = HyperRepConfig.load(run / "config.toml")
        if config.tokens.token_size == 0:
            raise ConfigError(f"{run / 'config.toml'}: tokens.token_size must be resolved (> 0) in a run")
        layouts = read_layouts(run, meta, default_arch(config))
        norms = read_norms(run, meta, layouts)
        device = resolve_device(str(device))
        probes = None
        if config.function.probes > 0:
            probes = ProbeSet.from_state(read_probes(run), config.function, str(run / PROBES))
        rep = cls(config, layouts, norms, device=device, specs=read_specs(meta, list(layouts)), probes=probes)
        recorded = meta.get("layers")
        if recorded is not None and [tuple(k) for k in recorded] != rep.space.layer_keys:
            raise ConfigError(f"{run / 'meta.json'}: its global layers do not match the run's layouts")
        state = torch.load(run / "model.pt", map_location=device, weights_only=True)
        rep.net.load_state_dict(state)
        rep.net.eval()
        return rep

    # ---- one architecture -----------------------------------------------------------------
    def arch(self, arch: int | None = None) -> int:
        """``arch`` checked against the run's, or the run's only one when None (ValueError when
        the run spans several and none is named)."""
        return self.space.arch(arch)

    @property
    def layout(self) -> Layout:
        """The layout of a one-architecture run (ValueError for several: use ``layouts[arch]``)."""
        return self.layouts[self.arch()]

    @property
    def tokenizer(self) -> Tokenizer:
        return self.tokenizers[self.arch()]

    @property
    def standardizer(self) -> Standardizer:
        return self.standardizers[self.arch()]

    @property
    def embedding_dims(self) -> dict[int, int]:
        """Embedding length of each architecture's models."""
        return {a: self.net.embedding_dim_for(self.tokenizers[a].num_tokens) for a in self.archs}

    @property
    def embedding_dim(self) -> int:
        """The embedding length when every architecture has the same (always for one)."""
        widths = set(self.embedding_dims.values())
        if len(widths) != 1:
            raise ValueError(f"embedding lengths differ by architecture {self.embedding_dims}; "
                             "use embedding_dims[arch]")
        return widths.pop()

    @property
    def pooled_dim(self) -> int:
        """Length of :meth:`pool`'s output: the same for every architecture."""
        return self.net.pooled_dim

    # ---- tensors ------------------------------------------------------------------------
    def positions(self, batch: int, arch: int | None = None) -> torch.Tensor:
        return self.space.position_table(self.arch(arch), self.device).expand(batch, -1, -1)

    def row_specs(self, n: int, arch: int | None = None,
                  spec: ModelSpec | Sequence[ModelSpec] | None = None) -> list[ModelSpec]:
        """The eval spec of each of ``n`` rows of architecture ``arch``: ``spec`` (one for all or
        one per row), or the architecture's only one (ValueError when it had several)."""
        a = self.arch(arch)
        if spec is None:
            if len(self.arch_specs[a]) != 1:
                raise ValueError(f"this run's models of architecture {a} have {len(self.arch_specs[a])} specs and "
                                 "function tokens run the model: pass spec= (e.g. Zoo.spec(model), or one per row)")
            return [self.arch_specs[a][0]] * n
        if isinstance(spec, ModelSpec):
            return [spec.for_eval()] * n
        specs = [s.for_eval() for s in spec]
        if len(specs) != n:
            raise ValueError(f"{len(specs)} specs for {n} weight rows")
        return specs

    def responses(self, flat_std: torch.Tensor, arch: int | None = None,
                  spec: ModelSpec | Sequence[ModelSpec] | None = None) -> torch.Tensor | None:
        """Function tokens ``[B, K, classes]`` of standardised flat weights ``[B, P]`` on the
        device (the models run on the probes); None for a run without function tokens."""
        if self.reader is None:
            return None
        a = self.arch(arch)
        raw = self.standardizers[a].inverse(flat_std)
        return self.reader(self.layouts[a], raw, self.row_specs(len(flat_std), a, spec))

    def encode_tokens(self, flat_std: torch.Tensor, arch: int | None = None,
                      spec: ModelSpec | Sequence[ModelSpec] | None = None) -> torch.Tensor:
        """Standardised flat weights ``[B, P]`` on the device -> embeddings ``[B, E]`` (``spec``:
        see :meth:`embed`)."""
        a = self.arch(arch)
        return self._encode(flat_std, a, self.responses(flat_std, a, spec))

    def _encode(self, flat_std: torch.Tensor, a: int, responses: torch.Tensor | None) -> torch.Tensor:
        return self.net.encode(self.tokenizers[a].tokenize(flat_std), self.positions(flat_std.shape[0], a), responses)

    def decode_tokens(self, emb: torch.Tensor, arch: int | None = None) -> torch.Tensor:
        """Embeddings ``[B, E]`` -> standardised flat weights ``[B, P]`` of architecture ``arch``."""
        a = self.arch(arch)
        tokens = self.net.decode(emb, self.positions(emb.shape[0], a))
        return self.tokenizers[a].detokenize(tokens.float())

    # ---- numpy API ----------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, weights: np.ndarray | torch.Tensor, batch_size: int = 256, *,
              arch: int | None = None, views: int = 1, seed: int = 0,
              spec: ModelSpec | Sequence[ModelSpec] | None = None) -> np.ndarray:
        """Flat weights ``[N, P]`` (or one ``[P]``) of architecture ``arch`` -> embeddings ``[N, E]`` (or ``[E]``).

        With function tokens the models are run on the run's probes, as ``spec`` says (one
        spec for every row, or one per row; needed when the architecture's models had several
        specs, and it may be one the run never saw, of the same layout).

        ``views > 1``: the mean embedding of each model as given and ``views - 1`` random
        neuron permutations of it (seeded by ``seed``). The encoder reads neurons in order
        and contrastive training only draws permuted views together, so one model's
        embedding still carries its neuron order; the mean reads the function more than the
        order, which is what a property readout wants. Not for decoding: a mean over
        permutations decodes to no single model."""
        if views < 1:
            raise ValueError(f"views must be >= 1, got {views}")
        a = self.arch(arch)
        w, single = _as_batch(weights, self.layouts[a].num_params)
        self.net.eval()
        std = self.standardizers[a]
        specs = self.row_specs(len(w), a, spec) if self.reader is not None else None
        gen = torch.Generator(device=self.device).manual_seed(seed) if views > 1 else None
        out = []
        for i in range(0, len(w), batch_size):
            raw = w[i : i + batch_size].to(self.device)
            flat = std.forward(raw)
            resp = self.reader(self.layouts[a], raw, specs[i : i + batch_size]) if specs is not None else None
            total = self._encode(flat, a, resp).float()
            for _ in range(views - 1):  # a permutation leaves the responses as they are
                total += self._encode(self._permuter(a)(flat, gen), a, resp).float()
            out.append((total / views).cpu())
        emb = torch.cat(out).numpy() if out else np.zeros((0, self.embedding_dims[a]), np.float32)
        return emb[0] if single else emb

    def _permuter(self, arch: int) -> Permuter:
        if arch not in self._permuters:
            self._permuters[arch] = Permuter(self.layouts[arch])
        return self._permuters[arch]

    @torch.no_grad()
    def decode(self, embeddings: np.ndarray | torch.Tensor, batch_size: int = 256, *,
               arch: int | None = None) -> np.ndarray:
        """Embeddings ``[N, E]`` (or one ``[E]``) -> flat weights ``[N, P]`` (or ``[P]``) of
        architecture ``arch``'s layout."""
        a = self.arch(arch)
        e, single = _as_batch(embeddings, self.embedding_dims[a])
        self.net.eval()
        std = self.standardizers[a]
        out = [std.inverse(self.decode_tokens(e[i : i + batch_size].to(self.device), a)).cpu()
               for i in range(0, len(e), batch_size)]
        flat = torch.cat(out).numpy() if out else np.zeros((0, self.layouts[a].num_params), np.float32)
        return flat[0] if single else flat

    @torch.no_grad()
    def _from_embeddings(self, embeddings: np.ndarray | torch.Tensor, head, arch: int | None) -> np.ndarray:
        """``head(latents, positions)`` of embeddings ``[N, E]`` (or ``[E]``): the embedding is the
        flattened latents, so heads on the latents need no second pass of the encoder."""
        a = self.arch(arch)
        e, single = _as_batch(embeddings, self.embedding_dims[a])
        self.net.eval()
        latents = rearrange(e.to(self.device), "n (l k) -> n l k", k=self.config.model.lat_dim)
        z = head(latents, self.positions(len(e), a)).float().cpu().numpy()
        return z[0] if single else z

    def project(self, weights: np.ndarray | torch.Tensor, batch_size: int = 256, *,
                arch: int | None = None, spec: ModelSpec | Sequence[ModelSpec] | None = None) -> np.ndarray:
        """Flat weights ``[N, P]`` (or ``[P]``) -> contrastive projections ``[N, proj_dim]`` (unit norm).

        The embedding keeps the order of the neurons (so that it decodes to the same model);
        the projection is what contrastive training makes alike for augmented (permuted,
        noisy) versions of one model."""
        return self._from_embeddings(self.embed(weights, batch_size, arch=arch, spec=spec), self.net.project, arch)

    def pool(self, embeddings: np.ndarray | torch.Tensor, *, arch: int | None = None) -> np.ndarray:
        """Embeddings ``[N, E]`` (or ``[E]``) of architecture ``arch`` -> the latents averaged over
        all tokens and per global layer ``[N, pooled_dim]`` (zeros for the layers ``arch`` lacks;
        with function tokens, then the mean function latent):
        a short, neuron-order-robust summary of the embedding (what the projection head reads),
        of one width for every architecture, so it compares models across architectures."""
        return self._from_embeddings(embeddings, self.net.pooled, arch)

    def reconstruct(self, weights: np.ndarray | torch.Tensor, batch_size: int = 256, *,
                    arch: int | None = None, spec: ModelSpec | Sequence[ModelSpec] | None = None) -> np.ndarray:
        return self.decode(self.embed(weights, batch_size, arch=arch, spec=spec), batch_size, arch=arch)

    def arch_of_spec(self, spec: ModelSpec) -> int:
        """The run's architecture whose layout ``spec``'s models have (ValueError when none)."""
        from eo_tasks.models import layout_for

        layout = layout_for(spec)
        for a in self.archs:
            if self.layouts[a] == layout:
                return a
        raise ValueError("spec does not give the layout of any of the run's architectures")

    def build_model(self, weights: np.ndarray | torch.Tensor, spec: ModelSpec | None = None, *,
                    arch: int | None = None):  # -> FusionCNN
        """An eo_tasks model (eval mode) holding ``weights``, e.g. a decoded embedding.

        ``spec`` is needed when the architecture's models had several specs (e.g.
        activations); it also names the architecture. Without it, ``arch`` does (needed when
        the run spans several)."""
        from eo_tasks.models import build_model, load_flat

        if spec is None:
            a = self.arch(arch)
            if len(self.arch_specs[a]) != 1:
                raise ValueError(f"this run's models of architecture {a} have {len(self.arch_specs[a])} specs; "
                                 "pass spec= (e.g. Zoo.spec(model))")
            spec = self.arch_specs[a][0]
        a = self.arch_of_spec(spec) if arch is None else self.arch(arch)
        net = build_model(spec, seed=0)
        if net.layout != self.layouts[a]:
            raise ValueError(f"spec does not give the layout of the run's architecture {a}")
        return load_flat(net, np.asarray(weights, dtype=np.float32)).eval()
