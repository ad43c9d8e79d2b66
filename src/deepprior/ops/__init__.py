"""Forward operators, degradations, masks and hand-crafted priors.

* :mod:`~deepprior.ops.operators` — ``A`` in the data term ``||A(x) - x0||²``:
  :class:`Identity`, :class:`Downsample` (Lanczos2 / bicubic / box), :class:`Mask`.
* :mod:`~deepprior.ops.lanczos` — the Lanczos-2 decimation kernel (SPEC §6).
* :mod:`~deepprior.ops.degrade` — making degraded observations: noise, JPEG, PIL resizes.
* :mod:`~deepprior.ops.masks` — inpainting masks (1 = known pixel).
* :mod:`~deepprior.ops.priors` — total variation.
* :mod:`~deepprior.ops.data_terms` — :class:`DataTerm`, the fitting loss.
* :mod:`~deepprior.ops.color` — colour post-filters (:func:`chroma_guided`).
* :mod:`~deepprior.ops.wiener` — empirical Wiener filtering with a pilot (:func:`dct_wiener`).
* :mod:`~deepprior.ops.post` — the post-filters a preset may chain (``POST_FILTERS``).
"""

from deepprior.ops.color import chroma_guided
from deepprior.ops.data_terms import DataTerm
from deepprior.ops.degrade import (
    RESAMPLE_METHODS,
    add_gaussian_noise,
    crop_to_multiple,
    downscale,
    estimate_noise_sigma,
    jpeg_compress,
    upscale,
)
from deepprior.ops.lanczos import lanczos2, lanczos2_kernel_1d, lanczos2_kernel_2d
from deepprior.ops.masks import DEFAULT_MASK_TEXT, bernoulli_mask, box_mask, text_mask
from deepprior.ops.operators import (
    DOWNSAMPLE_KERNELS,
    LANCZOS2_FACTORS,
    Downsample,
    Identity,
    Mask,
    Operator,
)
from deepprior.ops.post import POST_FILTERS, post_chain
from deepprior.ops.priors import TVPenalty, total_variation, with_tv
from deepprior.ops.wiener import dct_wiener

__all__ = [
    "POST_FILTERS",
    "chroma_guided",
    "dct_wiener",
    "post_chain",
    "DataTerm",
    "DEFAULT_MASK_TEXT",
    "DOWNSAMPLE_KERNELS",
    "LANCZOS2_FACTORS",
    "RESAMPLE_METHODS",
    "Downsample",
    "Identity",
    "Mask",
    "Operator",
    "TVPenalty",
    "with_tv",
    "add_gaussian_noise",
    "bernoulli_mask",
    "box_mask",
    "crop_to_multiple",
    "downscale",
    "estimate_noise_sigma",
    "jpeg_compress",
    "lanczos2",
    "lanczos2_kernel_1d",
    "lanczos2_kernel_2d",
    "text_mask",
    "total_variation",
    "upscale",
]
