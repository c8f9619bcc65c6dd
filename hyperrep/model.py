"""The hyper-representation autoencoder: a transformer over weight tokens.

Two kinds of embedding (``ModelSection.embedding``):

``"tokens"`` (default; Schürholt et al. 2022, SANE): each token is embedded linearly
and gets the sum of three learned position embeddings (global token index, layer index,
neuron index); after the encoder transformer every token is compressed linearly to its
own ``lat_dim`` latent, and the model embedding is the sequence of these latents
(``num_tokens * lat_dim`` values, flattened). The decoder lifts each latent back to
``d_model``, adds the positions again and maps it through a transformer of the same
depth to its token. Capacity grows with the model, and a latent stays tied to its
token, so a permuted input gives permuted latents and the decoder can rebuild the
permuted model (what the permutation augmentation's target asks for).

``"summary"`` (the older design, kept for comparison): ``latent_tokens`` learned summary
tokens are prepended to the encoder's input and only they are compressed, giving an
embedding of ``latent_tokens * lat_dim`` values whatever the architecture; the decoder
reads them with one position-only query per token. This bottleneck of a few dozen
values cannot carry thousands of weights, so its reconstructions regress to the mean.

The contrastive projection head reads the latents mean-pooled over tokens together
with their per-layer means (``pool = "mean"``, which also works for windows of tokens),
or the flattened embedding (``pool = "flat"``, whole models only).

Over several architectures (``TokenDims.num_archs > 1``, :class:`hyperrep.tokens.TokenSpace`)
positions also carry the architecture (a fourth learned embedding, absent for one
architecture so that one-architecture state dicts stay as they were), layer ids are global
(a (layer name, fan-in) pair over all architectures), and an architecture's per-token
embedding has its own length ``T_arch * lat_dim``; the pooled summary has the same width
for every architecture (a layer the architecture lacks gives zeros).

With function tokens (``[function] probes = K``, :class:`FunctionDims`; hyperrep.function
makes them) the encoder also reads each model's standardised output logits on the run's K
probe inputs, one token per probe, embedded by their own linear map plus a learned position
per probe (no layer, neuron or architecture position: every architecture answers the same
probes). Their K latents follow the weight latents in the latent sequence, and so in the
flat embedding, the decoder's input and the pooled summary (one more slot: their mean). The
decoder reads them beside the weight latents and returns the weight tokens as before, plus
its reconstruction of the responses (:meth:`HyperRepNet.decode_parts`). Without them
(``FunctionDims`` None) the network, its parameters and their initial values are exactly
those of a weight-only run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from hyperrep.config import ModelSection


@dataclass(frozen=True)
class TokenDims:
    """What the network's shapes depend on, fixed by the tokenizer."""

    num_tokens: int  # the longest token sequence of any architecture
    token_size: int
    num_layers: int  # global layers over all architectures
    max_neurons: int
    num_archs: int = 1

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class FunctionDims:
    """The function tokens' shape: one token per probe input, ``classes`` logits each."""

    probes: int
    classes: int


class FunctionTokens(nn.Module):
    """What function tokens add: their input and output maps and one position per probe
    (in the encoder and in the decoder)."""

    def __init__(self, dims: FunctionDims, width: int) -> None:
        super().__init__()
        self.dims = dims
        self.embed = nn.Linear(dims.classes, width)
        self.enc_pos = nn.Parameter(torch.randn(dims.probes, width) * 0.02)
        self.dec_pos = nn.Parameter(torch.randn(dims.probes, width) * 0.02)
        self.to_responses = nn.Linear(width, dims.classes)

    def inputs(self, responses: torch.Tensor) -> torch.Tensor:
        """Responses ``[B, K, classes]`` -> encoder inputs ``[B, K, width]``."""
        if tuple(responses.shape[1:]) != (self.dims.probes, self.dims.classes):
            raise ValueError(f"responses must be [B, {self.dims.probes}, {self.dims.classes}], "
                             f"got {tuple(responses.shape)}")
        return self.embed(responses) + self.enc_pos


class Positions(nn.Module):
    def __init__(self, dims: TokenDims, width: int) -> None:
        super().__init__()
        self.token = nn.Embedding(dims.num_tokens, width)
        self.layer = nn.Embedding(dims.num_layers, width)
        self.neuron = nn.Embedding(dims.max_neurons, width)
        for emb in (self.token, self.layer, self.neuron):
            nn.init.normal_(emb.weight, std=0.02)
        # created (and drawn) only for several architectures: one architecture's parameters,
        # their initial values and its state dict stay exactly as before
        self.arch = nn.Embedding(dims.num_archs, width) if dims.num_archs > 1 else None
        if self.arch is not None:
            nn.init.normal_(self.arch.weight, std=0.02)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        """``pos`` ``[..., 3 or 4]`` (token, layer, neuron[, arch]) -> ``[..., width]``."""
        out = self.token(pos[..., 0]) + self.layer(pos[..., 1]) + self.neuron(pos[..., 2])
        if self.arch is not None:
            out = out + self.arch(pos[..., 3])
        return out


def _transformer(cfg: ModelSection) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model, cfg.heads, dim_feedforward=cfg.ff_mult * cfg.d_model, dropout=cfg.dropout,
        activation="gelu", batch_first=True, norm_first=True,
    )
    return nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)


class HyperRepNet(nn.Module):
    def __init__(self, dims: TokenDims, cfg: ModelSection, function: FunctionDims | None = None) -> None:
        super().__init__()
        self.dims = dims
        self.cfg = cfg
        self.num_function = function.probes if function is not None else 0
        self.per_token = cfg.embedding == "tokens"
        d = cfg.d_model
        self.embed_tokens = nn.Linear(dims.token_size, d)
        self.enc_pos = Positions(dims, d)
        self.encoder = _transformer(cfg)
        self.enc_norm = nn.LayerNorm(d)
        self.to_latent = nn.Linear(d, cfg.lat_dim)

        self.from_latent = nn.Linear(cfg.lat_dim, d)
        self.dec_pos = Positions(dims, d)
        self.decoder = _transformer(cfg)
        self.dec_norm = nn.LayerNorm(d)
        self.to_tokens = nn.Linear(d, dims.token_size)
        if not self.per_token:
            K = cfg.latent_tokens
            self.summary = nn.Parameter(torch.randn(K, d) * 0.02)
            self.latent_pos = nn.Parameter(torch.randn(K, d) * 0.02)

        pooled = self.per_token and cfg.pool == "mean"
        head_in = self.pooled_dim if pooled else self.embedding_dim
        self.projection = nn.Sequential(nn.Linear(head_in, cfg.proj_hidden), nn.GELU(),
                                        nn.Linear(cfg.proj_hidden, cfg.proj_dim))
        # made last, so that without function tokens every parameter is drawn as it always was
        self.function = FunctionTokens(function, d) if function is not None else None

    @property
    def num_latents(self) -> int:
        """Latent vectors per whole model."""
        return self.dims.num_tokens if self.per_token else self.cfg.latent_tokens

    @property
    def embedding_dim(self) -> int:
        """Of the longest architecture (``embedding_dim_for`` gives each one's)."""
        return (self.num_latents + self.num_function) * self.cfg.lat_dim

    def embedding_dim_for(self, num_tokens: int) -> int:
        """Embedding length of a model with ``num_tokens`` tokens (function latents included)."""
        return ((num_tokens if self.per_token else self.cfg.latent_tokens) + self.num_function) * self.cfg.lat_dim

    @property
    def pooled_dim(self) -> int:
        slots = self.dims.num_layers + 1 + (1 if self.num_function else 0)
        return slots * self.cfg.lat_dim if self.per_token and self.cfg.pool == "mean" else self.embedding_dim

    def _function_inputs(self, responses: torch.Tensor | None) -> torch.Tensor | None:
        if self.function is None:
            if responses is not None:
                raise ValueError("this network has no function tokens; pass no responses")
            return None
        if responses is None:
            raise ValueError(f"this network reads {self.num_function} function tokens: pass the models' "
                             "responses (HyperRep.responses)")
        return self.function.inputs(responses)

    # ---- latents [B, L, lat_dim] --------------------------------------------------------
    def encode_latents(self, tokens: torch.Tensor, positions: torch.Tensor,
                       responses: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``[B, W, D]`` at ``positions`` ``[B, W, 4]`` (and, with function tokens, the
        models' ``responses`` ``[B, K, classes]``) -> latents ``[B, L + K, lat_dim]`` (``L = W``
        per token, ``L = latent_tokens`` for summary tokens; the K function latents last)."""
        x = self.embed_tokens(tokens) + self.enc_pos(positions)
        f = self._function_inputs(responses)
        if self.per_token:
            h = self.encoder(x if f is None else torch.cat([x, f], dim=1))
            return self.to_latent(self.enc_norm(h))
        summary = self.summary.expand(x.shape[0], -1, -1)
        K = self.cfg.latent_tokens
        if f is None:
            h = self.encoder(torch.cat([summary, x], dim=1))[:, :K]
        else:
            h = self.encoder(torch.cat([summary, x, f], dim=1))
            h = torch.cat([h[:, :K], h[:, -self.num_function :]], dim=1)
        return self.to_latent(self.enc_norm(h))

    def decode_parts(self, latents: torch.Tensor,
                     positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents ``[B, L + K, lat_dim]`` -> (tokens ``[B, W, D]`` at ``positions`` ``[B, W, 4]``,
        reconstructed responses ``[B, K, classes]``, None without function tokens)."""
        n_fun = self.num_function
        own, fun = (latents[:, : latents.shape[1] - n_fun], latents[:, latents.shape[1] - n_fun :]) if n_fun \
            else (latents, None)
        extra = [] if fun is None else [self.from_latent(fun) + self.function.dec_pos]
        W = positions.shape[1]
        if self.per_token:
            if own.shape[1] != W:
                raise ValueError(f"{own.shape[1]} token latents for {W} positions")
            x = self.from_latent(own) + self.dec_pos(positions)
            h = self.decoder(torch.cat([x, *extra], dim=1) if extra else x)
        else:
            lat = self.from_latent(own) + self.latent_pos
            h = self.decoder(torch.cat([lat, self.dec_pos(positions), *extra], dim=1))[:, self.cfg.latent_tokens :]
        if fun is None:
            return self.to_tokens(self.dec_norm(h)), None
        h = self.dec_norm(h)
        return self.to_tokens(h[:, :W]), self.function.to_responses(h[:, W:])

    def decode_latents(self, latents: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, L + K, lat_dim]`` -> tokens ``[B, W, D]`` at ``positions`` ``[B, W, 4]``."""
        return self.decode_parts(latents, positions)[0]

    # ---- flat embeddings [B, E] -------------------------------------------------------------
    def encode(self, tokens: torch.Tensor, positions: torch.Tensor,
               responses: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens ``[B, W, D]`` at ``positions`` ``[B, W, 4]`` (and ``responses``) -> embeddings
        ``[B, (L + K) * lat_dim]``."""
        return rearrange(self.encode_latents(tokens, positions, responses), "b l k -> b (l k)")

    def decode(self, embedding: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[B, (L + K) * lat_dim]`` -> tokens ``[B, W, D]`` at ``positions`` ``[B, W, 4]``."""
        return self.decode_latents(rearrange(embedding, "b (l k) -> b l k", k=self.cfg.lat_dim), positions)

    def pooled(self, latents: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The projection head's input: mean latent over all weight tokens and per global layer
        (zeros for a layer the batch's architecture lacks), then, with function tokens, the mean
        function latent: ``[B, pooled_dim]``; or the flat embedding."""
        if self.cfg.pool == "flat" or not self.per_token:
            return rearrange(latents, "b l k -> b (l k)")
        own = latents[:, : positions.shape[1]]
        onehot = F.one_hot(positions[..., 1], self.dims.num_layers).to(latents.dtype)  # [B, W, layers]
        per_layer = torch.einsum("bwl,bwk->blk", onehot, own) / onehot.sum(1).clamp(min=1)[..., None]
        parts = [own.mean(1, keepdim=True), per_layer]
        if self.num_function:
            parts.append(latents[:, positions.shape[1] :].mean(1, keepdim=True))
        return torch.cat(parts, dim=1).flatten(1)

    def project(self, latents: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.pooled(latents, positions)), dim=-1)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor,
                responses: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (latents ``[B, L + K, lat_dim]``, reconstructed tokens ``[B, W, D]``)."""
        latents = self.encode_latents(tokens, positions, responses)
        return latents, self.decode_latents(latents, positions)
