"""lc0 weight files: numerical agreement with a direct numpy forward pass, play, precisions, refusals."""

from __future__ import annotations

import gzip
import io
import pathlib
import struct
import sys

import chess
import chess.engine
import numpy as np
import pytest
import torch

import lc0_numpy_reference as reference
from cython_ext.encoding import encode_batch, legal_policy
from cython_ext.mcts import SearchTree
from cython_ext.position import Board
from engine.nn import lc0, quantize
from engine.nn.evaluator import Evaluator, load_evaluator
from engine.nn.loader import load_net, read_net_file
from engine.nn.netfile import NetFileError, instantiate
from uci.options import Options
from uci.protocol import UciEngine
from uci.search import Limits, Searcher

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*TypedStorage is deprecated",
                                        "ignore:.*quant_min and quant_max", "ignore:.*quantized tensor creation")
DATA = pathlib.Path(__file__).parent / "data"
MAIA = DATA / "maia-1900.pb.gz"
MEANGIRL = DATA / "meangirl-8.pb.gz"
ENGINE_DATA = pathlib.Path(__file__).parent.parent / "engine" / "data"
POLICY_ATOL = 1e-3
"""Largest policy-logit difference allowed at fp32 (logits reach about 17; float32 vs float64 rounding)."""
WDL_ATOL = 1e-4
TEXTBOOK_MOVES = {
    "": {"e2e4", "d2d4"},
    "e2e4 e7e5 g1f3": {"b8c6", "d7d6"},
    "e2e4 e7e5 g1f3 b8c6 f1b5 a7a6 b5c6": {"d7c6", "b7c6"},
    "e2e4 c7c5 g1f3 d7d6 d2d4 c5d4": {"f3d4"},
    "d2d4 d7d5 c2c4 d5c4 e2e3 b7b5 a2a4 c7c6 a4b5": {"c6b5"},
    "e2e4 e7e5 g1f3 b8c6 d2d4 e5d4": {"f3d4"},
}
"""Opening lines and the typical human replies (a natural developing move, or the recapture)."""
SYNTHETIC_FILTERS = 8
FUZZ_CASES = 300
SYNTHETIC_SE_CHANNELS = 4


# -- positions ------------------------------------------------------------------------------------

def _test_games() -> list[chess.Board]:
    """50 positions: 20 openings, 15 WAC positions, 15 game positions (history, repetitions, rule-50 counts)."""
    games = []
    openings = [line for line in (ENGINE_DATA / "openings.epd").read_text().splitlines() if line.strip()]
    games += [chess.Board(line.split(";")[0]) for line in openings[::100][:20]]
    wac = [line for line in (ENGINE_DATA / "wac.epd").read_text().splitlines() if line.strip()]
    games += [chess.Board(" ".join(line.split()[:4]) + " 0 1") for line in wac[::20][:15]]
    lines = [line for line in (DATA / "threefold_games.txt").read_text().splitlines() if not line.startswith("#")]
    for line in lines[:15]:
        fen, moves = line.split("|")
        board = chess.Board(fen)
        for move in moves.split()[:-1]:  # stop before the repetition ends the game
            board.push_uci(move)
        games.append(board)
    return games


def _our_board(game: chess.Board) -> Board:
    board = Board(game.root().fen())
    for move in game.move_stack:
        board.push_uci(move.uci())
    return board


@pytest.fixture(scope="module")
def games() -> list[chess.Board]:
    return _test_games()


def _evaluate(evaluator: Evaluator, games: list[chess.Board]) -> tuple[np.ndarray, np.ndarray]:
    return evaluator.evaluate(encode_batch([_our_board(game) for game in games]))


def _reference(path: pathlib.Path, games: list[chess.Board]) -> dict[str, np.ndarray]:
    return reference.forward(str(path), np.stack([reference.input_planes(game) for game in games]))


def _best_legal(evaluator: Evaluator, board: Board) -> str:
    policy, _ = evaluator.evaluate(encode_batch([board]))
    moves, indices = legal_policy(board)
    return moves[int(np.argmax(policy[0, indices]))]


# -- a writer of synthetic lc0 files (test side only) -----------------------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _fixed32(number: int, payload: int | float) -> bytes:
    return _varint(number << 3 | 5) + struct.pack("<f" if isinstance(payload, float) else "<I", payload)


def _layer(values: np.ndarray, encoding: int = lc0.LINEAR16) -> bytes:
    """A Weights.Layer; LINEAR16 as lczero-training's ``fill_layer`` writes it."""
    values = np.asarray(values, dtype=np.float32).ravel()
    if encoding == lc0.LINEAR16:
        low, high = float(values.min()), float(values.max())
        high = high if high > low else low + 1.0
        words = np.round((values - low) / (high - low) * 0xFFFF).astype("<u2")
        return _fixed32(1, low) + _fixed32(2, high) + _field(3, words.tobytes())
    if encoding == lc0.FLOAT16:
        params = values.astype("<f2").tobytes()
    elif encoding == lc0.BFLOAT16:
        params = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    else:
        params = values.astype("<f4").tobytes()
    return _field(3, params) + _field(4, encoding)


class SyntheticNet:
    """Random lc0 weights of a chosen layout, serialised as lc0 writes them."""

    def __init__(self, seed: int, filters: int = SYNTHETIC_FILTERS, blocks: int = 2,
                 se_channels: int = SYNTHETIC_SE_CHANNELS,
                 policy: int = lc0.POLICY_CONVOLUTION, value: int = lc0.VALUE_WDL, moves_left: bool = False,
                 encoding: int = lc0.LINEAR16, norm: str = "bn", network: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.filters, self.encoding, self.norm = filters, encoding, norm
        f = filters
        weights = self._conv_block(f, 112, 3, first=True)
        weights = _field(1, weights)
        for _ in range(blocks):
            residual = _field(1, self._conv_block(f, f, 3)) + _field(2, self._conv_block(f, f, 3))
            if se_channels:
                residual += _field(3, b"".join(_field(number, self._values(shape)) for number, shape in
                                               ((1, (se_channels, f)), (2, (se_channels,)), (3, (2 * f, se_channels)),
                                                (4, (2 * f,)))))
            weights += _field(2, residual)
        if policy == lc0.POLICY_CONVOLUTION:
            weights += _field(11, self._conv_block(f, f, 3))
            weights += _field(3, _field(1, self._values((80, f, 3, 3))) + _field(2, self._values((80,))))
        else:
            weights += _field(3, self._conv_block(6, f, 1))
            weights += _field(4, self._values((1858, 6 * 64))) + _field(5, self._values((1858,)))
        weights += _field(6, self._conv_block(4, f, 1))
        weights += _field(7, self._values((16, 4 * 64))) + _field(8, self._values((16,)))
        outputs = 3 if value == lc0.VALUE_WDL else 1
        weights += _field(9, self._values((outputs, 16))) + _field(10, self._values((outputs,)))
        if moves_left:
            weights += _field(12, self._conv_block(2, f, 1))
            weights += _field(13, self._values((8, 2 * 64))) + _field(14, self._values((8,)))
            weights += _field(15, self._values((1, 8))) + _field(16, self._values((1,)))
        self.weights = weights
        network = network if network is not None else (lc0.NETWORK_SE_WITH_HEADFORMAT if se_channels
                                                       else lc0.NETWORK_CLASSICAL_WITH_HEADFORMAT)
        self.flags = {1: lc0.INPUT_CLASSICAL_112_PLANE, 2: 2 if value == lc0.VALUE_WDL else 1, 3: network,
                      4: policy, 5: value, 6: int(moves_left)}

    def _values(self, shape: tuple[int, ...], scale: float = 0.0) -> bytes:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        std = scale or (np.sqrt(2.0 / fan_in) if len(shape) > 1 else 0.1)
        return _layer(self.rng.normal(0.0, std, size=shape), self.encoding)

    def _conv_block(self, out: int, inputs: int, size: int, first: bool = False) -> bytes:
        block = _field(1, self._values((out, inputs, size, size), 0.3 if first else 0.0))
        if self.norm in ("bias", "bn+bias"):
            block += _field(2, self._values((out,)))
        if self.norm in ("bn", "bn+bias"):
            block += _field(3, self._values((out,)))
            block += _field(4, _layer(self.rng.uniform(0.3, 2.0, size=out), self.encoding))
            if self.norm == "bn":  # gammas include negative ones (lc0 folds them exactly)
                block += _field(5, _layer(self.rng.normal(0.8, 0.6, size=out), self.encoding))
                block += _field(6, self._values((out,)))
        return block

    def payload(self, flags: dict[int, int] | None = None, network_format: bool = True,
                extra_weights: bytes = b"") -> bytes:
        """The ``Net`` message; ``network_format=False`` writes an old file (no NetworkFormat)."""
        flags = {**self.flags, **(flags or {})}
        net_format = _field(1, lc0.LINEAR16)
        if network_format:
            net_format += _field(2, b"".join(_field(number, value) for number, value in flags.items()))
        return (_fixed32(1, lc0.LC0_WEIGHT_MAGIC) + _field(3, _field(1, 0) + _field(2, 21)) + _field(4, net_format)
                + _field(10, self.weights + extra_weights))

    def write(self, path: pathlib.Path, **kwargs) -> pathlib.Path:
        path.write_bytes(gzip.compress(self.payload(**kwargs)))
        return path


# -- numerical agreement ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [MAIA, MEANGIRL], ids=["maia-1900", "meangirl-8"])
def test_imported_net_matches_numpy_reference(path: pathlib.Path, games: list[chess.Board]) -> None:
    assert len(games) == 50 and sum(game.halfmove_clock > 0 for game in games) >= 10
    evaluator = load_evaluator(path, precision="fp32", device="cpu", threads=1)
    policy, wdl = _evaluate(evaluator, games)
    expected = _reference(path, games)
    np.testing.assert_allclose(policy, expected["policy"], rtol=0, atol=POLICY_ATOL)
    np.testing.assert_allclose(wdl, expected["wdl"], rtol=0, atol=WDL_ATOL)
    assert np.abs(expected["policy"]).max() > 5.0  # a trained net, not near-zero logits


@pytest.mark.parametrize("layout", [
    dict(policy=lc0.POLICY_CLASSICAL, value=lc0.VALUE_CLASSICAL, se_channels=0),
    dict(policy=lc0.POLICY_CONVOLUTION, value=lc0.VALUE_WDL, moves_left=True, encoding=lc0.FLOAT32),
    dict(policy=lc0.POLICY_CLASSICAL, value=lc0.VALUE_WDL, se_channels=2, encoding=lc0.FLOAT16, norm="bias"),
    dict(policy=lc0.POLICY_CONVOLUTION, value=lc0.VALUE_CLASSICAL, se_channels=0, encoding=lc0.BFLOAT16,
         norm="bn+bias", moves_left=True),
], ids=["classical-heads-no-se", "moves-left-float32", "classical-policy-float16-biases", "bfloat16-bn-and-bias"])
def test_synthetic_layouts_match_numpy_reference(layout: dict, tmp_path: pathlib.Path,
                                                 games: list[chess.Board]) -> None:
    path = SyntheticNet(seed=len(str(layout)), **layout).write(tmp_path / "synthetic.pb.gz")
    net, net_file = load_net(path)
    se_channels = layout.get("se_channels", SYNTHETIC_SE_CHANNELS)
    assert net_file.config.classical_policy == (layout["policy"] == lc0.POLICY_CLASSICAL)
    assert net_file.config.se_ratio == (SYNTHETIC_FILTERS // se_channels if se_channels else 0)
    planes = encode_batch([_our_board(game) for game in games[:12]])
    with torch.inference_mode():
        policy, wdl_logits, moves_left = net(torch.from_numpy(planes))
    expected = _reference(path, games[:12])
    scale = max(1.0, float(np.abs(expected["policy"]).max()))
    np.testing.assert_allclose(policy.numpy(), expected["policy"], rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(torch.softmax(wdl_logits, 1).numpy(), expected["wdl"], rtol=0, atol=WDL_ATOL)
    if layout.get("moves_left"):
        np.testing.assert_allclose(moves_left.numpy(), expected["moves_left"], rtol=1e-4, atol=1e-4)


def test_old_file_without_network_format_is_classical(tmp_path: pathlib.Path, games: list[chess.Board]) -> None:
    synthetic = SyntheticNet(seed=5, policy=lc0.POLICY_CLASSICAL, value=lc0.VALUE_CLASSICAL, se_channels=0)
    path = synthetic.write(tmp_path / "old.pb.gz", network_format=False)
    weights = lc0.read_lc0_weights(path)
    assert (weights.policy, weights.value, weights.input_format) == (
        lc0.POLICY_CLASSICAL, lc0.VALUE_CLASSICAL, lc0.INPUT_CLASSICAL_112_PLANE)
    policy, wdl = _evaluate(load_evaluator(path, device="cpu"), games[:8])
    expected = _reference(path, games[:8])
    np.testing.assert_allclose(policy, expected["policy"], rtol=0, atol=1e-4 * np.abs(expected["policy"]).max())
    np.testing.assert_allclose(wdl, expected["wdl"], rtol=0, atol=WDL_ATOL)


def test_unknown_weights_encoding_is_refused(tmp_path: pathlib.Path) -> None:
    path = SyntheticNet(seed=5, blocks=1, encoding=7).write(tmp_path / "odd.pb.gz")
    with pytest.raises(lc0.Lc0FormatError, match="unsupported weights encoding 7"):
        read_net_file(path)


def test_raw_protobuf_is_read_like_gzip(tmp_path: pathlib.Path, games: list[chess.Board]) -> None:
    synthetic = SyntheticNet(seed=9)
    raw = tmp_path / "net.bin"
    raw.write_bytes(synthetic.payload())
    assert lc0.is_lc0_file(raw)
    compressed = synthetic.write(tmp_path / "net.pb.gz")
    a, _ = _evaluate(load_evaluator(raw, device="cpu"), games[:4])
    b, _ = _evaluate(load_evaluator(compressed, device="cpu"), games[:4])
    np.testing.assert_array_equal(a, b)


# -- play -----------------------------------------------------------------------------------------------

def test_maia_plays_textbook_human_moves() -> None:
    evaluator = load_evaluator(MAIA, device="cpu", threads=1)
    for line, expected in TEXTBOOK_MOVES.items():
        board = Board()
        for move in line.split():
            board.push_uci(move)
        assert _best_legal(evaluator, board) in expected, line


def test_meangirl_classical_value_has_no_draws(games: list[chess.Board]) -> None:
    _, wdl = _evaluate(load_evaluator(MEANGIRL, device="cpu", threads=1), games)
    assert np.all(wdl[:, 1] == 0.0) and np.allclose(wdl.sum(axis=1), 1.0)
    assert np.ptp(wdl[:, 0]) > 0.3  # it tells positions apart


@pytest.fixture(scope="module")
def maia_int8(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """maia-1900 quantized int8-static straight from the .pb.gz (quick calibration)."""
    out = tmp_path_factory.mktemp("nets") / "maia-int8.pt"
    code = quantize.main(["--net", str(MAIA), "--mode", "int8-static", "--calib", str(ENGINE_DATA / "openings.epd"),
                          "--positions", "256", "--validate", "0", "--no-progress", "--out", str(out)])
    assert code == 0
    return out


@pytest.mark.parametrize("precision", ["amp", "int8-dynamic", "int8-static"])
def test_precisions_load_and_pick_legal_moves(precision: str, maia_int8: pathlib.Path,
                                              games: list[chess.Board]) -> None:
    path = maia_int8 if precision == "int8-static" else MAIA
    evaluator = load_evaluator(path, precision=precision, device="cpu", threads=1)
    assert evaluator.precision == precision
    reference_net = load_evaluator(MAIA, precision="fp32", device="cpu", threads=1)
    agree = 0
    for game in games:
        board = _our_board(game)
        move = _best_legal(evaluator, board)
        assert move in board.legal_moves
        agree += move == _best_legal(reference_net, board)
    assert agree >= 0.8 * len(games), f"{precision}: {agree}/{len(games)} top moves agree with fp32"
    searcher = Searcher(lambda line: None, SearchTree(max_batch=16, cache_size=1000))
    searcher.evaluator = evaluator
    searcher.params.smart_pruning = 0  # search all 32 nodes even when the best move is settled early
    board = Board()
    searcher.search(board, Limits(nodes=32))
    assert searcher.tree.root_visits >= 32


@pytest.mark.parametrize("mode", ["int8-static", "int8-dynamic"])
def test_classical_policy_net_quantizes_and_reloads(mode: str, tmp_path: pathlib.Path,
                                                   games: list[chess.Board]) -> None:
    source = SyntheticNet(seed=4, policy=lc0.POLICY_CLASSICAL, value=lc0.VALUE_CLASSICAL, moves_left=True).write(
        tmp_path / "classical.pb.gz")
    out = tmp_path / f"classical-{mode}.pt"
    assert quantize.main(["--net", str(source), "--mode", mode, "--calib", str(ENGINE_DATA / "openings.epd"),
                          "--positions", "64", "--validate", "0", "--no-progress", "--out", str(out)]) == 0
    evaluator = load_evaluator(out, device="cpu", threads=1)
    assert evaluator.precision == mode and evaluator.config.classical_policy == 1
    for game in games[:10]:
        board = _our_board(game)
        assert _best_legal(evaluator, board) in board.legal_moves


def test_engine_process_plays_with_a_pb_gz_net() -> None:
    engine = chess.engine.SimpleEngine.popen_uci(
        [sys.executable, "-m", "engine.cli", "--net", str(MAIA), "--precision", "int8-dynamic", "--threads", "1"],
        timeout=60)
    try:
        board = chess.Board()
        for move in "e2e4 e7e5 g1f3".split():
            board.push_uci(move)
        result = engine.play(board, chess.engine.Limit(nodes=32))
        assert result.move in board.legal_moves
    finally:
        engine.quit()


def test_int8_static_on_pb_gz_needs_calibration_like_fp32_files() -> None:
    with pytest.raises(NetFileError, match="needs calibration"):
        load_evaluator(MAIA, precision="int8-static", device="cpu")


# -- import command -------------------------------------------------------------------------------------

def test_import_command_writes_an_equal_net_file(tmp_path: pathlib.Path, games: list[chess.Board],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "maia.pt"
    assert lc0.main([str(MAIA), "--out", str(out)]) == 0
    assert "64x6-se8 fp32" in capsys.readouterr().out
    net_file = read_net_file(out)
    provenance = net_file.metadata["provenance"]
    assert provenance["source"] == "lc0" and provenance["training_steps"] == 400_000
    assert "import-lc0" in provenance["command"]
    direct, _ = _evaluate(load_evaluator(MAIA, device="cpu"), games)
    converted, _ = _evaluate(load_evaluator(out, device="cpu"), games)
    np.testing.assert_array_equal(direct, converted)


def test_import_command_reports_bad_files(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pb.gz"
    bad.write_bytes(b"not a net")
    assert lc0.main([str(bad), "--out", str(tmp_path / "out.pt")]) == 1
    assert "import-lc0:" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


# -- refusals ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, extra, message", [
    ({4: 3}, b"", "policy POLICY_ATTENTION"),
    ({3: 6}, b"", "body NETWORK_ATTENTIONBODY_WITH_HEADFORMAT"),
    ({3: 7, 4: 3}, b"", "body NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT, policy POLICY_ATTENTION"),
    ({1: 3}, b"", "input INPUT_112_WITH_CANONICALIZATION"),
    ({1: 5}, b"", "input INPUT_112_WITH_CANONICALIZATION_V2"),
    ({7: 1}, b"", "activation DEFAULT_ACTIVATION_MISH"),
    ({5: 3}, b"", "value VALUE_PARAM"),
    ({}, _field(27, b""), "body NETWORK_ATTENTIONBODY_WITH_HEADFORMAT"),
    ({}, _field(17, _layer(np.ones(4))), "attention policy weights"),
], ids=["attention-policy", "attention-body", "multihead", "canonical-input", "canonical-v2", "mish",
        "value-param", "old-attention-body", "attention-policy-weights"])
def test_unsupported_variants_are_refused_by_name(flags: dict[int, int], extra: bytes, message: str,
                                                  tmp_path: pathlib.Path) -> None:
    path = SyntheticNet(seed=1, blocks=1).write(tmp_path / "net.pb.gz", flags=flags, extra_weights=extra)
    with pytest.raises(lc0.Lc0FormatError) as caught:
        read_net_file(path)
    text = str(caught.value)
    assert message in text and "unsupported lc0 net" in text and "\n" not in text


CORRUPT_FILES = {
    "empty": (lambda: b"", "not an lc0 weights file"),
    "not-gzip": (lambda: b"PK\x03\x04 this is no lc0 net", "not an lc0 weights file"),
    "truncated-gzip": (lambda: MAIA.read_bytes()[:50_000], "truncated or corrupt gzip data"),
    "gzip-of-garbage": (lambda: gzip.compress(bytes(range(256)) * 4), "corrupt protobuf data"),
    "truncated-protobuf": (lambda: gzip.compress(gzip.decompress(MAIA.read_bytes())[:300_000]),
                           "truncated protobuf data"),
    "bad-magic": (lambda: gzip.compress(_fixed32(1, 0x1234) + _field(10, b"")), "no 0x1c0 magic"),
    "onnx": (lambda: gzip.compress(_fixed32(1, lc0.LC0_WEIGHT_MAGIC) + _field(11, _field(1, b"onnx"))),
             "holds an ONNX model"),
    "text-weights": (lambda: gzip.compress(b"2\n0.1 0.2 0.3\n"), "text-format weights (version 2)"),
}
"""name -> (file contents, expected part of the error)."""


@pytest.mark.parametrize("name", sorted(CORRUPT_FILES))
def test_corrupt_files_give_one_line_errors(name: str, tmp_path: pathlib.Path) -> None:
    contents, message = CORRUPT_FILES[name]
    path = tmp_path / f"{name}.pb.gz"
    path.write_bytes(contents())
    with pytest.raises(NetFileError) as caught:
        load_evaluator(path, device="cpu")
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


def test_damaged_files_never_crash(tmp_path: pathlib.Path) -> None:
    """Random truncations, byte changes and insertions: a net, or a NetFileError, nothing else."""
    rng = np.random.default_rng(0)
    payload = SyntheticNet(seed=3, blocks=1, moves_left=True).payload()
    path = tmp_path / "damaged.pb.gz"
    refused = 0
    for _ in range(FUZZ_CASES):
        data = bytearray(payload[:rng.integers(len(payload))] if rng.random() < 0.3 else payload)
        for _ in range(rng.integers(1, 6)):
            position = int(rng.integers(len(data)))
            if rng.random() < 0.3:
                data.insert(position, int(rng.integers(256)))
            else:
                data[position] = int(rng.integers(256))
        path.write_bytes(gzip.compress(bytes(data)))
        try:
            instantiate(read_net_file(path))
        except NetFileError as error:
            assert "\n" not in str(error)
            refused += 1
    assert refused > FUZZ_CASES // 4


def test_layer_of_wrong_size_is_refused(tmp_path: pathlib.Path) -> None:
    synthetic = SyntheticNet(seed=2, blocks=1)
    path = tmp_path / "cut.pb.gz"
    # A second value-head bias with 2 values overrides the first (protobuf: the last one wins).
    path.write_bytes(gzip.compress(synthetic.payload(extra_weights=_field(10, _layer(np.ones(2))))))
    with pytest.raises(lc0.Lc0FormatError, match="ip2_val_b holds 2 values, expected 3"):
        read_net_file(path)


def test_uci_reports_bad_lc0_file_and_keeps_running(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "attention.pb.gz"
    SyntheticNet(seed=1, blocks=1).write(bad, flags={4: 3})
    output = io.StringIO()
    options = Options()
    options.set("Threads", "1")
    engine = UciEngine(options, output)
    for line in (f"setoption name WeightsFile value {MAIA}", "isready",
                 f"setoption name WeightsFile value {bad}", "isready", "position startpos moves e2e4 e7e5 g1f3",
                 "go nodes 16"):
        assert engine.handle(line)
    engine.searcher.wait()
    engine.handle("quit")
    text = output.getvalue()
    assert "loaded 64x6-se8 net" in text
    assert "POLICY_ATTENTION" in text and "info string cannot load net" in text
    assert "bestmove b8c6" in text or "bestmove d7d6" in text or "bestmove g8f6" in text, text[-500:]
