"""Super-resolution x4 / x8 on Set5 and Set14 (paper Tables 1 and 2), Y-PSNR, 4-px border."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import DeepPriorError
from .. import baselines as bl
from .. import data as bd
from .options import SR_HR_MULTIPLE
from .registry import Table, register_table

if TYPE_CHECKING:
    from .runner import _Runner

# Methods of the paper's SR tables that this benchmark runs too (the rest: paper only).
_OURS = {"dip", "bicubic", "no_prior", "tv_prior"}


@register_table("sr")
class SRTable(Table):
    """DIP, the interpolation baselines, no prior and TV prior on the authors' crops."""

    title_template = "Super-resolution x{factor} on {dataset} (paper Tables 1-2)"
    name_template = "sr-{dataset}-x{factor}"
    setting_names = ("dataset", "factor")
    preset_task = "sr"

    @property
    def dataset(self) -> str:
        return self.opts.dataset

    def validate(self) -> None:
        if self.opts.dataset not in ("Set5", "Set14"):
            raise DeepPriorError(f"--dataset must be Set5 or Set14, got {self.opts.dataset!r}")
        if self.opts.factor not in (4, 8):
            raise DeepPriorError(f"--factor must be 4 or 8, got {self.opts.factor}")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "hr_multiple": SR_HR_MULTIPLE}

    def preset_params(self) -> dict[str, Any]:
        return {"factor": self.opts.factor}

    def paper_numbers(self, paper: dict[str, Any], name: str, out: dict[str, Any]) -> None:
        block = paper["sr"][self.opts.dataset]
        idx = block["images"].index(name)
        for key, vals in block["factors"][str(self.opts.factor)].items():
            (out["per_image"] if key in _OURS else out["paper_only"])[key] = vals[idx]

    def run(self, item: dict[str, Any], run: _Runner) -> dict[str, Any]:
        from ...io import load_image
        from ...tasks.restoration import super_resolve

        opts, t = self.opts, self.opts.factor
        hr = load_image(item["image"])
        hr = bd.center_crop_to_multiple(hr, SR_HR_MULTIPLE)  # the authors' crop
        if opts.quick:
            hr = bd.center_crop(hr, opts.quick_size, multiple=t)
        lr = bd.lanczos_lr_8bit(hr, t)
        kw = run.fit_kwargs(hr)
        run.images["dip"] = run.fit("dip", super_resolve, lr, t, **kw).image
        for name, fn in bl.SR_BASELINES.items():
            run.baseline(name, fn, lr, t)
        if opts.baselines:
            for name, prior in (("no_prior", "none"), ("tv_prior", "tv")):
                pix = run.pixel_fit_kwargs(kw, self.default_preset)
                run.images[name] = run.fit(name, super_resolve, lr, t, prior=prior, **pix).image
        return {"ref": hr, "extra": {}, "sizes": {"hr": list(hr.shape), "lr": list(lr.shape)}}
