"""The Winograd backend: the fp32 net's 3x3 convolutions as Winograd F(4x4, 3x3) products.

On 8x8 boards a 3x3 convolution is small and compute-bound; direct convolution (torch's oneDNN,
ONNX Runtime's MLAS) spends 9 multiply-adds per input-output channel pair per square. Winograd's
transform spends 36 per 4x4 tile, 2.25 per square: each convolution becomes 36 small GEMMs
between two transforms, all in C (:mod:`cython_ext.winograd`, AVX2 kernels). That is how lc0's
CPU backends run, and what makes fp32 faster here than ONNX Runtime's int8 graph (no VNNI on
this CPU). Torch only supplies the weights: a batch runs through numpy arrays and C calls that
release the GIL, so ``threads`` parts of a batch run in parallel without touching torch's
thread settings.

The net is the fp32 :class:`engine.nn.model.ChessNet` with every batch norm folded into the
convolution before it, in channels-last layout throughout; its outputs are the torch net's to
float rounding (the transforms add about 1e-5 relative error). Moves-left output is not computed
(the search does not read it).

>>> import numpy as np, torch
>>> from engine.nn.model import NetConfig, random_net
>>> net = random_net(NetConfig(filters=16, blocks=2, se_ratio=4), seed=1)
>>> planes = np.random.default_rng(0).random((3, 112, 8, 8), dtype=np.float32)
>>> policy, wdl = WinogradNet(net).run(planes)
>>> with torch.inference_mode():
...     reference, wdl_logits, _ = net(torch.from_numpy(planes))
>>> bool(np.allclose(policy, reference.numpy(), atol=1e-3))
True
>>> bool(np.allclose(wdl, torch.softmax(wdl_logits, 1).numpy(), atol=1e-4))
True
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from cython_ext import winograd
from cython_ext.encoding import CONV_POLICY_PLANES, NUM_POLICY_MOVES, conv_policy_gather
from engine.nn.model import BOARD_SQUARES, WDL_OUTPUTS, ChessNet

WINOGRAD_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                           [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)
"""F(4x4, 3x3) weight transform (Lavin and Gray 2015); the input and output transforms are in C."""


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias of ``bn(conv(x))`` as one convolution (float64)."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    weight = conv.weight.double() * scale[:, None, None, None]
    bias = bn.bias.double() - bn.running_mean.double() * scale
    if conv.bias is not None:
        bias = bias + conv.bias.double() * scale
    return weight, bias


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A contiguous float32 numpy copy."""
    return np.ascontiguousarray(tensor.detach().double().numpy(), dtype=np.float32)


class Workspace:
    """Reusable float32 buffers by name, grown on demand.

    Fresh megabyte-sized arrays on every call cost more than the transforms themselves (the
    allocator maps new pages and the first write faults each one in), so each thread keeps its
    buffers between batches.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, *shape: int) -> np.ndarray:
        """A ``[*shape]`` array (contents undefined) that stays valid until ``name`` is asked for again."""
        size = int(np.prod(shape))
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.empty(size, dtype=np.float32)
        return buffer[:size].reshape(shape)


class Dense:
    """``y = x @ weight + bias`` (optional ReLU) on ``[rows, inputs]`` float32 arrays, by the C GEMM kernel."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """:param weight: ``[outputs, inputs]`` (torch's layout)."""
        self.weight = _array(weight.t())[None]  # [1, inputs, outputs]
        self.bias = _array(bias)

    def __call__(self, x: np.ndarray, relu: bool = False) -> np.ndarray:
        out = np.empty((1, x.shape[0], self.weight.shape[2]), dtype=np.float32)
        winograd.batched_products(np.ascontiguousarray(x)[None], self.weight, out)
        out = out[0]
        out += self.bias
        return np.maximum(out, 0.0, out=out) if relu else out


class WinogradConv:
    """A 3x3 convolution (padding 1) of ``[N, 8, 8, C]`` into ``[N, 8, 8, K]``, bias, optional residual and ReLU."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        out_channels, in_channels = weight.shape[:2]
        if weight.shape[2:] != (3, 3):
            raise ValueError(f"Winograd F(4x4, 3x3) needs 3x3 kernels, got {tuple(weight.shape[2:])}")
        # U[i, j] = G w G^T for every (input, output) pair, laid out [36, C, K] for V @ U.
        transformed = torch.einsum("ia,kcab,jb->ijck", WINOGRAD_G, weight.double(), WINOGRAD_G)
        self.weight = _array(transformed.reshape(winograd.TILE_POINTS, in_channels, out_channels))
        self.bias = _array(bias)
        self.in_channels, self.out_channels = in_channels, out_channels

    def __call__(self, x: np.ndarray, out: np.ndarray, workspace: Workspace,
                 residual: np.ndarray | None = None, relu: bool = False) -> np.ndarray:
        """Convolve ``x [N, 8, 8, C]`` into ``out [N, 8, 8, K]`` (which may be ``residual``); returns ``out``."""
        tiles = winograd.TILES_PER_BOARD * x.shape[0]
        winograd.convolve(x, self.weight, self.bias, out,
                          workspace.get("transformed", winograd.TILE_POINTS, tiles, self.in_channels),
                          workspace.get("products", winograd.TILE_POINTS, tiles, self.out_channels),
                          residual, relu)
        return out


MIN_BOARDS_PER_THREAD = 8
"""Below this many boards per part a batch is not split: the hand-over would cost more than it saves."""


class WinogradNet:
    """A float :class:`ChessNet` run channels-last with Winograd convolutions: ``run(planes)``.

    With ``threads`` > 1 a batch is split into that many parts, each run start to finish on its
    own thread (the caller's and ``threads - 1`` workers), every op of a part on one core. That
    beats splitting each product over threads: the transforms run in parallel too, and small
    GEMMs scale poorly over threads (torch's ``bmm``: 1.46x on 2 cores).

    :raises ValueError: for a net this backend cannot run (quantized, or not 8x8 3x3 convolutions).
    """

    def __init__(self, net: ChessNet, threads: int = 1) -> None:
        if not isinstance(net.input_conv, nn.Conv2d) or not isinstance(net.input_bn, nn.BatchNorm2d):
            raise ValueError("the Winograd backend runs float nets only (this one is quantized)")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        net = net.eval()
        self.config = net.config
        self.threads = threads
        self._workers = ThreadPoolExecutor(threads - 1, thread_name_prefix="winograd") if threads > 1 else None
        self._workspaces = threading.local()
        with torch.no_grad():
            self.input_conv = WinogradConv(*fold_batch_norm(net.input_conv, net.input_bn))
            self.blocks = []
            for block in net.blocks:
                se = None
                if block.se is not None:
                    se = (_array(block.se.squeeze.weight.t()), _array(block.se.squeeze.bias),
                          _array(block.se.excite.weight.t()), _array(block.se.excite.bias))
                self.blocks.append((WinogradConv(*fold_batch_norm(block.conv1, block.bn1)),
                                    WinogradConv(*fold_batch_norm(block.conv2, block.bn2)), se))
            policy_weight, policy_bias = fold_batch_norm(net.policy_conv, net.policy_bn)
            if self.config.classical_policy:  # 1x1 conv, then dense over the NHWC-flattened planes (as the torch net)
                self.policy_conv = Dense(policy_weight[:, :, 0, 0], policy_bias)
                self.policy_dense = Dense(net.policy_out.weight, net.policy_out.bias)
            else:
                self.policy_conv = WinogradConv(policy_weight, policy_bias)
                self.policy_out = WinogradConv(net.policy_out.weight, net.policy_out.bias)
                gather = conv_policy_gather()  # indices into NCHW-flattened [80, 8, 8]
                self.policy_gather = (gather % BOARD_SQUARES) * CONV_POLICY_PLANES + gather // BOARD_SQUARES
            value_weight, value_bias = fold_batch_norm(net.value_conv, net.value_bn)
            self.value_conv = Dense(value_weight[:, :, 0, 0], value_bias)
            self.value_fc = Dense(net.value_fc.weight, net.value_fc.bias)
            self.value_out = Dense(net.value_out.weight, net.value_out.bias)

    def run(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Policy logits ``[N, 1858]`` and WDL probabilities ``[N, 3]`` of ``planes [N, 112, 8, 8]``.

        Thread-safe: each calling thread has its own workspace.
        """
        planes = np.asarray(planes, dtype=np.float32)
        if len(planes) == 0:
            return np.zeros((0, NUM_POLICY_MOVES), dtype=np.float32), np.zeros((0, WDL_OUTPUTS), dtype=np.float32)
        parts = min(self.threads, len(planes) // MIN_BOARDS_PER_THREAD)
        if parts <= 1 or self._workers is None:
            return self._run_part(planes)
        bounds = np.linspace(0, len(planes), parts + 1).astype(int)
        futures = [self._workers.submit(self._run_part, planes[start:end])
                   for start, end in zip(bounds[1:-1], bounds[2:])]
        results = [self._run_part(planes[:bounds[1]])] + [future.result() for future in futures]
        return np.concatenate([policy for policy, _ in results]), np.concatenate([wdl for _, wdl in results])

    def _run_part(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        workspace = getattr(self._workspaces, "buffers", None)
        if workspace is None:
            workspace = self._workspaces.buffers = Workspace()
        boards, filters = planes.shape[0], self.config.filters
        planes_nhwc = workspace.get("planes", boards, 8, 8, planes.shape[1])
        planes_nhwc[...] = planes.transpose(0, 2, 3, 1)
        x = self.input_conv(planes_nhwc, workspace.get("x", boards, 8, 8, filters), workspace, relu=True)
        hidden = workspace.get("hidden", boards, 8, 8, filters)
        for conv1, conv2, se in self.blocks:
            conv1(x, hidden, workspace, relu=True)
            if se is None:
                conv2(hidden, x, workspace, residual=x, relu=True)
                continue
            out = conv2(hidden, workspace.get("se_input", boards, 8, 8, filters), workspace)
            winograd.squeeze_excite(out, x, *se)  # x = relu(sigmoid(gamma) * out + beta + x)

        squares = x.reshape(boards * BOARD_SQUARES, filters)
        if self.config.classical_policy:
            policy = self.policy_dense(self.policy_conv(squares, relu=True).reshape(boards, -1))
        else:
            policy_hidden = self.policy_conv(
                x, workspace.get("policy_hidden", boards, 8, 8, self.policy_conv.out_channels), workspace, relu=True)
            planes_out = self.policy_out(
                policy_hidden, workspace.get("policy_planes", boards, 8, 8, self.policy_out.out_channels), workspace)
            policy = planes_out.reshape(boards, -1)[:, self.policy_gather]

        value = self.value_fc(self.value_conv(squares, relu=True).reshape(boards, -1), relu=True)
        logits = self.value_out(value)
        wdl = np.exp(logits - logits.max(axis=1, keepdims=True))
        wdl /= wdl.sum(axis=1, keepdims=True)
        return policy, wdl
