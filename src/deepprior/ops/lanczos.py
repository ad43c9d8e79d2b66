"""The Lanczos-2 decimation kernel used by the super-resolution data term (SPEC §3, §6).

It lives in :mod:`deepprior.kernels` (the generators use it too); this module re-exports it.
"""

from deepprior.kernels import lanczos2, lanczos2_kernel_1d, lanczos2_kernel_2d

__all__ = ["lanczos2", "lanczos2_kernel_1d", "lanczos2_kernel_2d"]
