"""Zero-Shot Noise2Noise (Mansour and Heckel, CVPR 2023): the single-image peer of DIP.

The noisy image is split into two half-resolution images by two fixed 2x2 diagonal averaging
kernels (stride 2). Their noise is independent while their content is nearly the same, so a
tiny net trained to map one to the other learns to remove the noise (Noise2Noise) without a
clean image. The net predicts the noise (residual), and a consistency term asks that
"denoise, then downsample" agrees with "downsample, then denoise".

Example:
    >>> noisy = torch.rand(3, 32, 32)
    >>> zs_n2n_denoise(noisy, steps=2).shape
    torch.Size([3, 32, 32])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..memory import keep_cpu_heap_on

__all__ = ["ZSN2NNet", "pair_downsample", "zs_n2n_loss", "zs_n2n_denoise"]


def pair_downsample(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two half-resolution images of ``x`` (N, C, H, W): means of the 2x2 diagonals.

    Example:
        >>> a, b = pair_downsample(torch.arange(4.0).view(1, 1, 2, 2))
        >>> float(a), float(b)
        (1.5, 1.5)
    """
    c = x.shape[1]
    k1 = torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=x.dtype, device=x.device)
    k2 = torch.tensor([[0.5, 0.0], [0.0, 0.5]], dtype=x.dtype, device=x.device)
    k1 = k1.expand(c, 1, 2, 2)
    k2 = k2.expand(c, 1, 2, 2)
    return F.conv2d(x, k1, stride=2, groups=c), F.conv2d(x, k2, stride=2, groups=c)


class ZSN2NNet(nn.Module):
    """conv3x3 -> 48, LeakyReLU, conv3x3 -> 48, LeakyReLU, conv1x1 -> C (about 22 k weights)."""

    def __init__(self, channels: int = 3, width: int = 48) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, channels, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted noise of ``x``."""
        return self.body(x)


def zs_n2n_loss(net: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """Residual loss between the two halves plus the down-sampling consistency loss."""
    y1, y2 = pair_downsample(y)
    p1, p2 = y1 - net(y1), y2 - net(y2)
    residual = 0.5 * (F.mse_loss(y1, p2) + F.mse_loss(y2, p1))
    d1, d2 = pair_downsample(y - net(y))
    consistency = 0.5 * (F.mse_loss(p1, d1) + F.mse_loss(p2, d2))
    return residual + consistency


def zs_n2n_denoise(
    noisy: torch.Tensor, steps: int = 2000, lr: float = 1e-3, seed: int = 0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:  # fmt: skip
    """Denoise one (C, H, W) image in [0, 1] with Zero-Shot Noise2Noise.

    Adam at ``lr``, halved after half the steps (the authors' step schedule), fp32.

    Args:
        noisy: the noisy image; its sides are cropped to even sizes for the pairs and the
            full image is denoised.
        steps: Adam steps (the paper's 2000).
        lr: learning rate.
        seed: seeds the net's initial weights.
        device: where to train.

    Returns:
        The denoised image, (C, H, W) float32 in [0, 1] on the CPU.
    """
    torch.manual_seed(seed)
    y = noisy.float().unsqueeze(0).to(device)
    # the allocator DIP's fits get: about a dozen 48-channel float32 images of the input's
    # size are alive at once
    keep_cpu_heap_on(y.device, 12 * 48 * 4 * y.shape[-2] * y.shape[-1])
    h, w = (y.shape[-2] // 2) * 2, (y.shape[-1] // 2) * 2
    y_even = y[..., :h, :w]
    net = ZSN2NNet(y.shape[1]).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, steps // 2), gamma=0.5)
    for _ in range(steps):
        loss = zs_n2n_loss(net, y_even)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        out = (y - net(y)).clamp(0, 1)
    return out[0].cpu().contiguous()
