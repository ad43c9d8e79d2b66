"""Generators: shapes, parameter counts, any input size, registry, inputs z."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepprior.errors import DeepPriorError
from deepprior.nets import (
    Hourglass,
    canvas_size,
    create_net,
    list_nets,
    meshgrid_input,
    min_image_side,
    noise_input,
)
from deepprior.nets.inputs import guide_input


def test_sr_default_has_about_2_2_million_parameters():
    net = create_net("skip", 32, 3)
    n = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert 2.1e6 < n < 2.3e6, n
    assert net.stride == 32


def test_registry_lists_all_architectures():
    names = set(list_nets())
    assert {
        "skip",
        "hourglass",
        "hourglass2",
        "hourglass4",
        "hourglass6",
        "unet",
        "resnet",
    } <= names
    assert {"jpeg", "inpaint-depth", "preimage", "actmax", "pixels"} <= names


def test_unknown_net_is_a_clear_error():
    with pytest.raises(DeepPriorError, match="unknown net 'nope'; choose one of"):
        create_net("nope")


def test_bad_net_settings_are_a_clear_error():
    with pytest.raises(DeepPriorError, match="n_s has 2 entries but the net has 5 levels"):
        create_net("skip", n_s=[1, 2])
    with pytest.raises(DeepPriorError, match="unknown upsampling"):
        create_net("skip", upsample="cubic")


@pytest.mark.parametrize(
    ("name", "kw", "message"),
    [
        ("skip", {"n_d": "abc"}, "n_d must be an integer >= 1, or a list of them"),
        ("skip", {"n_s": -1}, "n_s must be an integer >= 0"),
        ("skip", {"k_d": [3, 3, 4, 3, 3]}, "k_d must be an odd integer"),
        ("skip", {"k_u": 2.5}, "k_u must be an odd integer"),
        ("skip", {"depth": 0}, "needs at least one level"),
        ("unet", {"widths": []}, "widths must be a non-empty list of integers >= 1"),
        ("resnet", {"width": 0}, "width must be an integer >= 1; got 0"),
        ("resnet", {"blocks": [2]}, "blocks must be an integer >= 0; got"),
    ],
)
def test_bad_widths_and_kernels_are_a_clear_error(name, kw, message):
    # Without the check these fail deep inside torch (or with a string-formatting error).
    with pytest.raises(DeepPriorError, match=message):
        create_net(name, 8, 3, **kw)


@pytest.mark.parametrize("name", ["skip", "hourglass2", "hourglass4", "unet", "resnet", "jpeg"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_net_maps_canvas_to_image_shape(name, channels):
    kw = {} if name in ("unet", "resnet") else {"n_d": 8, "n_s": 0 if "hourglass" in name else 2}
    if name == "jpeg":
        kw = {}
    if name == "unet":
        kw = {"widths": (4, 8, 8)}
    if name == "resnet":
        kw = {"width": 8, "blocks": 2}
    net = create_net(name, 5, channels, **kw)
    h, w = canvas_size((37, 50), net.stride)
    assert h % net.stride == 0 and w % net.stride == 0 and h >= 37 and w >= 50
    out = net(torch.rand(1, 5, h, w))
    assert out.shape == (1, channels, h, w)
    assert 0 <= float(out.min()) and float(out.max()) <= 1  # sigmoid head


def _per_level_hourglass(sigmoid: bool) -> Hourglass:
    torch.manual_seed(0)
    return Hourglass(
        4, 3, n_d=[4, 8, 8], n_u=[6, 8, 8], n_s=[0, 2, 2], k_d=[5, 3, 3], k_u=[3, 3, 5], k_s=1,
        upsample=["nearest", "bilinear", "nearest"], downsample=["stride", "avg", "max"],
        pad=["zero", "reflection", "reflection"], act="elu", need1x1_up=False, sigmoid=sigmoid,
    )  # fmt: skip


def test_hourglass_per_level_settings():
    net = _per_level_hourglass(sigmoid=False)
    assert net.stride == 8
    z = torch.rand(1, 4, 24, 40)
    out = net(z)
    assert out.shape == (1, 3, 24, 40)
    assert net.body.skip is None and net.body.deeper.skip is not None
    assert net.head.kernel_size == (1, 1)
    # Without a sigmoid the output is not confined to [0, 1] ...
    assert isinstance(net.out_act, torch.nn.Identity)
    assert float(out.min()) < 0 or float(out.max()) > 1
    # ... and with it (same weights) the output is exactly the sigmoid of that, in (0, 1).
    net_sig = _per_level_hourglass(sigmoid=True)
    assert isinstance(net_sig.out_act, torch.nn.Sigmoid)
    out_sig = net_sig(z)
    assert 0 < float(out_sig.min()) and float(out_sig.max()) < 1
    torch.testing.assert_close(out_sig, torch.sigmoid(out))


def test_lanczos_downsampling_in_the_net():
    net = create_net("skip", 4, 3, n_d=4, n_s=2, depth=2, downsample="lanczos")
    assert net(torch.rand(1, 4, 32, 32)).shape == (1, 3, 32, 32)


def test_zero_and_reflection_padding_differ():
    torch.manual_seed(0)
    a = create_net("skip", 4, 3, n_d=4, n_s=2, depth=2, pad="reflection")
    torch.manual_seed(0)
    b = create_net("skip", 4, 3, n_d=4, n_s=2, depth=2, pad="zero")
    z = torch.rand(1, 4, 16, 16)
    assert not torch.allclose(a(z), b(z))


def test_canvas_size_and_minimum():
    assert canvas_size((64, 64), 32) == (64, 64)
    assert canvas_size((65, 33), 32) == (96, 64)
    assert canvas_size((20, 20), 32) == (64, 64)  # at least two strides: BN needs >1 value
    assert canvas_size((7, 9), 1) == (7, 9)
    assert min_image_side(32) == 16


def test_noise_input_range_and_seed():
    g1 = torch.Generator().manual_seed(3)
    g2 = torch.Generator().manual_seed(3)
    a = noise_input(32, (10, 12), generator=g1)
    b = noise_input(32, (10, 12), generator=g2)
    assert a.shape == (1, 32, 10, 12)
    assert torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) < 0.1


def test_meshgrid_input():
    m = meshgrid_input((5, 9))
    assert m.shape == (1, 2, 5, 9)
    assert float(m[0, 0, 0, 0]) == 0 and float(m[0, 0, 0, -1]) == 1  # x along width
    assert float(m[0, 1, -1, 0]) == 1  # y along height


def test_guide_input_is_centred_in_the_canvas():
    img = torch.rand(3, 10, 20)
    z = guide_input(img, (16, 32))
    assert z.shape == (1, 3, 16, 32)
    assert torch.equal(z[0, :, 3:13, 6:26], img)


# --- layout-preserving padding and upsampling ----------------------------------------------


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(("shape", "p"), [((2, 3, 7, 9), 1), ((1, 4, 6, 5), 2), ((1, 2, 3, 3), 2)])
def test_reflection_pad_matches_torch_and_keeps_layout(shape, p, channels_last):
    from deepprior.nets.layers import reflection_pad

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(*shape, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_()
    ours, ref = reflection_pad(x, p), F.pad(x, (p, p, p, p), mode="reflect")
    assert torch.equal(ours, ref)
    assert ours.is_contiguous(memory_format=fmt)
    g = torch.randn_like(ours)
    assert torch.allclose(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(ref, x, g)[0])
    assert torch.autograd.gradcheck(lambda t: reflection_pad(t, p), (x,))


def test_reflection_pad_larger_than_the_map_is_an_error():
    from deepprior.nets.layers import reflection_pad

    with pytest.raises(DeepPriorError, match="larger than 2 px"):
        reflection_pad(torch.rand(1, 1, 2, 8), 2)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 4, 1, 1), (1, 2, 1, 6)])
def test_bilinear_upsampling_matches_interpolate(shape, channels_last):
    from deepprior.nets.layers import upsample_bilinear2x

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(*shape, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_()
    ours = upsample_bilinear2x(x)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(ours, ref)
    if not (channels_last and x.is_contiguous()):  # a 1x1 map is both layouts at once
        assert ours.is_contiguous(memory_format=fmt)
    g = torch.randn_like(ours)
    assert torch.allclose(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(ref, x, g)[0])
    assert torch.autograd.gradcheck(upsample_bilinear2x, (x,))


def test_gradient_checkpointing_same_gradients_less_memory():
    from deepprior.memory import estimate_fit_memory

    z = torch.rand(1, 8, 32, 32)
    grads, need = [], []
    for ck in (False, True):
        torch.manual_seed(0)
        net = create_net("skip", 8, 3, n_d=[16, 16, 16], n_s=4, depth=3, checkpoint=ck)
        net(z).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
        need.append(estimate_fit_memory(net, 8, (512, 512), dtype=torch.float32))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    assert need[1] < 0.6 * need[0]


def test_checkpointing_on_a_net_without_it_is_a_clear_error():
    with pytest.raises(DeepPriorError, match="bad settings for net 'unet'"):
        create_net("unet", 8, 3, checkpoint=True)


def test_native_and_own_resampling_layers_agree(monkeypatch):
    # A GPU uses ATen's reflection pad and bilinear x2 (fewer kernel launches); a CPU uses
    # deepprior's layout-keeping versions. Both must give the same values and gradients.
    from deepprior.nets import layers
    from deepprior.nets.layers import native_layers, reflection_pad, upsample_bilinear2x

    x0 = torch.randn(1, 3, 7, 9).contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(layers, "_NATIVE_LAYERS", None)
    assert not native_layers(x0)  # the CPU default
    results = {}
    for flag in (False, True):  # what DEEPPRIOR_NATIVE_LAYERS=0|1 sets
        monkeypatch.setattr(layers, "_NATIVE_LAYERS", flag)
        assert native_layers(x0) is flag
        x = x0.clone().requires_grad_(True)
        y = upsample_bilinear2x(reflection_pad(x, 2))
        w = torch.linspace(-1, 1, y.numel()).view_as(y)
        (y * w).sum().backward()
        results[flag] = (y.detach(), x.grad)
        with pytest.raises(DeepPriorError, match="reflection padding of 2 px needs a feature"):
            reflection_pad(torch.zeros(1, 1, 2, 5), 2)  # too small on either path
    torch.testing.assert_close(results[False][0], results[True][0])
    torch.testing.assert_close(results[False][1], results[True][1])
    assert results[False][0].shape == (1, 3, 22, 26)
