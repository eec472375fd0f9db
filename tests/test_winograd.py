"""The Winograd backend: its transforms against torch's direct convolution, the whole net against
the torch net, and the evaluator's choice of backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cython_ext import winograd
from engine.nn.evaluator import make_evaluator
from engine.nn.model import NetConfig, random_net
from engine.nn.netfile import NetFileError
from engine.nn.positions import encode_positions, generate_positions
from engine.nn.winograd import Workspace, WinogradConv, WinogradNet


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


@pytest.fixture(params=["best", "baseline"])
def kernels(request: pytest.FixtureRequest):
    """Each test runs on the AVX2 kernels (where the CPU has them) and on the baseline build."""
    yield winograd.select_kernels(request.param)
    winograd.select_kernels("best")


@pytest.mark.parametrize("boards,in_channels,out_channels", [(1, 1, 1), (3, 112, 64), (5, 64, 80), (2, 7, 13)])
def test_convolution_matches_direct(boards: int, in_channels: int, out_channels: int, kernels: str) -> None:
    generator = torch.Generator().manual_seed(boards * 1000 + in_channels)
    x = torch.randn(boards, in_channels, 8, 8, generator=generator)
    weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator) / (3 * in_channels ** 0.5)
    bias = torch.randn(out_channels, generator=generator)
    residual = torch.randn(boards, out_channels, 8, 8, generator=generator)
    conv, workspace = WinogradConv(weight, bias), Workspace()
    direct = F.conv2d(x, weight, bias, padding=1)
    out = np.empty((boards, 8, 8, out_channels), dtype=np.float32)
    assert np.allclose(conv(_nhwc(x), out, workspace), _nhwc(direct), atol=1e-4)
    assert np.allclose(conv(_nhwc(x), out, workspace, relu=True), _nhwc(torch.relu(direct)), atol=1e-4)
    in_place = _nhwc(residual).copy()  # the residual is overwritten by the result (how the tower runs)
    conv(_nhwc(x), in_place, workspace, residual=in_place, relu=True)
    assert np.allclose(in_place, _nhwc(torch.relu(direct + residual)), atol=1e-4)


@pytest.mark.parametrize("points,rows,in_channels,out_channels", [(36, 128, 64, 64), (36, 7, 5, 13), (2, 1, 1, 1),
                                                                  (36, 13, 112, 80), (3, 6, 3, 17), (1, 4, 0, 3),
                                                                  (36, 7, 5, 29)])
def test_batched_products_match_numpy(points: int, rows: int, in_channels: int, out_channels: int,
                                      kernels: str) -> None:
    """Full 6x16 register blocks, row and column tails, and empty inner dimensions."""
    rng = np.random.default_rng(rows * out_channels)
    v = rng.standard_normal((points, rows, in_channels), dtype=np.float32)
    u = rng.standard_normal((points, in_channels, out_channels), dtype=np.float32)
    guarded = np.full(points * rows * out_channels + 64, np.nan, dtype=np.float32)  # NaN: unwritten
    m = guarded[:points * rows * out_channels].reshape(points, rows, out_channels)
    winograd.batched_products(v, u, m)
    assert np.allclose(m, v @ u, atol=1e-4)
    assert np.isnan(guarded[m.size:]).all()  # nothing written past the end


def _cpu_has_avx2_fma() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line.split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


def test_kernel_selection() -> None:
    if _cpu_has_avx2_fma():
        assert winograd.kernels() == "avx2"  # the dispatch really takes the AVX2 build here
    assert winograd.kernels() in ("avx2", "baseline")
    with pytest.raises(ValueError, match="kernels must be"):
        winograd.select_kernels("sse9")


def test_transforms_refuse_wrong_shapes() -> None:
    x = np.zeros((2, 8, 8, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="v must be"):
        winograd.input_transform(x, np.zeros((36, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="8x8"):
        winograd.input_transform(np.zeros((2, 7, 8, 4), dtype=np.float32), np.zeros((36, 8, 4), dtype=np.float32))
    m = np.zeros((36, 8, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="bias"):
        winograd.output_transform(m, np.zeros(3, dtype=np.float32), x.copy())
    with pytest.raises(ValueError, match="residual"):
        winograd.output_transform(m, np.zeros(4, dtype=np.float32), x.copy(), np.zeros((1, 8, 8, 4), np.float32))
    with pytest.raises(ValueError, match="u must be"):
        winograd.batched_products(m, np.zeros((36, 3, 4), np.float32), m.copy())
    with pytest.raises(ValueError, match="u must be"):
        winograd.convolve(x, np.zeros((36, 3, 4), np.float32), np.zeros(4, np.float32), x.copy(),
                          np.zeros((36, 8, 4), np.float32), m)
    winograd.input_transform(np.zeros((0, 8, 8, 4), dtype=np.float32), np.zeros((36, 0, 4), dtype=np.float32))


@pytest.mark.parametrize("config", [NetConfig(filters=16, blocks=2, se_ratio=4, policy_channels=8),
                                    NetConfig(filters=16, blocks=2, policy_channels=16),
                                    NetConfig(filters=8, blocks=1, se_ratio=2, policy_channels=4, classical_policy=1,
                                              moves_left_channels=4)])
def test_net_matches_torch_on_positions(config: NetConfig, kernels: str) -> None:
    net = random_net(config, seed=3)
    planes = encode_positions(generate_positions(9, seed=2))
    runner = WinogradNet(net)
    with torch.inference_mode():
        policy, wdl_logits, _ = net(torch.from_numpy(planes))
    for batch in (1, 4, 9, 2):  # growing and shrinking batches reuse the workspace
        got_policy, got_wdl = runner.run(planes[:batch])
        assert got_policy.shape == (batch, 1858) and got_wdl.shape == (batch, 3)
        assert np.allclose(got_policy, policy[:batch].numpy(), atol=2e-4)
        assert np.allclose(got_wdl, torch.softmax(wdl_logits[:batch], 1).numpy(), atol=1e-5)


def test_batch_split_over_threads_and_empty_batch() -> None:
    net = random_net(NetConfig(filters=16, blocks=1, se_ratio=4, policy_channels=16), seed=4)
    planes = encode_positions(generate_positions(19, seed=6))
    with torch.inference_mode():
        policy, wdl_logits, _ = net(torch.from_numpy(planes))
    runner = WinogradNet(net, threads=2)  # 19 boards: parts of 9 and 10 on two threads
    for _ in range(2):
        got_policy, got_wdl = runner.run(planes)
        assert np.allclose(got_policy, policy.numpy(), atol=2e-4)
        assert np.allclose(got_wdl, torch.softmax(wdl_logits, 1).numpy(), atol=1e-5)
    empty_policy, empty_wdl = runner.run(planes[:0])
    assert empty_policy.shape == (0, 1858) and empty_wdl.shape == (0, 3)


def test_squeeze_excite_refuses_aliasing() -> None:
    x = np.zeros((1, 8, 8, 4), dtype=np.float32)
    weights = (np.zeros((4, 2), np.float32), np.zeros(2, np.float32), np.zeros((2, 8), np.float32),
               np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="different arrays"):
        winograd.squeeze_excite(x, x, *weights)


def test_evaluator_takes_winograd_for_fp32_and_refuses_what_it_cannot_run() -> None:
    config = NetConfig(filters=8, blocks=1, se_ratio=2, policy_channels=8)
    net = random_net(config, seed=0)
    assert make_evaluator(net, config, "fp32", device="cpu").backend == "winograd"
    assert make_evaluator(net, config, "fp32", device="cpu", backend="torch").backend == "torch"
    assert make_evaluator(net, config, "fp32", precision="amp", device="cpu").backend == "torch"
    with pytest.raises(NetFileError, match="winograd cannot run this net: it runs fp32 only"):
        make_evaluator(net, config, "fp32", precision="int8-dynamic", device="cpu", backend="winograd")
