"""CorrDst: extra diffusion losses that match correlations and moments of a latent batch.

Both terms compare the clean latent batch ``x`` with the denoiser's output ``y`` (each of
shape (B, D)). The total diffusion loss is ``native + alpha * corr_loss + beta * dst_loss``.
"""

from __future__ import annotations

import torch

_EPS = 1e-5


def corr_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the off-diagonal correlations of ``x`` and ``y``.

    Each column is centred and divided by its std + 1e-5; C = Z^T Z / n; the diagonals
    are zeroed and the squared differences summed over d (d - 1) entries.
    """
    dim = x.shape[1]
    if dim < 2 or x.shape[0] < 2:
        return x.new_zeros(())
    mask = 1.0 - torch.eye(dim, device=x.device, dtype=x.dtype)
    c_x, c_y = _corr(x) * mask, _corr(y) * mask
    return (c_x - c_y).pow(2).sum() / (dim * (dim - 1))


def _corr(z: torch.Tensor) -> torch.Tensor:
    centred = z - z.mean(0, keepdim=True)
    standard = centred / (centred.std(0, keepdim=True) + _EPS)
    return standard.T @ standard / z.shape[0]  # (D, D)


def moments(z: torch.Tensor, count: int) -> torch.Tensor:
    """Per-column moments 1..count: mean, variance, then standardised moments; (count, D)."""
    mean = z.mean(0)
    centred = z - mean
    variance = centred.pow(2).mean(0)
    rows = [mean, variance][:count]
    standard = centred / (variance.sqrt() + _EPS)
    rows += [standard.pow(h).mean(0) for h in range(3, count + 1)]
    return torch.stack(rows)


def dst_loss(x: torch.Tensor, y: torch.Tensor, count: int) -> torch.Tensor:
    """Sum over h of (1/h)(1 - (m_h(y) + 1e-5) / (m_h(x) + 1e-5))^2, averaged over columns."""
    m_x, m_y = moments(x, count), moments(y, count)
    weights = 1.0 / torch.arange(1, count + 1, device=x.device, dtype=x.dtype)
    terms = (1.0 - (m_y + _EPS) / (m_x + _EPS)).pow(2)  # (count, D)
    return (weights[:, None] * terms).sum(0).mean()
