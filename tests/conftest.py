"""Shared fixtures: small test images made from scikit-image's bundled photos, tiny nets."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

# Fits record their throughput in a cache folder (deepprior.tasks.estimate): not the user's.
os.environ["DEEPPRIOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="deepprior-test-cache-")

SHARED = Path(__file__).resolve().parents[2] / "shared"
DATA = SHARED / "data"

# A small hourglass that fits a 64 px image in a few hundred steps on a CPU.
TINY = {"net_kwargs": {"n_d": [16, 16, 16], "n_s": 4, "depth": 3}, "progress": False}


def _crop(arr: np.ndarray, y: int, x: int, size: int) -> torch.Tensor:
    t = torch.from_numpy(arr[y : y + size, x : x + size].copy()).float() / 255.0
    return t.permute(2, 0, 1).contiguous() if t.dim() == 3 else t.unsqueeze(0)


@pytest.fixture(scope="session")
def photo() -> torch.Tensor:
    """A 64x64 RGB crop of scikit-image's astronaut (face and helmet: edges and texture)."""
    from skimage import data

    return _crop(data.astronaut(), 30, 170, 64)


@pytest.fixture(scope="session")
def coffee() -> torch.Tensor:
    """A 64x64 RGB crop of scikit-image's coffee (smooth shading: JPEG blocks show)."""
    from skimage import data

    return _crop(data.coffee(), 100, 200, 64)


@pytest.fixture(scope="session")
def gray_photo() -> torch.Tensor:
    """A 64x64 grayscale crop of scikit-image's cameraman."""
    from skimage import data

    return _crop(data.camera(), 80, 200, 64)


@pytest.fixture(autouse=True)
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.fixture
def tiny() -> dict:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}


@pytest.fixture
def one_thread():
    """Tiny fits run faster on one torch thread than on several (and alike everywhere)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
