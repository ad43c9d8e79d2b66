"""Colour post-filters: the chroma of a restored image, smoothed where its luma says so.

In natural photos the chroma (colour difference) varies far less than the luma, and where it
varies it mostly follows the luma's edges. A DIP fit does not know this: it fits all three
channels alike, so residual noise stays in the chroma. :func:`chroma_guided` replaces each
chroma channel by a guided filter of it (He et al., "Guided Image Filtering", ECCV 2010) with
the luma as the guide: within each small window the chroma becomes the best affine function
of the luma, so a chroma edge that follows a luma edge is kept and chroma noise is averaged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: The orthonormal opponent-colour transform (luma, red-blue, green-magenta): noise that is
#: white in RGB stays white, and of the same level, in these channels.
OPPONENT = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]])
OPPONENT = OPPONENT / OPPONENT.norm(dim=1, keepdim=True)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """The mean over a (2r+1)² window, the border mirrored."""
    k = 2 * radius + 1
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="reflect"), k, stride=1)


def chroma_guided(image: torch.Tensor, radius: int = 1, eps: float = 1e-3) -> torch.Tensor:
    """Guided-filter the chroma of an RGB image with its luma as the guide.

    Args:
        image: (3, H, W) or (N, 3, H, W) RGB in [0, 1]; H and W above ``radius``.
        radius: the window's half side (1: 3×3 windows).
        eps: the guided filter's regulariser: a window whose luma varies less than this
            (a variance) gets its mean chroma; one that varies more keeps the chroma's
            affine dependence on the luma.

    Returns:
        The image with the same luma and filtered chroma, clamped to [0, 1].

    Example:
        >>> gray = torch.rand(1, 16, 16).expand(3, 16, 16)  # no chroma: nothing to filter
        >>> torch.allclose(chroma_guided(gray), gray, atol=1e-6)
        True
    """
    x = image.unsqueeze(0) if image.dim() == 3 else image
    m = OPPONENT.to(x.device, torch.float32)
    opp = torch.einsum("ij,njhw->nihw", m, x.float())
    guide, chroma = opp[:, :1], opp[:, 1:]
    mean_g, mean_c = _box(guide, radius), _box(chroma, radius)
    cov = _box(guide * chroma, radius) - mean_g * mean_c
    var = _box(guide * guide, radius) - mean_g * mean_g
    a = cov / (var + eps)
    b = mean_c - a * mean_g
    filtered = _box(a, radius) * guide + _box(b, radius)
    out = torch.einsum("ji,njhw->nihw", m, torch.cat([guide, filtered], 1)).clamp(0, 1)
    return out.to(image.dtype).reshape(image.shape)
