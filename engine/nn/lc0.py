"""lc0 weight files (``.pb.gz``): read them as net files, and ``engine import-lc0`` to convert them.

An lc0 weights file is a protobuf ``Net`` message (``proto/net.proto`` in
LeelaChessZero/lczero-common), usually gzip-compressed. It is read here by a minimal protobuf
wire-format decoder (varints and length-delimited fields; no protobuf dependency) and mapped
onto :class:`engine.nn.model.ChessNet`, so that every precision and command works on it.

Supported: input ``INPUT_CLASSICAL_112_PLANE``; the residual tower (``NETWORK_CLASSICAL`` /
``NETWORK_SE`` and their ``_WITH_HEADFORMAT`` forms) with or without squeeze-excitation, ReLU;
``POLICY_CONVOLUTION`` or ``POLICY_CLASSICAL``; ``VALUE_WDL`` or ``VALUE_CLASSICAL``;
``MOVES_LEFT_V1`` or none. Anything else (attention policy, transformer bodies, other input
encodings, Mish, ONNX payloads) is refused with one :class:`Lc0FormatError` line naming it.

Conventions, from lc0's loader and backends and lczero-training's ``tf/net.py``:

* layer values: ``LINEAR16`` is ``min_val + uint16 / 65535 * (max_val - min_val)``; a layer may
  override the file's encoding with ``FLOAT16``, ``BFLOAT16`` or ``FLOAT32``; little-endian;
* conv weights ``[out, in, kh, kw]``, dense weights ``[out, in]``; dense layers read their input
  flattened channel-major (NCHW), ChessNet's are NHWC, so the first dense layer of each head
  is permuted;
* a conv block computes ``gamma * (conv(x) + bias - mean) / sqrt(var + 1e-5) + beta``:
  ``bn_stddivs`` holds the variance; absent gammas, betas and biases are 1, 0 and 0; a block
  with no ``bn_means``/``bn_stddivs`` is a plain conv plus bias (batch norm folded in);
* SE: ``w1`` ``[C/r, C]``, ``w2`` ``[2C, C/r]``; the first C outputs gate
  (``sigmoid(gamma) * x``), the last C add (``+ beta``), then the skip add and ReLU;
* input plane 109: lc0 feeds the raw rule-50 ply count to classical 112-plane nets
  (lczero-training divides the plane's weights by 99 when it writes the file), while our encoder
  feeds ``count / 99``, so the input conv's plane-109 weights are multiplied by 99;
* a classical value head (one ``tanh`` output ``v = tanh(z)``) becomes WDL logits
  ``(z, NO_DRAW_LOGIT, -z)``: their softmax gives ``W - L = tanh(z)`` and ``D = 0``, which is how
  lc0 itself reads a non-WDL net.
"""

from __future__ import annotations

import argparse
import gzip
import os
import pathlib
import shlex
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cython_ext.encoding import CONV_POLICY_PLANES, NUM_INPUT_PLANES, NUM_POLICY_MOVES
from engine.nn.model import BOARD_SQUARES, WDL_OUTPUTS, ChessNet, NetConfig
from engine.nn.netfile import NetFile, NetFileError, build_metadata, instantiate, save_net

LC0_WEIGHT_MAGIC = 0x1C0
GZIP_MAGIC = b"\x1f\x8b"
RAW_NET_PREFIX = b"\x0d" + struct.pack("<I", LC0_WEIGHT_MAGIC)
"""A raw (uncompressed) ``Net`` message starts with field 1 (fixed32) holding the magic."""
LC0_SUFFIXES = (".pb.gz", ".pb")
TEXT_WEIGHTS_PREFIXES = (b"1\n", b"2\n")
"""The first line of lc0's retired text-format weight files (format version 1 or 2)."""
BN_EPSILON = 1e-5
RULE50_PLANE = 109
RULE50_SCALE = 99.0
"""lc0 feeds the rule-50 ply count, our encoder ``count / 99`` (see the module docstring)."""
NO_DRAW_LOGIT = -1.0e4
"""Draw logit of an imported classical (single-value) head: ``exp`` of it is 0 in float32."""
LINEAR16_MAX = 65535.0
MAX_VARINT_BYTES = 10
RESIDUAL_CONVS = 2

# Wire types of the protobuf encoding.
WIRE_VARINT, WIRE_FIXED64, WIRE_BYTES, WIRE_FIXED32 = 0, 1, 2, 5
WIRE_SIZES = {WIRE_FIXED64: 8, WIRE_FIXED32: 4}

# Field numbers of net.proto.
NET_MAGIC, NET_LICENSE, NET_MIN_VERSION, NET_FORMAT, NET_TRAINING, NET_WEIGHTS, NET_ONNX = 1, 2, 3, 4, 5, 10, 11
VERSION_FIELDS = (1, 2, 3)
FORMAT_ENCODING, FORMAT_NETWORK = 1, 2
NF_INPUT, NF_NETWORK, NF_POLICY, NF_VALUE, NF_MOVES_LEFT, NF_ACTIVATION = 1, 3, 4, 5, 6, 7
TRAINING_STEPS = 1
LAYER_MIN, LAYER_MAX, LAYER_PARAMS, LAYER_ENCODING = 1, 2, 3, 4
CONV_BLOCK_FIELDS = {"weights": 1, "biases": 2, "bn_means": 3, "bn_stddivs": 4, "bn_gammas": 5, "bn_betas": 6}
SE_FIELDS = {"w1": 1, "b1": 2, "w2": 3, "b2": 4}
RESIDUAL_CONV1, RESIDUAL_CONV2, RESIDUAL_SE = 1, 2, 3
WEIGHTS_CONV_BLOCKS = {"input": 1, "policy1": 11, "policy": 3, "value": 6, "moves_left": 12}
WEIGHTS_RESIDUAL = 2
WEIGHTS_ENCODER = 27
WEIGHTS_LAYERS = {"ip_pol_w": 4, "ip_pol_b": 5, "ip1_val_w": 7, "ip1_val_b": 8, "ip2_val_w": 9, "ip2_val_b": 10,
                  "ip1_mov_w": 13, "ip1_mov_b": 14, "ip2_mov_w": 15, "ip2_mov_b": 16}
WEIGHTS_ATTENTION_FIELDS = {
    21: "policy encoder layers", 17: "attention policy weights", 19: "attention policy weights",
    22: "attention policy weights", 25: "input embedding", WEIGHTS_ENCODER: "transformer encoder layers",
    28: "attention heads", 29: "attention value embedding", 31: "attention moves-left embedding",
    33: "input gating", 35: "smolgen", 37: "input embedding", 39: "input embedding", 41: "input embedding",
    44: "multi-head value heads", 45: "multi-head policy heads",
}
"""Fields of ``Weights`` that only attention-body or attention-policy nets fill."""

# Enumerations of net.proto (value -> name).
INPUT_FORMATS = {0: "INPUT_UNKNOWN", 1: "INPUT_CLASSICAL_112_PLANE", 2: "INPUT_112_WITH_CASTLING_PLANE",
                 3: "INPUT_112_WITH_CANONICALIZATION", 4: "INPUT_112_WITH_CANONICALIZATION_HECTOPLIES",
                 132: "INPUT_112_WITH_CANONICALIZATION_HECTOPLIES_ARMAGEDDON",
                 5: "INPUT_112_WITH_CANONICALIZATION_V2", 133: "INPUT_112_WITH_CANONICALIZATION_V2_ARMAGEDDON"}
NETWORK_STRUCTURES = {0: "NETWORK_UNKNOWN", 1: "NETWORK_CLASSICAL", 2: "NETWORK_SE",
                      3: "NETWORK_CLASSICAL_WITH_HEADFORMAT", 4: "NETWORK_SE_WITH_HEADFORMAT", 5: "NETWORK_ONNX",
                      6: "NETWORK_ATTENTIONBODY_WITH_HEADFORMAT", 7: "NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT",
                      134: "NETWORK_AB_LEGACY_WITH_MULTIHEADFORMAT"}
POLICY_FORMATS = {0: "POLICY_UNKNOWN", 1: "POLICY_CLASSICAL", 2: "POLICY_CONVOLUTION", 3: "POLICY_ATTENTION"}
VALUE_FORMATS = {0: "VALUE_UNKNOWN", 1: "VALUE_CLASSICAL", 2: "VALUE_WDL", 3: "VALUE_PARAM"}
MOVES_LEFT_FORMATS = {0: "MOVES_LEFT_NONE", 1: "MOVES_LEFT_V1"}
DEFAULT_ACTIVATIONS = {0: "DEFAULT_ACTIVATION_RELU", 1: "DEFAULT_ACTIVATION_MISH"}
ENCODINGS = {0: "UNKNOWN_ENCODING", 1: "LINEAR16", 2: "FLOAT16", 3: "BFLOAT16", 4: "FLOAT32"}
LINEAR16, FLOAT16, BFLOAT16, FLOAT32 = 1, 2, 3, 4

INPUT_CLASSICAL_112_PLANE = 1
NETWORK_CLASSICAL, NETWORK_SE = 1, 2
NETWORK_CLASSICAL_WITH_HEADFORMAT, NETWORK_SE_WITH_HEADFORMAT = 3, 4
NETWORK_ATTENTIONBODY_WITH_HEADFORMAT = 6
HEADFORMAT_OF_OLD_NETWORK = {NETWORK_CLASSICAL: NETWORK_CLASSICAL_WITH_HEADFORMAT,
                             NETWORK_SE: NETWORK_SE_WITH_HEADFORMAT}
POLICY_CLASSICAL, POLICY_CONVOLUTION = 1, 2
VALUE_CLASSICAL, VALUE_WDL = 1, 2
MOVES_LEFT_NONE, MOVES_LEFT_V1 = 0, 1
DEFAULT_ACTIVATION_RELU = 0
SUPPORTED = ("supported: INPUT_CLASSICAL_112_PLANE, residual tower with or without SE (ReLU), "
             "POLICY_CONVOLUTION or POLICY_CLASSICAL, VALUE_WDL or VALUE_CLASSICAL, MOVES_LEFT_V1 or none")

Message = dict[int, list[Any]]
"""A decoded protobuf message: field number -> values in file order (ints for varints, memoryviews otherwise)."""


class Lc0FormatError(NetFileError):
    """An lc0 weights file that cannot be read (corrupt, truncated) or holds an unsupported network."""


# -- protobuf wire format -------------------------------------------------------------------------

def _read_varint(data: memoryview, position: int, what: str) -> tuple[int, int]:
    """The varint at ``position`` and the position after it."""
    value = 0
    for index in range(MAX_VARINT_BYTES):
        if position + index >= len(data):
            raise Lc0FormatError(f"{what}: truncated protobuf data (varint runs past the end)")
        byte = data[position + index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, position + index + 1
    raise Lc0FormatError(f"{what}: corrupt protobuf data (varint longer than {MAX_VARINT_BYTES} bytes)")


def decode_message(data: bytes | memoryview, what: str) -> Message:
    """Fields of one protobuf message (not recursive: nested messages stay bytes).

    :param what: where the message is, for error messages (``"maia.pb.gz: weights.residual[3]"``).
    :raises Lc0FormatError: truncated data, a field running past the end, an unknown wire type.
    """
    view = memoryview(data)
    fields: Message = {}
    position = 0
    while position < len(view):
        key, position = _read_varint(view, position, what)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise Lc0FormatError(f"{what}: corrupt protobuf data (field number 0)")
        value: int | memoryview
        if wire_type == WIRE_VARINT:
            value, position = _read_varint(view, position, what)
        elif wire_type in (WIRE_BYTES, WIRE_FIXED32, WIRE_FIXED64):
            if wire_type == WIRE_BYTES:
                size, position = _read_varint(view, position, what)
            else:
                size = WIRE_SIZES[wire_type]
            if position + size > len(view):
                raise Lc0FormatError(f"{what}: truncated protobuf data (field {number} needs {size} bytes, "
                                     f"{len(view) - position} left)")
            value = view[position:position + size]
            position += size
        else:
            raise Lc0FormatError(f"{what}: corrupt protobuf data (wire type {wire_type} in field {number})")
        fields.setdefault(number, []).append(value)
    return fields


def _last(message: Message, number: int) -> Any:
    """The field's last value (protobuf: the last one wins), or None."""
    values = message.get(number)
    return values[-1] if values else None


def _varint_field(message: Message, number: int, what: str, default: int = 0) -> int:
    value = _last(message, number)
    if value is None:
        return default
    if not isinstance(value, int):
        raise Lc0FormatError(f"{what}: field {number} is not a varint (corrupt file?)")
    return value


def _float_field(message: Message, number: int, what: str) -> float:
    value = _last(message, number)
    if value is None:
        return 0.0
    if isinstance(value, int) or len(value) != 4:
        raise Lc0FormatError(f"{what}: field {number} is not a 32-bit float (corrupt file?)")
    return float(struct.unpack("<f", value)[0])


def _message_field(message: Message, number: int, what: str) -> Message | None:
    value = _last(message, number)
    if value is None:
        return None
    if isinstance(value, int):
        raise Lc0FormatError(f"{what}: field {number} is not a message (corrupt file?)")
    return decode_message(value, what)


def _repeated_messages(message: Message, number: int, what: str) -> Iterator[Message]:
    for index, value in enumerate(message.get(number, [])):
        if isinstance(value, int):
            raise Lc0FormatError(f"{what}[{index}]: not a message (corrupt file?)")
        yield decode_message(value, f"{what}[{index}]")


# -- the lc0 net ----------------------------------------------------------------------------------

@dataclass
class Lc0Weights:
    """An lc0 weights file, decoded: format flags (after lc0's upgrade of old files) and float layers.

    :ivar layers: ``name -> float32 array``; names follow net.proto, e.g. ``input.weights``,
        ``residual.3.conv2.bn_gammas``, ``residual.3.se.w1``, ``ip1_val_w``.
    :ivar residual_blocks: blocks of the tower.
    :ivar training_steps: ``training_params.training_steps`` (0 when absent).
    """

    path: str
    input_format: int
    network: int
    policy: int
    value: int
    moves_left: int
    encoding: int
    min_version: str
    license: str
    training_steps: int
    residual_blocks: int
    layers: dict[str, np.ndarray] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.layers

    def layer(self, name: str, size: int | None = None) -> np.ndarray:
        """Layer ``name`` (float32), checked to hold ``size`` values when given.

        :raises Lc0FormatError: missing, or the wrong number of values.
        """
        values = self.layers.get(name)
        if values is None:
            raise Lc0FormatError(f"{self.path}: layer {name} is missing")
        if size is not None and values.size != size:
            raise Lc0FormatError(f"{self.path}: layer {name} holds {values.size} values, expected {size} "
                                 f"for this architecture")
        return values

    def describe(self) -> str:
        """One line: architecture and formats, e.g. ``lc0 64x6 SE (NETWORK_SE_WITH_HEADFORMAT), ...``."""
        filters = self.layer("input.weights").size // (NUM_INPUT_PLANES * 9)
        se = " SE" if self.has("residual.0.se.w1") else ""
        steps = f", {self.training_steps} training steps" if self.training_steps else ""
        return (f"lc0 {filters}x{self.residual_blocks}{se} ({NETWORK_STRUCTURES[self.network]}), "
                f"{POLICY_FORMATS[self.policy]}, "
                f"{VALUE_FORMATS[self.value]}, {MOVES_LEFT_FORMATS[self.moves_left]}, "
                f"{ENCODINGS.get(self.encoding, self.encoding)}{steps}")


def is_lc0_file(path: str | pathlib.Path) -> bool:
    """Whether ``path`` names an lc0 weights file: a ``.pb``/``.pb.gz`` name, gzip data, or a raw lc0 ``Net``."""
    name = str(path)
    if name.endswith(LC0_SUFFIXES):
        return True
    try:
        with open(name, "rb") as handle:
            head = handle.read(len(RAW_NET_PREFIX))
    except OSError:
        return False
    return head.startswith(GZIP_MAGIC) or head == RAW_NET_PREFIX


def _read_payload(path: str) -> bytes:
    """The ``Net`` message bytes of ``path``: gunzipped when gzip, else as stored (lc0 reads both).

    :raises Lc0FormatError: missing or unreadable file, broken gzip data, text-format weights, or
        data that is neither gzip nor an lc0 protobuf.
    """
    if not os.path.isfile(path):
        raise Lc0FormatError(f"{path}: no such net file")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise Lc0FormatError(f"{path}: cannot read ({error.strerror})") from None
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            detail = str(error) or type(error).__name__
            raise Lc0FormatError(f"{path}: truncated or corrupt gzip data ({detail})") from None
    elif not data.startswith(RAW_NET_PREFIX):
        raise Lc0FormatError(f"{path}: not an lc0 weights file (neither gzip data nor an lc0 protobuf)")
    if data.startswith(TEXT_WEIGHTS_PREFIXES):
        raise Lc0FormatError(f"{path}: lc0 text-format weights (version {data[:1].decode()}) are not supported; "
                             f"convert them to a .pb.gz with lczero-training's net.py")
    return data


def _layer_array(layer: Message, default_encoding: int, what: str) -> np.ndarray:
    """The float32 values of a ``Weights.Layer``."""
    params = _last(layer, LAYER_PARAMS)
    if params is None:
        return np.zeros(0, dtype=np.float32)
    if isinstance(params, int):
        raise Lc0FormatError(f"{what}: params is not a byte string (corrupt file?)")
    encoding = _varint_field(layer, LAYER_ENCODING, what) or default_encoding
    if encoding not in (LINEAR16, FLOAT16, BFLOAT16, FLOAT32):
        raise Lc0FormatError(f"{what}: unsupported weights encoding {ENCODINGS.get(encoding, encoding)}")
    width = 4 if encoding == FLOAT32 else 2
    if len(params) % width:
        raise Lc0FormatError(f"{what}: {len(params)} bytes is not a whole number of "
                             f"{ENCODINGS[encoding]} values (truncated?)")
    if encoding == FLOAT32:
        return np.frombuffer(params, dtype="<f4").astype(np.float32)
    if encoding == FLOAT16:
        return np.frombuffer(params, dtype="<f2").astype(np.float32)
    raw = np.frombuffer(params, dtype="<u2")
    if encoding == BFLOAT16:
        return (raw.astype(np.uint32) << 16).view(np.float32)
    minimum = np.float32(_float_field(layer, LAYER_MIN, what))
    value_range = np.float32(_float_field(layer, LAYER_MAX, what)) - minimum
    return (raw.astype(np.float32) / np.float32(LINEAR16_MAX) * value_range + minimum).astype(np.float32)


def _collect_layers(message: Message, names: dict[str, int], prefix: str, encoding: int, path: str,
                    out: dict[str, np.ndarray]) -> None:
    """Decode the listed ``Layer`` fields of ``message`` into ``out[prefix + name]`` (absent ones skipped)."""
    for name, number in names.items():
        layer = _message_field(message, number, f"{path}: {prefix}{name}")
        if layer is not None:
            values = _layer_array(layer, encoding, f"{path}: {prefix}{name}")
            if values.size:
                out[prefix + name] = values


def _upgraded_format(network_format: Message | None, weights: Message, what: str) -> dict[str, int]:
    """Format flags with lc0's ``FixOlderWeightsFile`` applied (old files lack head formats)."""
    if network_format is None:
        return {"input": INPUT_CLASSICAL_112_PLANE, "network": NETWORK_CLASSICAL_WITH_HEADFORMAT,
                "policy": POLICY_CLASSICAL, "value": VALUE_CLASSICAL, "moves_left": MOVES_LEFT_NONE,
                "activation": DEFAULT_ACTIVATION_RELU}
    flags = {name: _varint_field(network_format, number, what)
             for name, number in (("input", NF_INPUT), ("network", NF_NETWORK),
                                  ("policy", NF_POLICY), ("value", NF_VALUE), ("moves_left", NF_MOVES_LEFT),
                                  ("activation", NF_ACTIVATION))}
    if flags["network"] in HEADFORMAT_OF_OLD_NETWORK:
        flags["network"] = HEADFORMAT_OF_OLD_NETWORK[flags["network"]]
        flags["policy"], flags["value"] = POLICY_CLASSICAL, VALUE_CLASSICAL
    elif flags["network"] == NETWORK_SE_WITH_HEADFORMAT and WEIGHTS_ENCODER in weights:
        flags["network"] = NETWORK_ATTENTIONBODY_WITH_HEADFORMAT  # attention body written by an old trainer
    return flags


def _unsupported_features(flags: dict[str, int], weights: Message) -> list[str]:
    """What the file holds that this importer cannot run (empty when it is supported)."""
    problems = []
    if flags["input"] != INPUT_CLASSICAL_112_PLANE:
        problems.append(f"input {INPUT_FORMATS.get(flags['input'], flags['input'])}")
    if flags["network"] not in (NETWORK_CLASSICAL_WITH_HEADFORMAT, NETWORK_SE_WITH_HEADFORMAT):
        problems.append(f"body {NETWORK_STRUCTURES.get(flags['network'], flags['network'])}")
    if flags["policy"] not in (POLICY_CLASSICAL, POLICY_CONVOLUTION):
        problems.append(f"policy {POLICY_FORMATS.get(flags['policy'], flags['policy'])}")
    if flags["value"] not in (VALUE_CLASSICAL, VALUE_WDL):
        problems.append(f"value {VALUE_FORMATS.get(flags['value'], flags['value'])}")
    if flags["moves_left"] not in (MOVES_LEFT_NONE, MOVES_LEFT_V1):
        problems.append(f"moves-left {MOVES_LEFT_FORMATS.get(flags['moves_left'], flags['moves_left'])}")
    if flags["activation"] != DEFAULT_ACTIVATION_RELU:
        problems.append(f"activation {DEFAULT_ACTIVATIONS.get(flags['activation'], flags['activation'])}")
    if not problems:
        extras = sorted({name for number, name in WEIGHTS_ATTENTION_FIELDS.items() if number in weights})
        problems += extras
    return problems


def read_lc0_weights(path: str | pathlib.Path) -> Lc0Weights:
    """Decode an lc0 weights file (gzip or raw protobuf).

    :raises Lc0FormatError: one line: missing, truncated or corrupt file, not an lc0 net, or an
        unsupported network (naming what the file holds).
    """
    name = str(path)
    net = decode_message(_read_payload(name), name)
    magic = _last(net, NET_MAGIC)
    if magic is None or isinstance(magic, int) or len(magic) != 4 or struct.unpack("<I", magic)[0] != LC0_WEIGHT_MAGIC:
        raise Lc0FormatError(f"{name}: not an lc0 weights file (no 0x1c0 magic at the start)")
    if NET_WEIGHTS not in net:
        held = "an ONNX model (NETWORK_ONNX)" if NET_ONNX in net else "no weights"
        raise Lc0FormatError(f"{name}: unsupported lc0 file: it holds {held}; {SUPPORTED}")
    weights = _message_field(net, NET_WEIGHTS, f"{name}: weights")
    assert weights is not None
    net_format = _message_field(net, NET_FORMAT, f"{name}: format") or {}
    flags = _upgraded_format(_message_field(net_format, FORMAT_NETWORK, f"{name}: network_format"), weights,
                             f"{name}: network_format")
    problems = _unsupported_features(flags, weights)
    if problems:
        raise Lc0FormatError(f"{name}: unsupported lc0 net ({', '.join(problems)}); {SUPPORTED}")
    encoding = _varint_field(net_format, FORMAT_ENCODING, f"{name}: format")
    version_message = _message_field(net, NET_MIN_VERSION, f"{name}: min_version") or {}
    version = ".".join(str(_varint_field(version_message, number, name)) for number in VERSION_FIELDS)
    training = _message_field(net, NET_TRAINING, f"{name}: training_params") or {}
    licence = _last(net, NET_LICENSE)
    licence_text = bytes(licence).decode("utf-8", "replace") if isinstance(licence, memoryview) else ""
    layers: dict[str, np.ndarray] = {}
    for block_name, number in WEIGHTS_CONV_BLOCKS.items():
        block = _message_field(weights, number, f"{name}: weights.{block_name}")
        if block is not None:
            _collect_layers(block, CONV_BLOCK_FIELDS, f"{block_name}.", encoding, name, layers)
    _collect_layers(weights, WEIGHTS_LAYERS, "", encoding, name, layers)
    blocks = 0
    for index, residual in enumerate(_repeated_messages(weights, WEIGHTS_RESIDUAL, f"{name}: weights.residual")):
        blocks += 1
        for part, number in (("conv1", RESIDUAL_CONV1), ("conv2", RESIDUAL_CONV2)):
            block = _message_field(residual, number, f"{name}: residual[{index}].{part}")
            if block is not None:
                _collect_layers(block, CONV_BLOCK_FIELDS, f"residual.{index}.{part}.", encoding, name, layers)
        se_unit = _message_field(residual, RESIDUAL_SE, f"{name}: residual[{index}].se")
        if se_unit is not None:
            _collect_layers(se_unit, SE_FIELDS, f"residual.{index}.se.", encoding, name, layers)
    return Lc0Weights(path=name, input_format=flags["input"], network=flags["network"], policy=flags["policy"],
                      value=flags["value"], moves_left=flags["moves_left"], encoding=encoding,
                      min_version=version, license=licence_text,
                      training_steps=_varint_field(training, TRAINING_STEPS, name), residual_blocks=blocks,
                      layers=layers)


# -- mapping onto ChessNet ------------------------------------------------------------------------

def _channels(weights: Lc0Weights, name: str, per_output: int) -> int:
    """Output channels of a layer holding ``outputs * per_output`` values."""
    size = weights.layer(name).size
    if size == 0 or size % per_output:
        raise Lc0FormatError(f"{weights.path}: layer {name} holds {size} values, not a multiple of {per_output}")
    return size // per_output


def lc0_config(weights: Lc0Weights) -> NetConfig:
    """The :class:`NetConfig` that holds ``weights``.

    :raises Lc0FormatError: inconsistent layer sizes, SE in some blocks only, an SE width that
        does not divide the filters.
    """
    filters = _channels(weights, "input.weights", NUM_INPUT_PLANES * 9)
    with_se = [weights.has(f"residual.{index}.se.w1") for index in range(weights.residual_blocks)]
    se_ratio = 0
    if any(with_se):
        if not all(with_se):
            raise Lc0FormatError(f"{weights.path}: unsupported lc0 net (SE in only some residual blocks); "
                                 f"{SUPPORTED}")
        se_channels = _channels(weights, "residual.0.se.w1", filters)
        if filters % se_channels:
            raise Lc0FormatError(f"{weights.path}: unsupported lc0 net (SE width {se_channels} does not divide "
                                 f"{filters} filters)")
        se_ratio = filters // se_channels
    classical_policy = weights.policy == POLICY_CLASSICAL
    policy_block = "policy" if classical_policy else "policy1"
    policy_channels = _channels(weights, f"{policy_block}.weights", filters * (1 if classical_policy else 9))
    moves_left = weights.moves_left == MOVES_LEFT_V1
    try:
        return NetConfig(
            filters=filters, blocks=weights.residual_blocks, se_ratio=se_ratio, policy_channels=policy_channels,
            classical_policy=int(classical_policy),
            value_channels=_channels(weights, "value.weights", filters),
            value_hidden=weights.layer("ip1_val_b").size,
            moves_left_channels=_channels(weights, "moves_left.weights", filters) if moves_left else 0,
            moves_left_hidden=weights.layer("ip1_mov_b").size if moves_left else NetConfig.moves_left_hidden)
    except ValueError as error:
        raise Lc0FormatError(f"{weights.path}: unsupported lc0 architecture ({error})") from None


def _batch_norm(weights: Lc0Weights, block: str, channels: int) -> dict[str, np.ndarray]:
    """``BatchNorm2d`` tensors computing ``gamma * (x + bias - mean) / sqrt(var + eps) + beta``."""
    def optional(name: str, fill: float) -> np.ndarray:
        key = f"{block}.{name}"
        return weights.layer(key, channels) if weights.has(key) else np.full(channels, fill, dtype=np.float32)

    bias = optional("biases", 0.0)
    has_mean, has_variance = weights.has(f"{block}.bn_means"), weights.has(f"{block}.bn_stddivs")
    if has_mean != has_variance:
        raise Lc0FormatError(f"{weights.path}: {block} has only one of bn_means and bn_stddivs")
    if has_mean:
        mean = weights.layer(f"{block}.bn_means", channels) - bias
        variance = weights.layer(f"{block}.bn_stddivs", channels)
    else:  # batch norm folded into the conv: a plain bias
        mean = -bias
        variance = np.full(channels, 1.0 - BN_EPSILON, dtype=np.float32)
    return {"running_mean": mean, "running_var": variance, "weight": optional("bn_gammas", 1.0),
            "bias": optional("bn_betas", 0.0)}


def _conv_with_bias(weights: Lc0Weights, block: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of a conv with bias (any batch norm in the block folded in)."""
    kernel = weights.layer(f"{block}.weights", int(np.prod(shape))).reshape(shape).astype(np.float64)
    norm = {key: value.astype(np.float64) for key, value in _batch_norm(weights, block, shape[0]).items()}
    scale = norm["weight"] / np.sqrt(norm["running_var"] + BN_EPSILON)
    bias = norm["bias"] - norm["running_mean"] * scale
    return (kernel * scale[:, None, None, None]).astype(np.float32), bias.astype(np.float32)


def _nchw_to_nhwc_columns(matrix: np.ndarray, channels: int) -> np.ndarray:
    """Reorder a dense weight's input columns from lc0's ``c * 64 + square`` to ChessNet's ``square * C + c``."""
    outputs = matrix.shape[0]
    return matrix.reshape(outputs, channels, BOARD_SQUARES).transpose(0, 2, 1).reshape(outputs, -1)


def lc0_state_dict(weights: Lc0Weights, config: NetConfig) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a :class:`ChessNet` of ``config`` computing what lc0 computes with ``weights``.

    :raises Lc0FormatError: a missing layer or one of the wrong size.
    """
    filters = config.filters
    arrays: dict[str, np.ndarray] = {}

    def conv_block(block: str, conv: str, norm: str, shape: tuple[int, ...]) -> None:
        arrays[f"{conv}.weight"] = weights.layer(f"{block}.weights", int(np.prod(shape))).reshape(shape)
        for key, value in _batch_norm(weights, block, shape[0]).items():
            arrays[f"{norm}.{key}"] = value

    def dense(name: str, module: str, outputs: int, inputs: int, nchw_channels: int = 0) -> None:
        matrix = weights.layer(f"{name}_w", outputs * inputs).reshape(outputs, inputs)
        arrays[f"{module}.weight"] = _nchw_to_nhwc_columns(matrix, nchw_channels) if nchw_channels else matrix
        arrays[f"{module}.bias"] = weights.layer(f"{name}_b", outputs)

    conv_block("input", "input_conv", "input_bn", (filters, NUM_INPUT_PLANES, 3, 3))
    plane_scale = np.ones(NUM_INPUT_PLANES, dtype=np.float32)
    plane_scale[RULE50_PLANE] = RULE50_SCALE
    arrays["input_conv.weight"] = arrays["input_conv.weight"] * plane_scale[None, :, None, None]
    for index in range(config.blocks):
        for part in range(1, RESIDUAL_CONVS + 1):
            conv_block(f"residual.{index}.conv{part}", f"blocks.{index}.conv{part}", f"blocks.{index}.bn{part}",
                       (filters, filters, 3, 3))
        if config.se_ratio:
            se_channels = filters // config.se_ratio
            for lc0_weight, lc0_bias, module, outputs, inputs in (
                    ("w1", "b1", "squeeze", se_channels, filters), ("w2", "b2", "excite", 2 * filters, se_channels)):
                source, target = f"residual.{index}.se.", f"blocks.{index}.se.{module}."
                matrix = weights.layer(source + lc0_weight, outputs * inputs)
                arrays[target + "weight"] = matrix.reshape(outputs, inputs)
                arrays[target + "bias"] = weights.layer(source + lc0_bias, outputs)

    policy = config.policy_channels
    if config.classical_policy:
        conv_block("policy", "policy_conv", "policy_bn", (policy, filters, 1, 1))
        dense("ip_pol", "policy_out", NUM_POLICY_MOVES, policy * BOARD_SQUARES, policy)
    else:
        conv_block("policy1", "policy_conv", "policy_bn", (policy, filters, 3, 3))
        arrays["policy_out.weight"], arrays["policy_out.bias"] = _conv_with_bias(
            weights, "policy", (CONV_POLICY_PLANES, policy, 3, 3))

    conv_block("value", "value_conv", "value_bn", (config.value_channels, filters, 1, 1))
    dense("ip1_val", "value_fc", config.value_hidden, config.value_channels * BOARD_SQUARES, config.value_channels)
    if weights.value == VALUE_WDL:
        dense("ip2_val", "value_out", WDL_OUTPUTS, config.value_hidden)
    else:
        value_row = weights.layer("ip2_val_w", config.value_hidden)
        value_bias = weights.layer("ip2_val_b", 1)[0]
        arrays["value_out.weight"] = np.stack([value_row, np.zeros_like(value_row), -value_row])
        arrays["value_out.bias"] = np.array([value_bias, NO_DRAW_LOGIT, -value_bias], dtype=np.float32)

    if config.moves_left_channels:
        conv_block("moves_left", "moves_left.conv", "moves_left.bn", (config.moves_left_channels, filters, 1, 1))
        dense("ip1_mov", "moves_left.fc", config.moves_left_hidden,
              config.moves_left_channels * BOARD_SQUARES, config.moves_left_channels)
        dense("ip2_mov", "moves_left.out", 1, config.moves_left_hidden)

    state = ChessNet(config).state_dict()
    for key, value in arrays.items():
        tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        assert state[key].shape == tensor.shape, (key, state[key].shape, tensor.shape)
        state[key] = tensor
    missing = [key for key in state if key not in arrays and not key.endswith("num_batches_tracked")]
    assert not missing, missing
    return state


def read_lc0_net(path: str | pathlib.Path) -> NetFile:
    """An lc0 weights file as an fp32 :class:`NetFile` (what :func:`engine.nn.loader.read_net_file` returns for it).

    :raises Lc0FormatError: see :func:`read_lc0_weights` and :func:`lc0_config`.
    """
    weights = read_lc0_weights(path)
    config = lc0_config(weights)
    provenance = {"source": "lc0", "file": os.path.basename(weights.path), "description": weights.describe(),
                  "lc0_min_version": weights.min_version, "training_steps": weights.training_steps,
                  "license": weights.license}
    return NetFile(config=config, precision="fp32", state_dict=lc0_state_dict(weights, config),
                   metadata=build_metadata(config, "fp32", provenance=provenance), path=weights.path)


def main(argv: list[str]) -> int:
    """``engine import-lc0 IN.pb.gz --out OUT.pt``."""
    parser = argparse.ArgumentParser(prog="engine import-lc0",
                                     description="convert an lc0 weights file (.pb.gz) to a net file (fp32); "
                                                 "derive int8 nets from it with `engine quantize`")
    parser.add_argument("source", metavar="IN", help="lc0 weights file (.pb.gz or .pb)")
    parser.add_argument("--out", required=True, metavar="OUT", help="net file to write")
    args = parser.parse_args(argv)
    try:
        net_file = read_lc0_net(args.source)
        module = instantiate(net_file)
    except NetFileError as error:
        print(f"import-lc0: {error}", file=sys.stderr)
        return 1
    net_file.metadata["provenance"]["command"] = "engine import-lc0 " + shlex.join(argv)
    size = save_net(args.out, module, net_file.metadata)
    print(f"wrote {args.out}: {net_file.config.name} fp32 from {net_file.metadata['provenance']['description']}, "
          f"{size / 1e6:.1f} MB")
    return 0
