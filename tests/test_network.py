"""The network, its precisions, the net file and the network commands (small nets, fast)."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from cython_ext.encoding import CONV_POLICY_PLANES, NUM_POLICY_MOVES, conv_policy_gather
from cython_ext.position import Board
from engine.bench import netbench
from engine.nn import netcompare, quantize
from engine.nn.evaluator import load_evaluator, make_evaluator
from engine.nn.model import ChessNet, NetConfig, random_net
from engine.nn.netcompare import compare_evaluators
from engine.nn.loader import load_net
from engine.nn.netfile import FORMAT_VERSION, NetFileError, build_metadata, save_net
from engine.nn.positions import (
    PositionReport, encode_positions, generate_positions, read_fen_file, read_pgn_file, read_positions,
)
from engine.nn.quantize import quantize_net

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*TypedStorage is deprecated",
                                        "ignore:.*quant_min and quant_max", "ignore:.*quantized tensor creation",
                                        "ignore:Detected pickle protocol")
SMALL = NetConfig.from_arch("32x2")
MEDIUM = NetConfig.from_arch("64x3")
# Agreement with fp32 over legal moves required of each precision on a random 64x3 net
# (trained nets have larger logit gaps, so these are conservative for them).
MIN_TOP1 = {"fp32": 1.0, "amp": 0.95, "int8-dynamic": 0.99, "int8-static": 0.90}
MAX_KL = {"fp32": 0.0, "amp": 0.01, "int8-dynamic": 0.001, "int8-static": 0.05}
MAX_WDL_ERROR = {"fp32": 0.0, "amp": 0.05, "int8-dynamic": 0.05, "int8-static": 0.1}


@pytest.fixture(scope="module")
def boards() -> list[Board]:
    return generate_positions(200, seed=7)


@pytest.fixture(scope="module")
def fp32_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("nets") / "medium-fp32.pt"
    save_net(path, random_net(MEDIUM, seed=3), build_metadata(MEDIUM, "fp32", provenance={"data": "random"}))
    return path


@pytest.fixture(scope="module")
def int8_file(fp32_file: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    net, net_file = load_net(fp32_file)
    quantized = quantize_net(net, "int8-static", generate_positions(256, seed=1), "generated", progress=False)
    path = tmp_path_factory.mktemp("nets") / "medium-int8.pt"
    save_net(path, quantized.module, build_metadata(MEDIUM, quantized.precision, quantized.info),
             onnx_model=quantized.onnx_model)
    return path


def test_architecture_shapes_and_heads() -> None:
    config = NetConfig.from_arch("32x2-se4", moves_left_channels=8)
    net = random_net(config, seed=1)
    planes = torch.from_numpy(encode_positions([Board()] * 3))
    with torch.inference_mode():
        policy, wdl, moves_left = net(planes)
    assert policy.shape == (3, NUM_POLICY_MOVES) and wdl.shape == (3, 3) and moves_left.shape == (3,)
    assert ChessNet(NetConfig.from_arch("32x2")).moves_left is None


def test_192x15_constructible() -> None:
    net = ChessNet(NetConfig.from_arch("192x15"))
    parameters = sum(p.numel() for p in net.parameters())
    assert 10_000_000 < parameters < 12_000_000


def test_policy_head_is_lc0_conv_layout() -> None:
    net = random_net(SMALL, seed=2)
    planes = torch.from_numpy(encode_positions([Board()]))
    captured = {}
    net.policy_out.register_forward_hook(lambda module, args, output: captured.update(conv=output))
    with torch.inference_mode():
        policy, _, _ = net(planes)
    assert captured["conv"].shape[1] == CONV_POLICY_PLANES
    flat = captured["conv"].reshape(1, -1)
    assert torch.equal(policy, flat[:, torch.from_numpy(conv_policy_gather())])


def test_random_net_is_deterministic() -> None:
    first, second = random_net(SMALL, seed=5).state_dict(), random_net(SMALL, seed=5).state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not torch.equal(first["input_conv.weight"], random_net(SMALL, seed=6).state_dict()["input_conv.weight"])


@pytest.mark.parametrize("precision", ["fp32", "amp", "int8-dynamic", "int8-static"])
def test_precision_agrees_with_fp32(precision: str, fp32_file: pathlib.Path, int8_file: pathlib.Path,
                                    boards: list[Board]) -> None:
    reference = load_evaluator(fp32_file, device="cpu", threads=1)
    path = int8_file if precision == "int8-static" else fp32_file
    other = load_evaluator(path, precision=precision, device="cpu", threads=1)
    assert other.precision == precision and precision in other.describe()
    comparison = compare_evaluators(reference, other, boards)
    assert comparison.top1_agreement >= MIN_TOP1[precision], comparison.describe()
    assert comparison.kl_mean <= MAX_KL[precision] + 1e-9, comparison.describe()
    assert comparison.wdl_max_abs <= MAX_WDL_ERROR[precision] + 1e-6, comparison.describe()
    policy, wdl = other.evaluate(encode_positions(boards[:4]))
    assert policy.dtype == np.float32 and wdl.dtype == np.float32
    assert np.allclose(wdl.sum(axis=1), 1.0, atol=1e-3)


def test_fp32_round_trip_is_bit_exact(tmp_path: pathlib.Path) -> None:
    net = random_net(SMALL, seed=4)
    save_net(tmp_path / "a.pt", net, build_metadata(SMALL, "fp32"))
    loaded, net_file = load_net(tmp_path / "a.pt")
    original, reloaded = net.state_dict(), loaded.state_dict()
    assert original.keys() == reloaded.keys()
    assert all(torch.equal(original[key], reloaded[key]) for key in original)
    assert net_file.metadata["input_encoding"] == "lc0-classical-112"


def test_int8_round_trip_is_equal(int8_file: pathlib.Path, tmp_path: pathlib.Path, boards: list[Board]) -> None:
    module, net_file = load_net(int8_file)
    save_net(tmp_path / "again.pt", module, net_file.metadata)
    again, _ = load_net(tmp_path / "again.pt")
    planes = torch.from_numpy(encode_positions(boards[:16]))
    with torch.inference_mode():
        assert torch.equal(module(planes)[0], again(planes)[0])
    first, second = module.state_dict(), again.state_dict()
    for key, value in first.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value.int_repr() if value.is_quantized else value,
                               second[key].int_repr() if second[key].is_quantized else second[key]), key
    assert net_file.quantization["calibration"]["positions"] == 256


@pytest.mark.parametrize("mode", ["int8-static", "int8-dynamic"])
def test_se_and_moves_left_nets_quantize_and_reload(mode: str, tmp_path: pathlib.Path, boards: list[Board]) -> None:
    config = NetConfig.from_arch("32x2-se4", moves_left_channels=8)
    net = random_net(config, seed=8)
    quantized = quantize_net(net, mode, generate_positions(64, seed=2), "generated", progress=False)
    module, precision = quantized.module, quantized.precision
    save_net(tmp_path / "se.pt", module, build_metadata(config, precision, quantized.info))
    reloaded, _ = load_net(tmp_path / "se.pt")
    planes = torch.from_numpy(encode_positions(boards[:8]))
    with torch.inference_mode():
        policy, wdl, moves_left = reloaded(planes)
        assert torch.equal(policy, module(planes)[0])
    assert moves_left is not None and moves_left.shape == (8,)
    comparison = compare_evaluators(make_evaluator(net, config, "fp32", device="cpu"),
                                    make_evaluator(reloaded, config, precision, device="cpu"), boards)
    assert comparison.top1_agreement >= MIN_TOP1["int8-static"], comparison.describe()


def test_int8_file_is_smaller(fp32_file: pathlib.Path, int8_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # Each int8 form (torch's weights, the ONNX Runtime graph) is well under the fp32 file; the
    # file holding both stays smaller than the fp32 one.
    module, net_file = load_net(int8_file)
    save_net(tmp_path / "torch-only.pt", module, net_file.metadata)
    assert net_file.onnx_model is not None
    assert os.path.getsize(tmp_path / "torch-only.pt") < 0.45 * os.path.getsize(fp32_file)
    assert len(net_file.onnx_model) < 0.55 * os.path.getsize(fp32_file)
    assert os.path.getsize(int8_file) < os.path.getsize(fp32_file)


class _WritesAFile:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickled_code_is_refused_and_not_run(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "pwned"
    for name, write in (("torch", lambda obj, path: torch.save(obj, path)),
                        ("pickle", lambda obj, path: path.write_bytes(pickle.dumps(obj)))):
        path = tmp_path / f"evil-{name}.pt"
        write({"format": "azchess-net", "state_dict": {"x": _WritesAFile(marker)}}, path)
        with pytest.raises(NetFileError, match="pickled code"):
            load_evaluator(path, device="cpu")
        assert not marker.exists()


def test_truncated_file_is_refused(fp32_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    data = fp32_file.read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NetFileError, match="truncated or corrupt") as error:
        load_evaluator(path, device="cpu")
    assert "\n" not in str(error.value)


def test_wrong_architecture_and_version_are_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "liar.pt"
    save_net(path, random_net(SMALL), build_metadata(NetConfig.from_arch("32x3"), "fp32"))
    with pytest.raises(NetFileError, match="do not match architecture 32x3"):
        load_evaluator(path, device="cpu")
    torch.save({"format": "azchess-net", "format_version": FORMAT_VERSION + 1, "metadata": {},
                "state_dict": {}}, tmp_path / "future.pt")
    with pytest.raises(NetFileError, match="format version"):
        load_evaluator(tmp_path / "future.pt", device="cpu")


def test_impossible_precisions_are_refused(fp32_file: pathlib.Path, int8_file: pathlib.Path) -> None:
    with pytest.raises(NetFileError, match="needs calibration"):
        load_evaluator(fp32_file, precision="int8-static", device="cpu")
    with pytest.raises(NetFileError, match="cannot run as fp32"):
        load_evaluator(int8_file, precision="fp32", device="cpu")
    net, _ = load_net(int8_file)
    with pytest.raises(NetFileError):  # CPU-only kernels; refused on CUDA (or CUDA missing)
        make_evaluator(net, MEDIUM, "int8-static", device="cuda")


def test_tiny_qat_converts_and_loads(tmp_path: pathlib.Path, boards: list[Board]) -> None:
    net = random_net(SMALL, seed=9)
    quantized = quantize_net(net, "qat", generate_positions(128, seed=3), "generated", qat_steps=12, progress=False)
    assert quantized.precision == "int8-static" and quantized.info["calibration"]["method"] == "qat-distillation"
    assert quantized.onnx_model is None  # the ONNX graph would be of the fp32 net, not the QAT one
    save_net(tmp_path / "qat.pt", quantized.module, build_metadata(SMALL, quantized.precision, quantized.info))
    evaluator = load_evaluator(tmp_path / "qat.pt", device="cpu", threads=1)
    comparison = compare_evaluators(make_evaluator(net, SMALL, "fp32", device="cpu"), evaluator, boards)
    assert comparison.top1_agreement >= 0.8, comparison.describe()


def test_quantize_command(fp32_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    calib = tmp_path / "calib.epd"
    calib.write_text("".join(board.fen() + "\n" for board in generate_positions(20, seed=2)) + "not a fen\n")
    out = tmp_path / "q.pt"
    code = quantize.main(["--net", str(fp32_file), "--mode", "int8-static", "--calib", str(calib), "--out",
                          str(out), "--positions", "64", "--validate", "50", "--no-progress"])
    assert code == 0
    _, net_file = load_net(out)
    assert net_file.precision == "int8-static"
    assert net_file.quantization["validation"]["top1_agreement"] > 0.8
    assert "engine quantize" in net_file.metadata["provenance"]["command"]


def test_netbench_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = netbench.main(["--arch", "32x2", "--precisions", "fp32,int8-dynamic,int8-static", "--batches", "1,4",
                          "--seconds", "0.02", "--threads", "1", "--calib-positions", "32", "--json",
                          "--backend", "torch,winograd"])
    assert code == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    # fp32 on both backends; the int8 precisions on torch only (winograd runs fp32 alone, and says so)
    assert [(row["precision"], row["backend"]) for row in rows[::2]] == [
        ("fp32", "torch"), ("fp32", "winograd"), ("int8-dynamic", "torch"), ("int8-static", "torch")]
    assert "skipping int8-static on winograd" in captured.err
    for row in rows:
        assert {"precision", "backend", "batch", "positions_per_s", "latency_ms", "ratio_to_fp32",
                "file_mb"} <= row.keys()
        assert row["positions_per_s"] > 0
    assert all(row["ratio_to_fp32"] == 1.0 for row in rows if (row["precision"], row["backend"]) == ("fp32", "torch"))


def test_netcompare_runs(fp32_file: pathlib.Path, int8_file: pathlib.Path, tmp_path: pathlib.Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    positions = tmp_path / "positions.fen"
    positions.write_text("".join(board.fen() + "\n" for board in generate_positions(30, seed=4)))
    code = netcompare.main(["--net", str(fp32_file), "--net", str(int8_file), "--positions", str(positions),
                            "--threads", "1", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["positions"] == 30 and 0.8 <= result["top1_agreement"] <= 1.0


def test_position_readers_skip_bad_lines(tmp_path: pathlib.Path) -> None:
    epd = tmp_path / "mixed.epd"
    epd.write_text("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - bm e4; id \"start\";\n"
                   "hello have a nice day w - - 0 1\n"
                   "rnbqkbnr/pppppppp/8/6/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1\n"
                   "\n# comment\n"
                   "8/8/8/8/8/8/8/K6k w - - 12 40\n")
    report = PositionReport(str(epd))
    read = read_fen_file(epd, report=report)
    assert [board.halfmove_clock for board in read] == [0, 12]
    assert report.skipped == 2 and "2 skipped" in report.describe()
    pgn = tmp_path / "games.pgn"
    pgn.write_text('[Event "t"]\n\n1. e4 e5 2. Nf3 Nc6 3. Bb5 a6 *\n\n[Event "bad"]\n\n1. e4 e4 *\n')
    pgn_report = PositionReport(str(pgn))
    games = read_pgn_file(pgn, report=pgn_report)
    assert len(games) == 6 and games[-1].ply == 6 and pgn_report.skipped == 1
    assert len(read_positions(pgn, limit=4)) == 4


def test_generated_positions_are_deterministic_and_varied() -> None:
    first = [board.fen() for board in generate_positions(50, seed=11)]
    assert first == [board.fen() for board in generate_positions(50, seed=11)]
    assert len(set(first)) > 45


def test_no_quantization_warning_reaches_stdout(int8_file: pathlib.Path) -> None:
    script = ("from engine.nn.evaluator import load_evaluator; from engine.nn.positions import *;"
              f"e = load_evaluator({str(int8_file)!r}, device='cpu', threads=1);"
              "e.evaluate(encode_positions(generate_positions(2)))")
    result = subprocess.run([sys.executable, "-W", "default", "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout == ""
    assert "deprecated" not in result.stderr.lower(), result.stderr[-500:]
