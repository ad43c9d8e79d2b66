"""Where the benchmark images live, and how the degraded inputs of the tables are made.

The standard layout (the one in ``../shared/data`` of this project) is::

    DATA/Set5/baby.png ...            HR images, sides trimmed to multiples of 4
    DATA/Set14/baboon.png ...
    DATA/CBM3D9/kodim01.png ...       the 9 colour images of the CBM3D benchmark
    DATA/Heide11/barbara.png ...      the 11 grayscale images of Table 3
    DATA/dip-examples/inpainting/kate.png, kate_mask.png, vase*.png, library*.png
    DATA/MANIFEST.tsv                 sha256 of every file (optional; checked when present)

``DATA`` is ``--data-dir``, else the environment variable ``DEEPPRIOR_DATA``, else
``../shared/data`` next to the repository (or next to the current folder). A fresh clone of
the upstream repositories works too: the SR sets are also found under their SelfExSR names
(``Set5/image_SRF_4/img_001_SRF_4_HR.png``) and the authors' examples under ``data/``
(``data/inpainting/kate.png``). See :data:`FETCH_HINT` and docs/benchmarks.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import DeepPriorError
from ..ops import crop_to_multiple

ENV_DATA = "DEEPPRIOR_DATA"
ENV_REFERENCE = "DEEPPRIOR_REFERENCE"

#: One line on how to get the public data sets (the errors end with it).
FETCH_HINT = (
    "get the public sets with `git clone https://github.com/jbhuang0604/SelfExSR` (Set5, Set14 "
    "in data/), `git clone https://github.com/DmitryUlyanov/deep-image-prior` (dip-examples: "
    "its data/ folder), the Kodak/BM3D test images for CBM3D9 and Heide11 "
    "(github.com/cszn/IRCNN testsets/Set24, github.com/Ryanshuai/BM3D_py test_images), then "
    "pass --data-dir or set DEEPPRIOR_DATA (see docs/benchmarks.md)"
)

#: Image stems per data set, in the order of the paper's tables.
DATASETS: dict[str, list[str]] = {
    "Set5": ["baby", "bird", "butterfly", "head", "woman"],
    "Set14": [
        "baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers", "foreman",
        "lenna", "man", "monarch", "pepper", "ppt3", "zebra",
    ],
    "CBM3D9": [
        "kodim01", "kodim02", "kodim03", "kodim12", "image_Lena512rgb", "image_F16_512rgb",
        "image_Peppers512rgb", "image_House256rgb", "image_Baboon512rgb",
    ],
    "Heide11": [
        "barbara", "boat", "house", "Lena512", "peppers256", "Cameraman256", "couple",
        "fingerprint", "hill", "man", "montage",
    ],
}  # fmt: skip

# The authors' examples used by the inpainting tables: image, mask (white = known).
DIP_EXAMPLES: dict[str, tuple[str, str]] = {
    "kate": ("inpainting/kate.png", "inpainting/kate_mask.png"),
    "vase": ("inpainting/vase.png", "inpainting/vase_mask.png"),
    "library": ("inpainting/library.png", "inpainting/library_mask.png"),
}


def repo_root() -> Path | None:
    """The source checkout this module runs from (None when installed elsewhere)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def _candidates() -> list[Path]:
    out: list[Path] = []
    root = repo_root()
    if root is not None:
        out.append(root.parent / "shared" / "data")
    cwd = Path.cwd()
    out += [cwd.parent / "shared" / "data", cwd / "shared" / "data"]
    seen: list[Path] = []
    for p in out:
        if p.resolve() not in [s.resolve() for s in seen]:
            seen.append(p)
    return seen


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: ``data_dir``, else ``$DEEPPRIOR_DATA``, else ``../shared/data``.

    Raises:
        DeepPriorError: the folder does not exist; the message says where it looked and how
            to fetch the sets.
    """
    if data_dir is not None:
        looked, origin = [Path(data_dir).expanduser()], "--data-dir"
    elif os.environ.get(ENV_DATA):
        looked, origin = [Path(os.environ[ENV_DATA]).expanduser()], f"${ENV_DATA}"
    else:
        looked, origin = _candidates(), "the default places"
    for p in looked:
        if p.is_dir():
            return p.resolve()
    where = ", ".join(str(p) for p in looked)
    raise DeepPriorError(f"no benchmark data folder (looked in {origin}: {where}); {FETCH_HINT}")


def _first_existing(base: Path, rels: list[str]) -> Path | None:
    for rel in rels:
        p = base / rel
        if p.is_file():
            return p
    return None


def _missing(what: str, base: Path, rels: list[str]) -> DeepPriorError:
    where = ", ".join(str(base / r) for r in rels)
    return DeepPriorError(f"{what} is missing (looked for {where}); {FETCH_HINT}")


def dataset_image(data_dir: Path, dataset: str, name: str) -> Path:
    """Path of image ``name`` of ``dataset`` (Set5, Set14, CBM3D9, Heide11) in ``data_dir``."""
    if dataset not in DATASETS:
        raise DeepPriorError(f"unknown data set {dataset!r}; choose one of {', '.join(DATASETS)}")
    rels = [f"{dataset}/{name}.png"]
    if dataset in ("Set5", "Set14") and name in DATASETS[dataset]:
        i = DATASETS[dataset].index(name) + 1
        # SelfExSR's own layout, for a fresh clone of its data/ folder.
        rels.append(f"{dataset}/image_SRF_4/img_{i:03d}_SRF_4_HR.png")
    if not (data_dir / dataset).is_dir():
        raise DeepPriorError(
            f"data set {dataset} is missing: no folder {data_dir / dataset}; {FETCH_HINT}"
        )
    found = _first_existing(data_dir, rels)
    if found is None:
        raise _missing(f"image {name} of {dataset}", data_dir, rels)
    return found


def dip_example(data_dir: Path, name: str) -> tuple[Path, Path]:
    """Image and mask paths of the authors' example ``name`` (kate, vase, library)."""
    image_rel, mask_rel = DIP_EXAMPLES[name]
    out = []
    for rel in (image_rel, mask_rel):
        rels = [f"dip-examples/{rel}", f"data/{rel}", rel]
        found = _first_existing(data_dir, rels)
        if found is None:
            raise _missing(f"example {name} ({Path(rel).name})", data_dir, rels)
        out.append(found)
    return out[0], out[1]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_sha(data_dir: Path, path: Path) -> str | None:
    """The expected sha256 of ``path`` from the MANIFEST.tsv files, or None if not listed."""
    try:
        rel = path.resolve().relative_to(data_dir.resolve())
    except ValueError:
        return None
    parts = rel.parts
    if parts and parts[0] == "dip-examples":
        manifest = data_dir / "dip-examples" / "MANIFEST.tsv"
        key = "data/" + "/".join(parts[1:])
        field_file, field_set = "relative_path", None
    else:
        manifest = data_dir / "MANIFEST.tsv"
        key = "/".join(parts[1:])
        field_file, field_set = "file", parts[0] if parts else None
    if not manifest.is_file():
        return None
    with open(manifest, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if field_set is not None and row.get("set") != field_set:
                continue
            if row.get(field_file) == key:
                return row.get("sha256")
    return None


def file_info(data_dir: Path, path: Path) -> dict[str, Any]:
    """Where an input came from: path, sha256 and whether it matches the manifest."""
    digest = sha256(path)
    expected = manifest_sha(data_dir, path)
    return {
        "path": str(path),
        "sha256": digest,
        "manifest_match": None if expected is None else expected == digest,
    }


def image_seed(seed: int, name: str) -> int:
    """A per-image seed for the degradation (noise, masks), stable under --limit."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31 - 1)


# --------------------------------------------------------------------------------------------
# Paper numbers
# --------------------------------------------------------------------------------------------


def find_paper_tables(data_dir: Path | None = None) -> Path | None:
    """``paper_tables.json``: ``$DEEPPRIOR_REFERENCE``, next to the data, or ../shared."""
    cands: list[Path] = []
    if os.environ.get(ENV_REFERENCE):
        cands.append(Path(os.environ[ENV_REFERENCE]).expanduser())
    if data_dir is not None:
        cands.append(data_dir.parent / "reference" / "paper_tables.json")
    root = repo_root()
    if root is not None:
        cands.append(root.parent / "shared" / "reference" / "paper_tables.json")
    cands.append(Path.cwd().parent / "shared" / "reference" / "paper_tables.json")
    for p in cands:
        if p.is_dir():
            p = p / "paper_tables.json"
        if p.is_file():
            return p
    return None


def load_paper_tables(data_dir: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """The paper's numbers (empty when the file is not found) and the file they came from."""
    p = find_paper_tables(data_dir)
    if p is None:
        return {}, None
    with open(p) as f:
        return json.load(f), str(p)


# --------------------------------------------------------------------------------------------
# Degradations and crops
# --------------------------------------------------------------------------------------------


def lanczos_lr_8bit(hr: torch.Tensor, factor: int) -> torch.Tensor:
    """The LR input as the authors made it: an 8-bit PIL image resized by 1/factor with
    ``Image.LANCZOS`` (Lanczos-3, antialiased), read back as floats in [0, 1].

    :func:`deepprior.ops.downscale` resizes in float mode (no 8-bit rounding); the authors'
    notebook resized the 8-bit PIL image, so the LR input is quantised to 8 bits.
    """
    c, h, w = hr.shape
    if h % factor or w % factor:
        raise DeepPriorError(f"HR size {w}x{h} is not divisible by the factor {factor}")
    a = (hr.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(a[..., 0] if c == 1 else np.ascontiguousarray(a))
    lr = pil.resize((w // factor, h // factor), Image.Resampling.LANCZOS)
    arr = np.asarray(lr, dtype=np.float32) / 255.0
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1).contiguous()


def center_crop(img: torch.Tensor, size: int, multiple: int = 1) -> torch.Tensor:
    """A centred ``size`` x ``size`` crop (smaller sides kept), sides cut to ``multiple``."""
    h, w = img.shape[-2:]
    ch, cw = min(h, size), min(w, size)
    ch, cw = ch - ch % multiple, cw - cw % multiple
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[..., top : top + ch, left : left + cw]


def center_crop_to_multiple(img: torch.Tensor, multiple: int) -> torch.Tensor:
    """The largest centred crop whose sides divide by ``multiple`` (the authors' ``crop_image``:
    the offsets are rounded down)."""
    return center_crop(img, max(img.shape[-2:]), multiple=multiple)


def crop_around_hole(
    img: torch.Tensor, mask: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``size`` x ``size`` crop of ``img`` and ``mask`` centred on the middle unknown pixel
    (mask = 0, in row-major order), kept inside the image: the crop always has some hole."""
    h, w = img.shape[-2:]
    ch, cw = min(h, size), min(w, size)
    hole = (mask[0] < 0.5).nonzero()
    cy, cx = (h // 2, w // 2) if len(hole) == 0 else (int(v) for v in hole[len(hole) // 2])
    top = min(max(cy - ch // 2, 0), h - ch)
    left = min(max(cx - cw // 2, 0), w - cw)
    win = (..., slice(top, top + ch), slice(left, left + cw))
    return img[win], mask[win]


def shrink(img: torch.Tensor, short_side: int) -> torch.Tensor:
    """Box-filter ``img`` down by the integer factor that brings its short side nearest to
    ``short_side`` (the sides are first cut to multiples of that factor)."""
    h, w = img.shape[-2:]
    k = max(1, round(min(h, w) / short_side))
    if k == 1:
        return img
    x = crop_to_multiple(img, k)
    return torch.nn.functional.avg_pool2d(x.unsqueeze(0), k)[0]
