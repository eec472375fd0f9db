"""A slow, direct numpy forward pass of an lc0 weights file, written from the format description.

Shares no code with ``engine.nn.lc0``, ``engine.nn.model`` or torch: its own protobuf reader (field
numbers of lc0's ``proto/net.proto``), lc0's layouts as its backends compute them (NCHW,
channel-major flattening before dense layers), lc0's input convention (the rule-50 plane holds
the raw ply count, not ``count / 99``), and the 80x8x8 -> 1858 convolutional policy map built
the way lczero-training's ``tf/lc0_az_policy_map.py`` describes it, with the policy move list of
``lc0_reference`` (derived from python-chess).

Only the classical 112-plane residual tower is modelled (with or without SE; convolutional or
classical policy; WDL or classical value; moves-left head).
"""

from __future__ import annotations

import gzip
import struct

import chess
import numpy as np

import lc0_reference

EPSILON = 1e-5
SQUARES = 64
CONV_POLICY_PLANES = 80
QUEEN_DIRECTIONS = {"N": (0, 1), "NE": (1, 1), "E": (1, 0), "SE": (1, -1), "S": (0, -1), "SW": (-1, -1),
                    "W": (-1, 0), "NW": (-1, 1)}
KNIGHT_DIRECTIONS = {"N": (1, 2), "NE": (2, 1), "E": (2, -1), "SE": (1, -2), "S": (-1, -2), "SW": (-2, -1),
                     "W": (-2, 1), "NW": (-1, 2)}
CONV_BLOCK = {1: "weights", 2: "biases", 3: "bn_means", 4: "bn_stddivs", 5: "bn_gammas", 6: "bn_betas"}
SE_UNIT = {1: "w1", 2: "b1", 3: "w2", 4: "b2"}
TOP_BLOCKS = {1: "input", 11: "policy1", 3: "policy", 6: "value", 12: "moves_left"}
TOP_LAYERS = {4: "ip_pol_w", 5: "ip_pol_b", 7: "ip1_val_w", 8: "ip1_val_b", 9: "ip2_val_w", 10: "ip2_val_b",
              13: "ip1_mov_w", 14: "ip1_mov_b", 15: "ip2_mov_w", 16: "ip2_mov_b"}


def _fields(buffer: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message; varints as ints, everything else as bytes."""
    out: list[tuple[int, int | bytes]] = []
    i = 0

    def varint() -> int:
        nonlocal i
        result = shift = 0
        while True:
            byte = buffer[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result

    while i < len(buffer):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 2:
            size = varint()
            out.append((number, buffer[i:i + size]))
            i += size
        elif wire == 5:
            out.append((number, buffer[i:i + 4]))
            i += 4
        elif wire == 1:
            out.append((number, buffer[i:i + 8]))
            i += 8
        else:
            raise ValueError(f"wire type {wire}")
    return out


def _layer(buffer: bytes, file_encoding: int) -> np.ndarray:
    """A Weights.Layer as float64: LINEAR16 is min + u16 / 65535 * (max - min)."""
    minimum = maximum = 0.0
    params = b""
    encoding = 0
    for number, value in _fields(buffer):
        if number == 1:
            minimum = struct.unpack("<f", value)[0]
        elif number == 2:
            maximum = struct.unpack("<f", value)[0]
        elif number == 3:
            params = value
        elif number == 4:
            encoding = value
    encoding = encoding or file_encoding
    if encoding == 4:
        return np.array(struct.unpack(f"<{len(params) // 4}f", params), dtype=np.float64)
    words = np.array(struct.unpack(f"<{len(params) // 2}H", params), dtype=np.uint32)
    if encoding == 2:
        return words.astype(np.uint16).view(np.float16).astype(np.float64)
    if encoding == 3:
        return (words << 16).view(np.float32).astype(np.float64)
    return minimum + words / 65535.0 * (maximum - minimum)


def load(path: str) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """``(layers, format)`` of an lc0 file: layers by net.proto name, format flags after lc0's upgrade of old files."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    net = dict(_fields(data))
    assert struct.unpack("<I", net[1])[0] == 0x1C0
    flags = {"input": 1, "network": 1, "policy": 1, "value": 1, "moves_left": 0}
    encoding = 0
    for number, value in _fields(net.get(4, b"")):
        if number == 1:
            encoding = value
        elif number == 2:
            flags.update({name: 0 for name in ("input", "network", "policy", "value", "moves_left")})
            names = {1: "input", 3: "network", 4: "policy", 5: "value", 6: "moves_left"}
            flags.update({names[n]: v for n, v in _fields(value) if n in names})
    if flags["network"] in (1, 2):  # NETWORK_CLASSICAL / NETWORK_SE: classical heads
        flags["policy"], flags["value"] = 1, 1
    layers: dict[str, np.ndarray] = {}
    residual = 0
    for number, value in _fields(net[10]):
        if number in TOP_BLOCKS:
            for sub, layer in _fields(value):
                layers[f"{TOP_BLOCKS[number]}.{CONV_BLOCK[sub]}"] = _layer(layer, encoding)
        elif number in TOP_LAYERS:
            layers[TOP_LAYERS[number]] = _layer(value, encoding)
        elif number == 2:
            for part, block in _fields(value):
                names = SE_UNIT if part == 3 else CONV_BLOCK
                prefix = f"residual.{residual}.{ {1: 'conv1', 2: 'conv2', 3: 'se'}[part] }"
                for sub, layer in _fields(block):
                    layers[f"{prefix}.{names[sub]}"] = _layer(layer, encoding)
            residual += 1
    return {k: v for k, v in layers.items() if v.size}, flags


def conv_policy_map() -> np.ndarray:
    """For each of the 1858 policy moves, its index into the flattened 80x8x8 conv policy output."""
    files, ranks = "abcdefgh", "12345678"
    moves = []
    for table in (QUEEN_DIRECTIONS, KNIGHT_DIRECTIONS):
        for df, dr in table.values():
            for steps in (range(1, 8) if table is QUEEN_DIRECTIONS else (1,)):
                for rank in range(8):
                    for file in range(8):
                        f1, r1 = file + df * steps, rank + dr * steps
                        ok = 0 <= f1 < 8 and 0 <= r1 < 8
                        moves.append(files[file] + ranks[rank] + files[f1] + ranks[r1] if ok else None)
    for direction in ("NW", "N", "NE"):
        for piece in "rbq":
            for rank in range(8):
                for file in range(8):
                    f1 = file + QUEEN_DIRECTIONS[direction][0]
                    ok = rank == 6 and 0 <= f1 < 8
                    moves.append(files[file] + "7" + files[f1] + "8" + piece if ok else None)
    position = {move: index for index, move in enumerate(moves) if move is not None}
    return np.array([position[move] for move in lc0_reference.policy_moves()])


def input_planes(board: chess.Board) -> np.ndarray:
    """lc0's classical 112 planes of ``board``: plane 109 holds the raw rule-50 ply count."""
    planes = lc0_reference.planes(board).astype(np.float64)
    planes[109] = board.halfmove_clock
    return planes


def _conv(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Same-padded convolution (cross-correlation) of ``x`` [N, C, 8, 8] with ``weights`` [O, C, k, k]."""
    size = weights.shape[-1]
    pad = size // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((x.shape[0], weights.shape[0], 8, 8))
    for dy in range(size):
        for dx in range(size):
            out += np.einsum("ncyx,oc->noyx", padded[:, :, dy:dy + 8, dx:dx + 8], weights[:, :, dy, dx])
    return out


def _conv_block(layers: dict[str, np.ndarray], name: str, x: np.ndarray, size: int) -> np.ndarray:
    """conv, + bias, batch norm ``gamma * (y - mean) / sqrt(var + eps) + beta`` (absent parts: identity)."""
    channels_in = x.shape[1]
    weights = layers[f"{name}.weights"]
    out_channels = weights.size // (channels_in * size * size)
    y = _conv(x, weights.reshape(out_channels, channels_in, size, size))

    def per_channel(key: str, default: float) -> np.ndarray:
        value = layers.get(f"{name}.{key}")
        return (value if value is not None else np.full(out_channels, default))[None, :, None, None]

    y = y + per_channel("biases", 0.0)
    if f"{name}.bn_means" in layers:
        y = (y - per_channel("bn_means", 0.0)) / np.sqrt(per_channel("bn_stddivs", 1.0) + EPSILON)
    return per_channel("bn_gammas", 1.0) * y + per_channel("bn_betas", 0.0)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _dense(layers: dict[str, np.ndarray], name: str, x: np.ndarray) -> np.ndarray:
    bias = layers[f"{name}_b"]
    return x @ layers[f"{name}_w"].reshape(bias.size, x.shape[1]).T + bias


def forward(path: str, planes: np.ndarray) -> dict[str, np.ndarray]:
    """lc0's outputs for ``planes`` [N, 112, 8, 8] (lc0 convention, see :func:`input_planes`).

    Returns ``policy`` (1858 logits), ``wdl`` (probabilities; a classical value ``v`` gives
    ``((1 + v) / 2, 0, (1 - v) / 2)``), ``value`` (W - L) and ``moves_left`` when the net has one.
    """
    layers, flags = load(path)
    x = _relu(_conv_block(layers, "input", planes.astype(np.float64), 3))
    block = 0
    while f"residual.{block}.conv1.weights" in layers:
        prefix = f"residual.{block}"
        y = _relu(_conv_block(layers, f"{prefix}.conv1", x, 3))
        y = _conv_block(layers, f"{prefix}.conv2", y, 3)
        if f"{prefix}.se.w1" in layers:
            channels = y.shape[1]
            pooled = y.mean(axis=(2, 3))
            hidden = _relu(pooled @ layers[f"{prefix}.se.w1"].reshape(-1, channels).T + layers[f"{prefix}.se.b1"])
            gates = hidden @ layers[f"{prefix}.se.w2"].reshape(2 * channels, -1).T + layers[f"{prefix}.se.b2"]
            gamma, beta = gates[:, :channels], gates[:, channels:]
            y = 1.0 / (1.0 + np.exp(-gamma))[:, :, None, None] * y + beta[:, :, None, None]
        x = _relu(y + x)
        block += 1
    batch = x.shape[0]
    if flags["policy"] == 2:
        policy = _relu(_conv_block(layers, "policy1", x, 3))
        policy = _conv_block(layers, "policy", policy, 3).reshape(batch, CONV_POLICY_PLANES * SQUARES)
        policy = policy[:, conv_policy_map()]
    else:
        policy = _relu(_conv_block(layers, "policy", x, 1)).reshape(batch, -1)
        policy = _dense(layers, "ip_pol", policy)
    value = _relu(_conv_block(layers, "value", x, 1)).reshape(batch, -1)
    value = _dense(layers, "ip2_val", _relu(_dense(layers, "ip1_val", value)))
    if flags["value"] == 2:
        wdl = np.exp(value - value.max(axis=1, keepdims=True))
        wdl /= wdl.sum(axis=1, keepdims=True)
    else:
        v = np.tanh(value[:, 0])
        wdl = np.stack([(1 + v) / 2, np.zeros_like(v), (1 - v) / 2], axis=1)
    out = {"policy": policy, "wdl": wdl, "value": wdl[:, 0] - wdl[:, 2]}
    if flags["moves_left"] == 1:
        moves_left = _relu(_conv_block(layers, "moves_left", x, 1)).reshape(batch, -1)
        out["moves_left"] = _relu(_dense(layers, "ip2_mov", _relu(_dense(layers, "ip1_mov", moves_left))))[:, 0]
    return out
