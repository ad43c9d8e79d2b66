"""deepprior.device: device names, the precision chosen from the CPU's features, memory sizes."""

from __future__ import annotations

import warnings

import pytest
import torch

from deepprior import device as dv
from deepprior.errors import DeepPriorError, DeepPriorWarning


def test_cpu_and_auto_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dv.select_device("cpu") == torch.device("cpu")
    assert dv.select_device("auto") == torch.device("cpu")
    with pytest.raises(DeepPriorError, match="no CUDA GPU is available; use --device cpu"):
        dv.select_device("cuda:0")


@pytest.mark.parametrize("name", ["tpu", "cuda0", "cuda:x", "gpu", ""])
def test_unknown_device_names(name):
    with pytest.raises(DeepPriorError, match="unknown device"):
        dv.select_device(name)


def test_gpu_index_beyond_the_machines_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert dv.select_device("cuda:1") == torch.device("cuda:1")
    assert dv.select_device("auto") == torch.device("cuda")
    with pytest.raises(DeepPriorError, match=r"has 2 CUDA GPUs \(cuda:0 to cuda:1\)"):
        dv.select_device("cuda:2")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx512f", "avx512_bf16"}, torch.bfloat16),
        ({"amx_bf16", "amx_tile"}, torch.bfloat16),
        ({"avx512f", "avx2"}, torch.float32),  # bf16 would be emulated: slower than fp32
        (set(), torch.float32),
    ],
)
def test_auto_precision_follows_the_cpu_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(dv, "cpu_flags", lambda: frozenset(flags))
    cpu = torch.device("cpu")
    assert dv.resolve_precision("auto", cpu) == expected
    assert dv.resolve_precision("fp32", cpu) == torch.float32
    dv._warn_emulated_bf16.cache_clear()  # said once per process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dv.resolve_precision("bf16", cpu) == torch.bfloat16
    # an explicit bf16 warns exactly where it would be emulated
    slow = [w for w in caught if issubclass(w.category, DeepPriorWarning)]
    assert len(slow) == (expected == torch.float32)
    if slow:
        assert "slower than fp32; use --precision auto or fp32" in str(slow[0].message)


def test_bf16_on_a_gpu_does_not_warn(recwarn):
    assert dv.resolve_precision("bf16", torch.device("cuda")) == torch.bfloat16
    assert not [w for w in recwarn if issubclass(w.category, DeepPriorWarning)]


def test_unknown_precision():
    with pytest.raises(DeepPriorError, match="unknown precision 'fp16'; choose one of"):
        dv.resolve_precision("fp16", torch.device("cpu"))


@pytest.mark.parametrize(
    ("text", "size"),
    [("512M", 512 * 2**20), ("4G", 4 * 2**30), ("4GiB", 4 * 2**30), ("1.5g", 3 * 2**29),
     ("1000000", 10**6), ("2kb", 2048)],
)  # fmt: skip
def test_parse_size(text, size):
    assert dv.parse_size(text) == size


def test_parse_size_error():
    with pytest.raises(DeepPriorError, match="write it like 512M or 4G"):
        dv.parse_size("lots")


def test_max_memory_caps_what_is_available(monkeypatch):
    monkeypatch.delenv("DEEPPRIOR_MAX_MEMORY", raising=False)
    found = dv.available_memory(torch.device("cpu"))
    assert found is None or found > 0
    monkeypatch.setenv("DEEPPRIOR_MAX_MEMORY", "1M")
    assert dv.available_memory(torch.device("cpu")) == 2**20


@pytest.mark.parametrize(
    ("env", "on"), [(None, False), ("", False), ("1", True), ("0", False), ("No", False)]
)
def test_compile_switch(monkeypatch, env, on):
    if env is None:
        monkeypatch.delenv("DEEPPRIOR_COMPILE", raising=False)
    else:
        monkeypatch.setenv("DEEPPRIOR_COMPILE", env)
    assert dv.should_compile("cpu") is on


def test_auto_precision_is_fp32_on_a_gpu():
    # A GPU step of these nets is bound by kernel launches: bf16 autocast only adds casts.
    assert dv.resolve_precision("auto", torch.device("cuda")) == torch.float32
    assert dv.resolve_precision("bf16", torch.device("cuda")) == torch.bfloat16
