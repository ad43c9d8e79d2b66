"""The inpainting tables: restoration from 50% random pixels on Heide11 (paper Table 3),
text inpainting of kate (Fig. 11) and large holes in vase and library (Fig. 10)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import baselines as bl
from .. import data as bd
from .registry import Table, register_table

if TYPE_CHECKING:
    from .runner import _Runner


class _MaskedTable(Table, ABC):
    """A table whose input is the clean image times a mask (1 = known): DIP, the inpainting
    baselines and TV prior."""

    preset_task = "inpaint"

    @abstractmethod
    def inputs(self, item: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The clean image and the mask of one image, as the table measures them."""

    def fit_function(self) -> Callable[..., Any]:
        """The restoration function the fits call as ``fn(masked, mask, **kw)``."""
        from ...tasks.restoration import inpaint

        return inpaint

    def run(self, item: dict[str, Any], run: _Runner) -> dict[str, Any]:
        gt, mask = self.inputs(item)
        masked = gt * mask
        kw = run.fit_kwargs(gt)
        fn = self.fit_function()
        run.images["dip"] = run.fit("dip", fn, masked, mask, **kw).image
        for name, bfn in bl.INPAINT_BASELINES.items():
            run.baseline(name, bfn, masked, mask)
        if self.opts.baselines:
            pix = run.pixel_fit_kwargs(kw, self.default_preset)
            run.images["tv_prior"] = run.fit("tv_prior", fn, masked, mask, prior="tv", **pix).image
        run.images["input"] = masked
        return {
            "ref": gt, "extra": {"mask": mask},
            "sizes": {"image": list(gt.shape)}, "known_fraction": round(float(mask.mean()), 4),
        }  # fmt: skip


@register_table("inpaint")
class RandomPixelsTable(_MaskedTable):
    """Heide11 in grayscale with a Bernoulli mask keeping ``p_known`` of the pixels."""

    title_template = "Restoration from {pct:g}% random pixels, Heide11 (paper Table 3)"
    name_template = "inpaint-Heide11-{percent}pct"
    dataset_of = "Heide11"
    setting_names = ("p_known",)
    fit_task = "restore"
    paper_at = {"p_known": 0.5}  # the paper's table is at 50% only

    def paper_numbers(self, paper: dict[str, Any], name: str, out: dict[str, Any]) -> None:
        block = paper["inpaint_50pct"]["Heide11"]
        idx = block["images"].index(name)
        for key, vals in block["methods"].items():
            (out["per_image"] if key == "dip" else out["paper_only"])[key] = vals[idx]

    def fit_function(self) -> Callable[..., Any]:
        from ...tasks.restoration import restore

        return restore

    def inputs(self, item: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        from ...io import load_image
        from ...ops import bernoulli_mask

        opts = self.opts
        gt = load_image(item["image"], channels=1)
        if opts.quick:
            gt = bd.center_crop(gt, opts.quick_size)
        seed = bd.image_seed(opts.seed, item["name"])
        return gt, bernoulli_mask(tuple(gt.shape[-2:]), opts.p_known, seed=seed)


class _ExampleTable(_MaskedTable):
    """The authors' example images with their masks (white = known), in colour."""

    dataset_of = "dip-examples"
    images: tuple[str, ...] = ()

    def image_names(self) -> list[str]:
        return list(self.images)

    def item(self, data_dir: Path, index: int, name: str) -> dict[str, Any]:
        img, mask = bd.dip_example(data_dir, name)
        return {"name": name, "index": index, "dataset": self.dataset, "image": str(img),
                "mask": str(mask)}  # fmt: skip

    def quick_inputs(
        self, gt: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``--quick`` version of an image and its mask: a crop around the hole."""
        return bd.crop_around_hole(gt, mask, self.opts.quick_size)

    def inputs(self, item: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        from ...io import check_mask, load_image, load_mask

        gt = load_image(item["image"], channels=3)
        mask = load_mask(item["mask"], tuple(gt.shape[-2:]))
        if self.opts.quick:
            gt, mask = self.quick_inputs(gt, mask)
        check_mask(mask, f"the mask of {item['name']}")
        return gt, mask


@register_table("text-inpaint")
class TextTable(_ExampleTable):
    """kate with the authors' text mask: whole-image PSNR."""

    title_template = "Text inpainting, kate (paper Fig. 11)"
    default_preset = "text"
    images = ("kate",)


@register_table("holes")
class HolesTable(_ExampleTable):
    """vase and library with the authors' hole masks: PSNR inside the hole."""

    title_template = "Large-hole inpainting, vase and library (paper Fig. 10)"
    default_preset = "holes"
    images = ("vase", "library")

    def quick_inputs(
        self, gt: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # A crop could miss the hole or fall inside it: shrink the whole picture instead.
        size = self.opts.quick_size
        return bd.shrink(gt, size), (bd.shrink(mask, size) > 0.5).float()
