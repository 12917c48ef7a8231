"""Stage 2: EDM diffusion over the VAE's flattened column latents, with a stochastic Heun sampler.

The denoiser is an MLP (project to width w, add a sinusoidal embedding of the noise level,
then w -> 2w -> 2w -> w -> d with SiLU), wrapped in EDM preconditioning.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import time
from typing import Any

import torch
from torch import nn

from synth.errors import TrainingError
from synth.tabsyn import corrdst
from synth.tabsyn.config import CorrDstConfig, DiffusionConfig, SamplingConfig
from synth.tabsyn.vae import progress

logger = logging.getLogger(__name__)


def sinusoidal(noise: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal embedding of noise levels: (B,) -> (B, width)."""
    half = width // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=noise.device, dtype=noise.dtype) / half
    )
    angles = noise[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class Denoiser(nn.Module):
    """The MLP F(x, c_noise) of EDM."""

    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.project = nn.Linear(dim, width)
        self.embed = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.body = nn.Sequential(
            nn.Linear(width, 2 * width),
            nn.SiLU(),
            nn.Linear(2 * width, 2 * width),
            nn.SiLU(),
            nn.Linear(2 * width, width),
            nn.SiLU(),
            nn.Linear(width, dim),
        )

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        """Predict from noisy latents (B, D) and noise codes (B,) or (1,)."""
        # c_noise is (B,) or (1,): one level for the whole batch is embedded once.
        return self.body(self.project(x) + self.embed(sinusoidal(c_noise, self.width)))


class EDM(nn.Module):
    """EDM preconditioning: D(x, sigma) = c_skip x + c_out F(c_in x, ln(sigma) / 4)."""

    def __init__(self, dim: int, width: int, sigma_data: float) -> None:
        super().__init__()
        self.sigma_data = sigma_data
        self.net = Denoiser(dim, width)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Denoised estimate of (B, D) latents at noise levels sigma, (B,) or (1,)."""
        sigma = sigma.reshape(-1, 1)  # (B, 1) or (1, 1)
        sd2 = self.sigma_data**2
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data / (sigma**2 + sd2).sqrt()
        c_in = 1 / (sd2 + sigma**2).sqrt()
        return c_skip * x + c_out * self.net(c_in * x, sigma.log().flatten() / 4)


def edm_loss(
    model: EDM,
    x: torch.Tensor,
    cfg: DiffusionConfig,
    extra: CorrDstConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Weighted denoising loss of a batch, plus the CorrDst terms when enabled."""
    shape = (x.shape[0], 1)
    draw = torch.randn(shape, generator=generator, device=x.device)
    sigma = (draw * cfg.p_std + cfg.p_mean).exp()
    weight = (sigma**2 + cfg.sigma_data**2) / (sigma * cfg.sigma_data) ** 2
    noise = torch.randn(x.shape, generator=generator, device=x.device) * sigma
    denoised = model(x + noise, sigma)
    loss = (weight * (denoised - x).pow(2)).mean()
    if extra.enabled:
        if extra.use_corr and extra.alpha:
            loss = loss + extra.alpha * corrdst.corr_loss(x, denoised)
        if extra.use_dst and extra.beta:
            loss = loss + extra.beta * corrdst.dst_loss(x, denoised, extra.moments)
    return loss


def train_diffusion(
    model: EDM,
    train: torch.Tensor,
    valid: torch.Tensor,
    cfg: DiffusionConfig,
    extra: CorrDstConfig,
    log_every: int,
    seed: int,
) -> dict[str, Any]:
    """Train the denoiser; early stopping (and the plateau schedule) on validation latents.

    The learning rate follows ``cfg.schedule``: a cosine decay to zero over every step of
    ``cfg.epochs`` epochs, or the paper's reduction by ``plateau_factor`` when the
    validation loss stalls. The weights with the best validation loss are kept.

    Args:
        model: The preconditioned denoiser, on the tensors' device.
        train: Normalised training latents, (N, D).
        valid: Normalised validation latents (a slice of the training frame).
        cfg: Diffusion settings.
        extra: CorrDst settings.
        log_every: One progress line per this many epochs.
        seed: Fixes the validation noise so that epochs are compared on equal terms.

    Returns:
        Epochs run, final and best losses, seconds taken.

    Raises:
        TrainingError: A loss became NaN or infinite.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rows = train.shape[0]
    total_steps = cfg.epochs * math.ceil(rows / cfg.batch_size)
    cosine = plateau = None
    if cfg.schedule == "cosine":
        cosine = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)),
        )
    else:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
    repeats = max(1, 2048 // max(1, valid.shape[0]))
    valid = valid.repeat(repeats, 1)  # several noise draws per row steady the estimate
    best, best_state, since_best, epoch, record = math.inf, None, 0, 0, {}
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(rows, device=train.device)
        total = 0.0
        for begin in range(0, rows, cfg.batch_size):
            batch = train[order[begin : begin + cfg.batch_size]]
            loss = edm_loss(model, batch, cfg, extra)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"The diffusion loss became {loss.item()} at epoch {epoch}. Lower "
                    "generator.diffusion.lr, or lower generator.corrdst.alpha / beta."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if cosine is not None:
                cosine.step()
            total += loss.item() * batch.shape[0]
        model.eval()
        fixed = torch.Generator(device=valid.device).manual_seed(seed)
        with torch.no_grad():
            val = edm_loss(model, valid, cfg, CorrDstConfig(enabled=False), fixed).item()
        if plateau is not None:
            plateau.step(val)
        if val < best - 1e-6:
            best, best_state, since_best = val, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
        record = {
            "train_loss": total / rows,
            "val_loss": val,
            "lr": optimizer.param_groups[0]["lr"],
        }
        progress(logger, "Diffusion", epoch, cfg.epochs, record, start, log_every)
        if since_best >= cfg.patience:
            logger.info("Diffusion: no validation gain for %d epochs; stopping.", cfg.patience)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return {
        "epochs": epoch,
        "best_val_loss": best,
        **record,
        "seconds": time.perf_counter() - start,
    }


def noise_levels(cfg: SamplingConfig) -> torch.Tensor:
    """The EDM schedule sigma_max -> sigma_min (rho spacing), with a final 0: (steps + 1,)."""
    step = torch.arange(cfg.steps, dtype=torch.float64) / (cfg.steps - 1)
    lo, hi = cfg.sigma_min ** (1 / cfg.rho), cfg.sigma_max ** (1 / cfg.rho)
    levels = (hi + step * (lo - hi)) ** cfg.rho
    return torch.cat([levels, torch.zeros(1, dtype=torch.float64)])


@torch.inference_mode()
def heun_sample(
    model: EDM, rows: int, dim: int, cfg: SamplingConfig, generator: torch.Generator
) -> torch.Tensor:
    """Stochastic Heun sampling of ``rows`` latents, in batches; returns (rows, dim) on CPU.

    All noise is drawn on the CPU from ``generator`` so that the same seed gives the same
    rows on any device.
    """
    device = next(model.parameters()).device
    levels = noise_levels(cfg).tolist()
    gamma = min(cfg.s_churn / cfg.steps, math.sqrt(2) - 1)
    out = []
    for begin in range(0, rows, cfg.batch_size):
        size = min(cfg.batch_size, rows - begin)
        x = (torch.randn(size, dim, generator=generator, dtype=torch.float64) * levels[0]).to(
            device, torch.float32
        )
        for i, (t, t_next) in enumerate(itertools.pairwise(levels)):
            t_hat = t + gamma * t
            fresh = torch.randn(size, dim, generator=generator).to(device)
            x_hat = x + math.sqrt(t_hat**2 - t**2) * fresh
            d = (x_hat - model(x_hat, _level(t_hat, device))) / t_hat
            x = x_hat + (t_next - t_hat) * d
            if i < cfg.steps - 1:
                d_next = (x - model(x, _level(t_next, device))) / t_next
                x = x_hat + (t_next - t_hat) * (0.5 * d + 0.5 * d_next)
        out.append(x.float().cpu())
    return torch.cat(out)


def _level(sigma: float, device: torch.device) -> torch.Tensor:
    return torch.tensor([sigma], dtype=torch.float32, device=device)
