"""A trained hyper-representation: load a run folder, embed, decode, reconstruct.

A run folder ``RUN/`` holds the network's state dict (``model.pt``), the resolved config
(``config.toml``), the weight-space layout (``layout.json``), the standardisation
statistics (``norm.json``), ``meta.json`` (format version, token dims, the models of each
split, the model specs) and the training state; docs/run-format.md specifies them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from eo_tasks.config import ConfigError
from eo_tasks.models.layout import Layout
from eo_tasks.models.spec import ModelSpec
from eo_tasks.train.loop import resolve_device
from hyperrep.config import HyperRepConfig
from hyperrep.model import HyperRepNet, TokenDims
from hyperrep.runfolder import RUN_FILES, read_meta
from hyperrep.tokens import Standardizer, Tokenizer

__all__ = ["HyperRep", "RUN_FILES", "resolve_device"]


def _as_batch(weights: np.ndarray | torch.Tensor, num_params: int) -> tuple[torch.Tensor, bool]:
    w = torch.as_tensor(np.asarray(weights, dtype=np.float32) if not torch.is_tensor(weights) else weights)
    single = w.ndim == 1
    w = w.reshape(1, -1) if single else w
    if w.ndim != 2 or w.shape[1] != num_params:
        raise ValueError(f"weights must be [N, {num_params}] or [{num_params}], got {tuple(w.shape)}")
    return w.float(), single


class HyperRep:
    """A hyper-representation model with its tokenizer and normalisation."""

    def __init__(self, config: HyperRepConfig, layout: Layout, standardizer: Standardizer,
                 net: HyperRepNet | None = None, device: str | torch.device = "cpu",
                 specs: tuple[ModelSpec, ...] = ()) -> None:
        self.config = config
        self.layout = layout
        self.tokenizer = Tokenizer(layout, config.tokens.token_size, config.tokens.max_token_size)
        self.standardizer = standardizer
        self.specs = tuple(specs)  # the eval specs of the models trained on
        self.device = torch.device(device)
        self.dims = TokenDims(self.tokenizer.num_tokens, self.tokenizer.token_size,
                              self.tokenizer.num_layers, self.tokenizer.max_neurons)
        self.net = (net if net is not None else HyperRepNet(self.dims, config.model)).to(self.device)

    # ---- loading ------------------------------------------------------------------------
    @classmethod
    def load(cls, run: str | Path, device: str | torch.device = "cpu") -> HyperRep:
        """The run in folder ``run`` (docs/run-format.md); a run written by a newer format
        than this code reads is refused (ConfigError naming its meta.json)."""
        run = Path(run)
        # the version first: a newer format may name its files differently
        meta = read_meta(run) if (run / "meta.json").is_file() else None
        missing = [f for f in RUN_FILES if not (run / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{run}: not a finished hyperrep run, missing {missing}")
        config = HyperRepConfig.load(run / "config.toml")
        if config.tokens.token_size == 0:
            raise ConfigError(f"{run / 'config.toml'}: tokens.token_size must be resolved (> 0) in a run")
        try:
            layout = Layout.from_json((run / "layout.json").read_text())
        except (ValueError, KeyError, TypeError) as err:  # JSON errors are ValueErrors
            raise ConfigError(f"{run / 'layout.json'}: not a layout this code reads ({err})") from err
        try:
            std = Standardizer.from_json((run / "norm.json").read_text(), layout)
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{run / 'norm.json'}: does not fit the run's layout ({err})") from err
        specs = tuple(ModelSpec.from_json(text) for text in meta.get("specs", []))
        device = resolve_device(str(device))
        rep = cls(config, layout, std, device=device, specs=specs)
        state = torch.load(run / "model.pt", map_location=device, weights_only=True)
        rep.net.load_state_dict(state)
        rep.net.eval()
        return rep

    @property
    def embedding_dim(self) -> int:
        return self.net.embedding_dim

    # ---- tensors ------------------------------------------------------------------------
    def positions(self, batch: int) -> torch.Tensor:
        return self.tokenizer.tables(self.device)["positions"].expand(batch, -1, -1)

    def encode_tokens(self, flat_std: torch.Tensor) -> torch.Tensor:
        """Standardised flat weights ``[B, P]`` on the device -> embeddings ``[B, E]``."""
        return self.net.encode(self.tokenizer.tokenize(flat_std), self.positions(flat_std.shape[0]))

    def decode_tokens(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[B, E]`` -> standardised flat weights ``[B, P]``."""
        tokens = self.net.decode(emb, self.positions(emb.shape[0]))
        return self.tokenizer.detokenize(tokens.float())

    # ---- numpy API ----------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, weights: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Flat weights ``[N, P]`` (or one ``[P]``) -> embeddings ``[N, E]`` (or ``[E]``)."""
        w, single = _as_batch(weights, self.layout.num_params)
        self.net.eval()
        out = [self.encode_tokens(self.standardizer.forward(w[i : i + batch_size].to(self.device))).float().cpu()
               for i in range(0, len(w), batch_size)]
        emb = torch.cat(out).numpy() if out else np.zeros((0, self.embedding_dim), np.float32)
        return emb[0] if single else emb

    @torch.no_grad()
    def decode(self, embeddings: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Embeddings ``[N, E]`` (or one ``[E]``) -> flat weights ``[N, P]`` (or ``[P]``)."""
        e, single = _as_batch(embeddings, self.embedding_dim)
        self.net.eval()
        out = [self.standardizer.inverse(self.decode_tokens(e[i : i + batch_size].to(self.device))).cpu()
               for i in range(0, len(e), batch_size)]
        flat = torch.cat(out).numpy() if out else np.zeros((0, self.layout.num_params), np.float32)
        return flat[0] if single else flat

    @torch.no_grad()
    def _from_embeddings(self, embeddings: np.ndarray | torch.Tensor, head) -> np.ndarray:
        """``head(latents, positions)`` of embeddings ``[N, E]`` (or ``[E]``): the embedding is the
        flattened latents, so heads on the latents need no second pass of the encoder."""
        e, single = _as_batch(embeddings, self.embedding_dim)
        self.net.eval()
        latents = rearrange(e.to(self.device), "n (l k) -> n l k", k=self.config.model.lat_dim)
        z = head(latents, self.positions(len(e))).float().cpu().numpy()
        return z[0] if single else z

    def project(self, weights: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        """Flat weights ``[N, P]`` (or ``[P]``) -> contrastive projections ``[N, proj_dim]`` (unit norm).

        The embedding keeps the order of the neurons (so that it decodes to the same model);
        the projection is what contrastive training makes alike for augmented (permuted,
        noisy) versions of one model."""
        return self._from_embeddings(self.embed(weights, batch_size), self.net.project)

    def pool(self, embeddings: np.ndarray | torch.Tensor) -> np.ndarray:
        """Embeddings ``[N, E]`` (or ``[E]``) -> the latents averaged over all tokens and per layer
        ``[N, (layers + 1) * lat_dim]``: a short, neuron-order-robust summary of the embedding
        (what the projection head reads), for predictors that cannot take the full one."""
        return self._from_embeddings(embeddings, self.net.pooled)

    def reconstruct(self, weights: np.ndarray | torch.Tensor, batch_size: int = 256) -> np.ndarray:
        return self.decode(self.embed(weights, batch_size), batch_size)

    def build_model(self, weights: np.ndarray | torch.Tensor, spec: ModelSpec | None = None):  # -> FusionCNN
        """An eo_tasks model (eval mode) holding ``weights``, e.g. a decoded embedding.

        ``spec`` is needed when the run's models had several specs (e.g. activations).
        """
        from eo_tasks.models.family import build_model, load_flat

        if spec is None:
            if len(self.specs) != 1:
                raise ValueError(f"this run's models have {len(self.specs)} specs; pass spec= (e.g. Zoo.spec(model))")
            spec = self.specs[0]
        net = build_model(spec, seed=0)
        if net.layout != self.layout:
            raise ValueError("spec does not give the run's layout")
        return load_flat(net, np.asarray(weights, dtype=np.float32)).eval()
