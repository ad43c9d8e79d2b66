"""The random streams of a fit, each derived from its one seed.

Data made with a seeded generator (``add_gaussian_noise(img, sigma, seed=s)``, a random
mask) draws from ``torch.Generator().manual_seed(s)``. A fit with the same seed must not draw
its input z or its input perturbations from that very stream: z would then be made of the
same random numbers as the noise, pixel for pixel, and the net could fit the noise through
its input, held-out pixels included. So each stream of a fit starts at its own offset from
the seed.
"""

from __future__ import annotations

#: The offsets of a fit's streams (arbitrary constants, far apart).
INPUT_STREAM = 0x1F123BB5  # z
PERTURB_STREAM = 0x2545F491  # the per-step perturbations of z
MASK_STREAM = 0x5DEECE66D  # the held-out pixels of the stopping rule


def stream_seed(seed: int, stream: int) -> int:
    """The seed of ``stream`` for a fit seeded ``seed``.

    Example:
        >>> stream_seed(0, INPUT_STREAM) != stream_seed(0, PERTURB_STREAM) != 0
        True
    """
    return (int(seed) + stream) % 2**63
