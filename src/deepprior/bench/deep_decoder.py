"""Deep Decoder (Heckel and Hand, ICLR 2019): an under-parameterised untrained generator.

A small fixed random tensor (``k`` channels at 1/32 of the image's sides) passes through
levels of "1x1 convolution, bilinear 2x upsampling, ReLU, channel normalisation"; a last 1x1
convolution and a sigmoid give the image. There is no spatial convolution at all: the
upsampling is the prior. With about 100 k weights (``k = 128``) the net cannot fit the noise
well, so the authors fit it for a fixed 1900 Adam steps at LR 0.01 and take the result,
without early stopping on a clean image. It is a peer of DIP in the denoising table.

Example:
    >>> noisy = torch.rand(3, 40, 48)
    >>> deep_decoder_denoise(noisy, steps=2, channels=8).shape
    torch.Size([3, 40, 48])
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..memory import keep_cpu_heap_on

__all__ = ["DeepDecoder", "deep_decoder_denoise"]


class DeepDecoder(nn.Module):
    """The deep decoder for an output of ``size`` (H, W).

    Args:
        size: the output's (H, W); any size: each level upsamples to the next of the sizes
            ``ceil(H / 2**j)`` so the last one is exactly (H, W).
        out_channels: the image's channels.
        channels: ``k``, the channels of every level (the authors' denoiser: 128).
        levels: the number of 2x upsamplings (the authors': 5).

    Example:
        >>> net = DeepDecoder((64, 64), channels=128)
        >>> sum(p.numel() for p in net.parameters())  # 6 mixing layers, norms, the output
        100224
        >>> net(net.input).shape
        torch.Size([1, 3, 64, 64])
    """

    def __init__(
        self, size: tuple[int, int], out_channels: int = 3, channels: int = 128, levels: int = 5
    ) -> None:
        super().__init__()
        h, w = size
        #: the spatial size of each level, coarsest first, the output's last
        self.sizes = [(math.ceil(h / 2**j), math.ceil(w / 2**j)) for j in range(levels, -1, -1)]
        self.mix = nn.ModuleList(
            nn.Conv2d(channels, channels, 1, bias=False) for _ in range(levels + 1)
        )
        self.norm = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(levels + 1))
        self.out = nn.Conv2d(channels, out_channels, 1, bias=False)
        # The fixed input: uniform noise in [0, 0.1) at the coarsest size (a buffer, not fitted).
        self.register_buffer("input", torch.rand(1, channels, *self.sizes[0]) * 0.1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The image (1, C, H, W) in (0, 1) generated from ``z``, normally ``self.input``."""
        x = z
        for j, (mix, norm) in enumerate(zip(self.mix, self.norm, strict=True)):
            x = mix(x)
            if j + 1 < len(self.sizes):
                x = F.interpolate(x, size=self.sizes[j + 1], mode="bilinear", align_corners=False)
            # Channel normalisation over the one image's pixels (batch statistics, as trained).
            x = norm(F.relu(x))
        return torch.sigmoid(self.out(x))


def deep_decoder_denoise(
    noisy: torch.Tensor, steps: int = 1900, lr: float = 0.01, channels: int = 128,
    seed: int = 0, device: str | torch.device = "cpu",
) -> torch.Tensor:  # fmt: skip
    """Denoise one (C, H, W) image in [0, 1] with a deep decoder fitted by Adam (fp32).

    Args:
        noisy: the noisy image.
        steps: Adam steps (the authors' denoising notebook: 1900); the last iterate is
            returned, as the authors' rule (keep a net whose training loss is at least 0.5 %
            lower than any before) picks a late one.
        lr: Adam's learning rate (the authors': 0.01, constant).
        channels: ``k`` (the authors': 128).
        seed: seeds the weights and the fixed input.
        device: where to fit.

    Returns:
        The denoised image, (C, H, W) float32 in [0, 1] on the CPU.
    """
    torch.manual_seed(seed)
    y = noisy.float().unsqueeze(0).to(device)
    # the allocator DIP's fits get: about a dozen k-channel float32 images of the input's
    # size are alive at once
    keep_cpu_heap_on(y.device, 12 * channels * 4 * y.shape[-2] * y.shape[-1])
    net = DeepDecoder(tuple(y.shape[-2:]), y.shape[1], channels).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.mse_loss(net(net.input), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = net(net.input)
    return out[0].cpu().contiguous()
