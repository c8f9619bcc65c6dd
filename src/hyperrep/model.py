"""The hyper-representation autoencoder: a transformer over weight tokens.

Encoder: each token is embedded linearly and gets the sum of three learned position
embeddings (global token index, layer index, neuron index). ``latent_tokens`` learned
summary tokens are prepended; after the transformer each of them is compressed to a
``lat_dim`` latent, and the model embedding is their concatenation
(``latent_tokens * lat_dim`` values, SANE-style small per-token latents but of a fixed
count, so the embedding size does not depend on the architecture and every model gets
the same-sized vector for downstream property prediction).

Decoder (the mirror): the latents are lifted back to ``d_model`` and joined by one
query per token to reconstruct, carrying only that token's position embedding; a
transformer of the same depth lets the queries read the latents, and a linear map
gives the tokens. The queries hold no weight information, so everything the decoder
reconstructs passes through the embedding, and ``decode(embedding)`` needs nothing else.
Windows of tokens work unchanged: the encoder sees the window's tokens with their
positions and the decoder reconstructs any set of positions.
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

    num_tokens: int
    token_size: int
    num_layers: int
    max_neurons: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Positions(nn.Module):
    def __init__(self, dims: TokenDims, width: int) -> None:
        super().__init__()
        self.token = nn.Embedding(dims.num_tokens, width)
        self.layer = nn.Embedding(dims.num_layers, width)
        self.neuron = nn.Embedding(dims.max_neurons, width)
        for emb in (self.token, self.layer, self.neuron):
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        """``pos`` ``[..., 3]`` (token, layer, neuron) -> ``[..., width]``."""
        return self.token(pos[..., 0]) + self.layer(pos[..., 1]) + self.neuron(pos[..., 2])


def _transformer(cfg: ModelSection) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model, cfg.heads, dim_feedforward=cfg.ff_mult * cfg.d_model, dropout=cfg.dropout,
        activation="gelu", batch_first=True, norm_first=True,
    )
    return nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)


class HyperRepNet(nn.Module):
    def __init__(self, dims: TokenDims, cfg: ModelSection) -> None:
        super().__init__()
        self.dims = dims
        self.cfg = cfg
        d, K = cfg.d_model, cfg.latent_tokens
        self.embed_tokens = nn.Linear(dims.token_size, d)
        self.enc_pos = Positions(dims, d)
        self.summary = nn.Parameter(torch.randn(K, d) * 0.02)
        self.encoder = _transformer(cfg)
        self.enc_norm = nn.LayerNorm(d)
        self.to_latent = nn.Linear(d, cfg.lat_dim)

        self.from_latent = nn.Linear(cfg.lat_dim, d)
        self.latent_pos = nn.Parameter(torch.randn(K, d) * 0.02)
        self.dec_pos = Positions(dims, d)
        self.decoder = _transformer(cfg)
        self.dec_norm = nn.LayerNorm(d)
        self.to_tokens = nn.Linear(d, dims.token_size)

        emb = K * cfg.lat_dim
        self.projection = nn.Sequential(nn.Linear(emb, emb), nn.GELU(), nn.Linear(emb, cfg.proj_dim))

    @property
    def embedding_dim(self) -> int:
        return self.cfg.latent_tokens * self.cfg.lat_dim

    def encode(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Tokens ``[B, W, D]`` at ``positions`` ``[B, W, 3]`` -> embeddings ``[B, K * lat_dim]``."""
        x = self.embed_tokens(tokens) + self.enc_pos(positions)
        summary = self.summary.expand(x.shape[0], -1, -1)
        h = self.encoder(torch.cat([summary, x], dim=1))
        latents = self.to_latent(self.enc_norm(h[:, : self.cfg.latent_tokens]))
        return rearrange(latents, "b k l -> b (k l)")

    def decode(self, embedding: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[B, K * lat_dim]`` -> tokens ``[B, W, D]`` at ``positions`` ``[B, W, 3]``."""
        latents = rearrange(embedding, "b (k l) -> b k l", k=self.cfg.latent_tokens)
        lat = self.from_latent(latents) + self.latent_pos
        queries = self.dec_pos(positions)
        h = self.decoder(torch.cat([lat, queries], dim=1))
        return self.to_tokens(self.dec_norm(h[:, self.cfg.latent_tokens :]))

    def project(self, embedding: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(embedding), dim=-1)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.encode(tokens, positions)
        return emb, self.decode(emb, positions)
