"""Stage 1: a VAE whose tokens are the table's columns.

Each column becomes a token of width d (numeric: value times a learned vector plus a
bias; categorical: an embedding plus a bias) and a learned [CLS] token is prepended. The
mean encoder, the log-variance encoder and the decoder are small pre-norm transformers.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 (the usual alias)
from torch import nn

from synth.errors import TrainingError
from synth.tabsyn.config import VaeConfig

logger = logging.getLogger(__name__)

_MASKED = -1e9  # logit of a padded (non-existent) level: zero probability


class Tokenizer(nn.Module):
    """Columns -> tokens, with a [CLS] token in front: (B, n_num + n_cat + 1, d)."""

    def __init__(self, n_num: int, cardinalities: list[int], dim: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(dim)
        self.num_weight = nn.Parameter(torch.empty(n_num, dim).uniform_(-bound, bound))
        self.embedding = nn.Embedding(max(1, sum(cardinalities)), dim)
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        offsets = torch.tensor([0, *cardinalities[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets[: len(cardinalities)])
        tokens = n_num + len(cardinalities)
        self.bias = nn.Parameter(torch.empty(tokens, dim).uniform_(-bound, bound))
        self.cls = nn.Parameter(torch.empty(1, 1, dim).uniform_(-bound, bound))

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        """Tokens of a batch: (B, n_num), (B, n_cat) -> (B, 1 + n_num + n_cat, d)."""
        parts = []
        if x_num.shape[1]:
            parts.append(x_num.unsqueeze(-1) * self.num_weight)  # (B, n_num, d)
        if x_cat.shape[1]:
            parts.append(self.embedding(x_cat + self.offsets))  # (B, n_cat, d)
        tokens = torch.cat(parts, dim=1) + self.bias
        return torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1)


class Block(nn.Module):
    """Pre-norm transformer layer: x + attn(norm(x)), then x + ff(norm(x))."""

    def __init__(self, dim: int, heads: int, ff_width: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_width), nn.ReLU(), nn.Linear(ff_width, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One layer over (B, T, d) tokens."""
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        shape = (batch, tokens, self.heads, dim // self.heads)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))  # (B, h, T, d/h)
        attended = F.scaled_dot_product_attention(q, k, v)
        x = x + self.out(attended.transpose(1, 2).reshape(batch, tokens, dim))
        return x + self.ff(self.norm2(x))


def _stack(cfg: VaeConfig) -> nn.Sequential:
    layers = [Block(cfg.token_dim, cfg.heads, cfg.ff_width) for _ in range(cfg.layers)]
    return nn.Sequential(*layers, nn.LayerNorm(cfg.token_dim))


class TokenVAE(nn.Module):
    """The VAE: tokenizer, mean and log-variance encoders, decoder, reconstruction heads."""

    def __init__(self, n_num: int, cardinalities: list[int], cfg: VaeConfig) -> None:
        super().__init__()
        dim = cfg.token_dim
        self.n_num = n_num
        self.tokenizer = Tokenizer(n_num, cardinalities, dim)
        self.encode_mu = _stack(cfg)
        self.encode_logvar = _stack(cfg)
        self.decoder = _stack(cfg)
        self.num_head = nn.Parameter(torch.empty(n_num, dim).uniform_(-0.5, 0.5))
        self.num_bias = nn.Parameter(torch.zeros(n_num))
        # All categorical heads as one padded tensor: one einsum and one cross-entropy
        # per batch instead of one small Linear per column (the small ops dominated a
        # CPU step). Padded levels are masked out of the softmax.
        n_cat, widest = len(cardinalities), max(cardinalities, default=1)
        bound = 1 / math.sqrt(dim)
        self.cat_weight = nn.Parameter(torch.empty(n_cat, dim, widest).uniform_(-bound, bound))
        self.cat_bias = nn.Parameter(torch.empty(n_cat, widest).uniform_(-bound, bound))
        levels = torch.arange(widest)[None, :] < torch.tensor(cardinalities or [1])[:, None]
        self.register_buffer("cat_valid", levels[:n_cat])  # (n_cat, widest)

    def encode(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Means and log-variances of every token, [CLS] first: (B, 1 + T, d) each."""
        tokens = self.tokenizer(x_num, x_cat)
        return self.encode_mu(tokens), self.encode_logvar(tokens)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Column latents (B, T, d), without [CLS] -> numeric values and category logits.

        Returns:
            ``(num, logits)``: (B, n_num) values and (B, n_cat, widest) logits, where
            levels beyond a column's cardinality hold a large negative number.
        """
        h = self.decoder(z)
        num = (h[:, : self.n_num] * self.num_head).sum(-1) + self.num_bias  # (B, n_num)
        h_cat = h[:, self.n_num :]  # (B, n_cat, d)
        logits = torch.einsum("bcd,cdk->bck", h_cat, self.cat_weight) + self.cat_bias
        return num, logits.masked_fill(~self.cat_valid, _MASKED)

    def losses(
        self, x_num: torch.Tensor, x_cat: torch.Tensor, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction MSE, mean cross-entropy and KL divergence of a batch."""
        mu, logvar = self.encode(x_num, x_cat)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        num, logits = self.decode(z[:, 1:])
        zero = x_num.new_zeros(())
        mse = F.mse_loss(num, x_num) if self.n_num else zero
        ce = zero
        if x_cat.shape[1]:  # mean over columns of each column's mean cross-entropy
            ce = F.cross_entropy(logits.flatten(0, 1), x_cat.flatten())
        kl = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
        return mse, ce, kl


def train_vae(
    model: TokenVAE,
    train: tuple[torch.Tensor, torch.Tensor],
    valid: tuple[torch.Tensor, torch.Tensor],
    cfg: VaeConfig,
    log_every: int,
) -> dict[str, Any]:
    """Train the VAE with the adaptive KL weight; keep the weights of the best validation.

    Args:
        model: The VAE, already on the tensors' device.
        train: ``(num, cat)`` training tensors.
        valid: ``(num, cat)`` validation tensors (a slice of the training frame).
        cfg: VAE settings.
        log_every: One progress line per this many epochs.

    Returns:
        Epochs run, final losses, the final beta and seconds taken.

    Raises:
        TrainingError: A loss became NaN or infinite.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rows = train[0].shape[0]
    beta, best, best_state, stall, since_best = cfg.beta_max, math.inf, None, 0, 0
    start = time.perf_counter()
    epoch, record = 0, {}
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(rows, device=train[0].device)
        total = 0.0
        for begin in range(0, rows, cfg.batch_size):
            index = order[begin : begin + cfg.batch_size]
            mse, ce, kl = model.losses(train[0][index], train[1][index])
            loss = mse + ce + beta * kl
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"The VAE loss became {loss.item()} at epoch {epoch}. Lower "
                    "generator.vae.lr, or look for extreme or constant columns in the input."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        model.eval()
        with torch.no_grad():
            v_mse, v_ce, v_kl = model.losses(*valid, sample=False)
        recon = (v_mse + v_ce).item()
        if recon < best - 1e-6:
            best, best_state, stall, since_best = recon, copy.deepcopy(model.state_dict()), 0, 0
        else:
            stall, since_best = stall + 1, since_best + 1
            if stall >= cfg.beta_patience and beta > cfg.beta_min:
                beta, stall = max(beta * cfg.beta_decay, cfg.beta_min), 0
        record = {
            "train_loss": total / rows,
            "val_mse": v_mse.item(),
            "val_ce": v_ce.item(),
            "val_kl": v_kl.item(),
            "beta": beta,
        }
        progress(logger, "VAE", epoch, cfg.epochs, record, start, log_every)
        if since_best >= cfg.patience:
            logger.info("VAE: no validation gain for %d epochs; stopping.", cfg.patience)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return {
        "epochs": epoch,
        "best_val_recon": best,
        **record,
        "seconds": time.perf_counter() - start,
    }


def progress(
    log: logging.Logger,
    stage: str,
    epoch: int,
    epochs: int,
    record: dict[str, float],
    start: float,
    every: int,
) -> None:
    """Log one progress line every ``every`` epochs, with the time left at this pace."""
    if epoch % every and epoch != epochs:
        return
    elapsed = time.perf_counter() - start
    left = elapsed / epoch * (epochs - epoch)
    losses = " ".join(f"{k}={v:.4g}" for k, v in record.items())
    log.info(
        "%s epoch %d/%d %s | %.0fs elapsed, at most %.0fs left",
        stage,
        epoch,
        epochs,
        losses,
        elapsed,
        left,
    )
