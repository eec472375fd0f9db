"""The network: an lc0-style residual tower with convolutional policy, WDL value and moves-left heads.

Layout (``F`` filters, ``B`` blocks), matching lc0's ``NETWORK_SE_WITH_HEADFORMAT`` with
``POLICY_CONVOLUTION`` so that lc0 nets can be imported into :class:`ChessNet`:

* input: conv 3x3 112 -> F, BN, ReLU;
* B residual blocks: conv 3x3, BN, ReLU, conv 3x3, BN, optional squeeze-excitation
  (lc0's SE: ``sigmoid(gamma) * x + beta``), skip add, ReLU;
* policy: conv 3x3 F -> P, BN, ReLU, conv 3x3 P -> 80 with bias, gathered to the 1858 lc0 moves
  by :func:`cython_ext.encoding.conv_policy_gather`; or, with ``classical_policy``, lc0's
  ``POLICY_CLASSICAL`` head: conv 1x1 F -> P, BN, ReLU, flatten, dense 1858;
* value: conv 1x1 F -> 32, BN, ReLU, flatten, dense 128, ReLU, dense 3 (win/draw/loss logits);
* moves left (optional): conv 1x1 F -> 8, BN, ReLU, flatten, dense 128, ReLU, dense 1, ReLU.

The dense heads (value, moves left, classical policy) flatten in NHWC order
(``permute(0, 2, 3, 1)``): torchao's X86 lowering needs it, and it costs nothing in eager mode.
:mod:`engine.nn.lc0` permutes the first dense layer's input dimension accordingly when it imports
an lc0 net (lc0 flattens NCHW).

The module carries quantization stubs (identity in float) so that eager static quantization
(:mod:`engine.nn.quantization`) can fuse and convert it in place. The layers that stay in float in
int8 mode sit after a ``DeQuantStub``: the whole policy head (it ranks the moves; quantizing its
first conv cost about a point of top-1 agreement, see docs/precision.md), the last dense layer
of the value and moves-left heads, and the SE units.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from engine.nn import torch_warnings  # noqa: F401  (filters deprecation warnings before torch.ao)
from torch.ao.quantization import DeQuantStub, QuantStub  # noqa: E402
from torch.ao.nn.quantized import FloatFunctional  # noqa: E402

from cython_ext.encoding import CONV_POLICY_PLANES, NUM_INPUT_PLANES, NUM_POLICY_MOVES, conv_policy_gather

WDL_OUTPUTS = 3
BOARD_SQUARES = 64
ARCH_PATTERN = re.compile(r"^(\d+)x(\d+)(?:-se(\d+))?$")
"""``FILTERSxBLOCKS`` with an optional ``-seRATIO`` suffix, e.g. ``128x10`` or ``192x15-se4``."""
RANDOM_POLICY_LOGIT_STD = 2.0
RANDOM_WDL_LOGIT_STD = 1.0
REFERENCE_LINES = ("", "e2e4 c7c5 g1f3 d7d6", "d2d4 g8f6 c2c4 e7e6 b1c3 f8b4",
                   "e2e4 e7e5 g1f3 b8c6 f1b5 a7a6 b5a4 g8f6 e1g1 f8e7")


@dataclass(frozen=True)
class NetConfig:
    """Architecture of a :class:`ChessNet`; stored in every net file.

    :param filters: channels of the residual tower (F).
    :param blocks: residual blocks (B).
    :param se_ratio: squeeze-excitation reduction ``F / se_channels``; 0 disables SE.
    :param policy_channels: channels of the policy head's first conv (lc0 uses F for the
        convolutional head, typically 32 for the classical one).
    :param classical_policy: 1 for lc0's classical policy head (conv 1x1, dense to the 1858
        moves), 0 for the convolutional head.
    :param value_channels: channels of the value head's 1x1 conv.
    :param value_hidden: width of the value head's hidden dense layer.
    :param moves_left_channels: channels of the moves-left head's 1x1 conv; 0 disables the head.
    :param moves_left_hidden: width of the moves-left head's hidden dense layer.
    """

    filters: int = 128
    blocks: int = 10
    se_ratio: int = 0
    policy_channels: int = 0
    value_channels: int = 32
    value_hidden: int = 128
    moves_left_channels: int = 0
    moves_left_hidden: int = 128
    classical_policy: int = 0

    def __post_init__(self) -> None:
        if self.filters <= 0 or self.blocks < 0:
            raise ValueError(f"bad tower size {self.filters}x{self.blocks}")
        if self.se_ratio < 0 or (self.se_ratio and self.filters % self.se_ratio):
            raise ValueError(f"se_ratio {self.se_ratio} must divide filters {self.filters}")
        if self.policy_channels == 0:
            object.__setattr__(self, "policy_channels", self.filters)
        if self.classical_policy not in (0, 1):
            raise ValueError(f"classical_policy must be 0 or 1, not {self.classical_policy}")

    @property
    def name(self) -> str:
        """Short architecture name, e.g. ``128x10`` or ``64x6-se4``."""
        return f"{self.filters}x{self.blocks}" + (f"-se{self.se_ratio}" if self.se_ratio else "")

    @classmethod
    def from_arch(cls, arch: str, **overrides: int) -> NetConfig:
        """Config from a name such as ``128x10`` or ``64x6-se4`` (heads at their defaults)."""
        match = ARCH_PATTERN.match(arch.strip())
        if not match:
            raise ValueError(f"architecture {arch!r} is not FILTERSxBLOCKS[-seRATIO], e.g. 128x10")
        filters, blocks, se_ratio = match.groups()
        return cls(filters=int(filters), blocks=int(blocks), se_ratio=int(se_ratio or 0), **overrides)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetConfig:
        """Config from stored metadata; unknown keys are an error (a newer format)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown architecture keys {sorted(unknown)}")
        return cls(**{key: int(value) for key, value in values.items()})


class SqueezeExcitation(nn.Module):
    """lc0's SE unit fused with the skip add: ``relu(sigmoid(gamma) * x + beta + skip)``.

    Always computed in float (a quantized net dequantizes around it): the global pooling and
    the gating multiply are cheap and sensitive.
    """

    def __init__(self, filters: int, se_channels: int) -> None:
        super().__init__()
        self.filters = filters
        self.dequant = DeQuantStub()
        self.squeeze = nn.Linear(filters, se_channels)
        self.excite = nn.Linear(se_channels, 2 * filters)
        self.quant = QuantStub()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.dequant(x)
        skip = self.dequant(skip)
        pooled = x.mean(dim=(2, 3))
        gates = self.excite(torch.relu(self.squeeze(pooled)))
        gamma, beta = gates.split(self.filters, dim=1)
        out = torch.sigmoid(gamma)[:, :, None, None] * x + beta[:, :, None, None] + skip
        return self.quant(torch.relu(out))


class ResidualBlock(nn.Module):
    """conv-BN-ReLU, conv-BN, optional SE, skip add, ReLU."""

    def __init__(self, filters: int, se_ratio: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        # The skip add happens inside the SE unit when there is one (in float), else here (int8-able).
        self.se = SqueezeExcitation(filters, filters // se_ratio) if se_ratio else None
        self.skip_add = None if se_ratio else FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        if self.se is not None:
            return self.se(out, x)
        assert self.skip_add is not None
        return self.skip_add.add_relu(out, x)

    @staticmethod
    def fusion_groups() -> list[list[str]]:
        return [["conv1", "bn1", "relu1"], ["conv2", "bn2"]]


class ChessNet(nn.Module):
    """The residual network; ``forward`` returns ``(policy [N,1858], wdl logits [N,3], moves_left | None)``."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        filters = config.filters
        self.quant = QuantStub()
        self.input_conv = nn.Conv2d(NUM_INPUT_PLANES, filters, 3, padding=1, bias=False)
        self.input_bn = nn.BatchNorm2d(filters)
        self.input_relu = nn.ReLU()
        self.blocks = nn.Sequential(*(ResidualBlock(filters, config.se_ratio) for _ in range(config.blocks)))

        policy_kernel = 1 if config.classical_policy else 3
        self.policy_conv = nn.Conv2d(filters, config.policy_channels, policy_kernel, padding=policy_kernel // 2,
                                     bias=False)
        self.policy_bn = nn.BatchNorm2d(config.policy_channels)
        self.policy_relu = nn.ReLU()
        self.policy_dequant = DeQuantStub()
        self.policy_out: nn.Module
        if config.classical_policy:
            self.policy_out = nn.Linear(config.policy_channels * BOARD_SQUARES, NUM_POLICY_MOVES)
        else:
            self.policy_out = nn.Conv2d(config.policy_channels, CONV_POLICY_PLANES, 3, padding=1, bias=True)
            self.register_buffer("policy_gather", torch.from_numpy(conv_policy_gather()), persistent=False)

        self.value_conv = nn.Conv2d(filters, config.value_channels, 1, bias=False)
        self.value_bn = nn.BatchNorm2d(config.value_channels)
        self.value_relu = nn.ReLU()
        self.value_fc = nn.Linear(config.value_channels * BOARD_SQUARES, config.value_hidden)
        self.value_fc_relu = nn.ReLU()
        self.value_dequant = DeQuantStub()
        self.value_out = nn.Linear(config.value_hidden, WDL_OUTPUTS)

        self.moves_left: MovesLeftHead | None = (
            MovesLeftHead(filters, config.moves_left_channels, config.moves_left_hidden)
            if config.moves_left_channels else None)

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x = self.input_relu(self.input_bn(self.input_conv(self.quant(planes))))
        x = self.blocks(x)

        policy = self.policy_relu(self.policy_bn(self.policy_conv(self.policy_dequant(x))))
        if self.config.classical_policy:
            policy = self.policy_out(_flatten_nhwc(policy))
        else:
            policy = self.policy_out(policy)
            policy = policy.reshape(policy.shape[0], CONV_POLICY_PLANES * BOARD_SQUARES)[:, self.policy_gather]

        value = self.value_relu(self.value_bn(self.value_conv(x)))
        value = self.value_fc_relu(self.value_fc(_flatten_nhwc(value)))
        wdl = self.value_out(self.value_dequant(value))

        moves_left = self.moves_left(x) if self.moves_left is not None else None
        return policy, wdl, moves_left

    def fusion_groups(self) -> list[list[str]]:
        """Module name groups that eager quantization fuses (conv-BN(-ReLU), linear-ReLU)."""
        groups = [["input_conv", "input_bn", "input_relu"], ["policy_conv", "policy_bn", "policy_relu"],
                  ["value_conv", "value_bn", "value_relu"], ["value_fc", "value_fc_relu"]]
        for index in range(len(self.blocks)):
            groups += [[f"blocks.{index}.{name}" for name in group] for group in ResidualBlock.fusion_groups()]
        if self.moves_left is not None:
            groups += [[f"moves_left.{name}" for name in group] for group in MovesLeftHead.fusion_groups()]
        return groups


class MovesLeftHead(nn.Module):
    """lc0's moves-left head: conv 1x1, BN, ReLU, dense, ReLU, dense 1, ReLU."""

    def __init__(self, filters: int, channels: int, hidden: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(filters, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(channels * BOARD_SQUARES, hidden)
        self.fc_relu = nn.ReLU()
        self.dequant = DeQuantStub()
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.conv(x)))
        x = self.fc_relu(self.fc(_flatten_nhwc(x)))
        return torch.relu(self.out(self.dequant(x))).squeeze(1)

    @staticmethod
    def fusion_groups() -> list[list[str]]:
        return [["conv", "bn", "relu"], ["fc", "fc_relu"]]


def _flatten_nhwc(x: torch.Tensor) -> torch.Tensor:
    """Flatten ``[N, C, H, W]`` in ``H, W, C`` order (works for quantized tensors and channels-last)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def random_net(config: NetConfig, seed: int = 0) -> ChessNet:
    """A deterministically initialised net in eval mode, for tests and benchmarks.

    He-normal weights (second conv of each block scaled down by ``sqrt(blocks)`` so the residual
    stream stays bounded), batch-norm affine terms with mild spread, then the output layers are
    rescaled on a few fixed positions so that policy logits have a standard deviation of
    ``RANDOM_POLICY_LOGIT_STD`` and WDL logits of ``RANDOM_WDL_LOGIT_STD``, like a trained net's,
    instead of the near-ties of default initialisation (which make precision comparisons meaningless).
    """
    generator = torch.Generator().manual_seed(seed)
    net = ChessNet(config)
    residual_scale = 1.0 / math.sqrt(max(config.blocks, 1))
    with torch.no_grad():
        for name, module in net.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                std = math.sqrt(2.0 / module.weight[0].numel())
                if name.endswith("conv2"):
                    std *= residual_scale
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(1.0 + 0.2 * torch.randn(module.num_features, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.num_features, generator=generator))
        net.eval()
        policy, wdl, _ = net(_reference_planes())
        for layer, scale in ((net.policy_out, RANDOM_POLICY_LOGIT_STD / policy.std()),
                             (net.value_out, RANDOM_WDL_LOGIT_STD / wdl.std())):
            for parameter in layer.parameters():
                parameter.mul_(scale)
    return net


def _reference_planes() -> torch.Tensor:
    """Planes of a few fixed opening positions (used to scale random nets)."""
    from cython_ext.encoding import encode_batch
    from cython_ext.position import Board

    boards = []
    for line in REFERENCE_LINES:
        board = Board()
        for move in line.split():
            board.push_uci(move)
        boards.append(board)
    return torch.from_numpy(encode_batch(boards))
