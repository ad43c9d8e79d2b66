"""Denoising of the 9 CBM3D colour images (paper Sect. 3.1), RGB PSNR; the three DIP variants
(last iterate, EMA, EMA of two runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import baselines as bl
from .. import data as bd
from .registry import Table, register_table

if TYPE_CHECKING:
    from .runner import _Runner

# The paper's names of the sigma = 25 means -> ours.
_PAPER_NAMES = {"dip_last_iterate_1800": "dip_last", "dip_ema": "dip_ema",
                "dip_two_runs": "dip_two_runs", "cbm3d": "bm3d", "nlm": "nlm"}  # fmt: skip


@register_table("denoise")
class DenoiseTable(Table):
    """Gaussian noise of ``sigma`` /255 on every channel, seeded per image."""

    title_template = "Denoising, sigma = {sigma:g}, CBM3D9 (paper Sect. 3.1)"
    name_template = "denoise-CBM3D9-sigma{sigma:g}"
    dataset_of = "CBM3D9"
    setting_names = ("sigma",)
    fit_task = "denoise"
    paper_at = {"sigma": 25.0}  # the paper gives sigma = 25 only, as a mean

    def paper_numbers(self, paper: dict[str, Any], name: str, out: dict[str, Any]) -> None:
        block = paper["denoise_sigma25"]["CBM3D9"]
        out["mean_only"] = {_PAPER_NAMES[k]: v for k, v in block.items() if k in _PAPER_NAMES}

    def run(self, item: dict[str, Any], run: _Runner) -> dict[str, Any]:
        from ...io import load_image
        from ...ops import add_gaussian_noise
        from ...tasks import get_task
        from ...tasks.restoration import denoise
        from ...tiling import solve_maybe_tiled
        from ..zsn2n import zs_n2n_denoise

        opts = self.opts
        gt = load_image(item["image"], channels=3)
        if opts.quick:
            gt = bd.center_crop(gt, opts.quick_size)
        sigma = opts.sigma / 255.0
        noisy = add_gaussian_noise(gt, sigma, seed=bd.image_seed(opts.seed, item["name"]))
        kw = run.fit_kwargs(gt)
        # As the CLI runs it: in tiles where the preset says so (the auto preset's).
        one = run.fit("dip", solve_maybe_tiled, get_task("denoise"), noisy, **kw)
        if opts.custom_preset:  # the preset's own output (e.g. auto's stopped best), one run
            run.images["dip"] = one.image
        if one.ema is not None:  # a tiled fit returns its blended output only
            run.images["dip_last"], run.images["dip_ema"] = one.last, one.ema
        if not opts.custom_preset:
            two = run.fit("dip_two_runs", denoise, noisy, restarts=2, **kw)
            run.images["dip_two_runs"], run.images["dip_two_runs_last"] = two.ema, two.last
        for name, fn in bl.DENOISE_BASELINES.items():
            run.baseline(name, fn, noisy, sigma)
        # The zero-shot peer: a tiny net trained on the one noisy image (blind to sigma).
        run.baseline("zs_n2n", zs_n2n_denoise, noisy, 20 if opts.quick else 2000)
        run.images["input"] = noisy
        return {"ref": gt, "extra": {}, "sizes": {"image": list(gt.shape)}}
