"""The ONNX Runtime backend: same results as torch, the int8 graph in the net file, refusals."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from cython_ext.position import Board
from engine.nn import ort
from engine.nn.evaluator import BACKENDS, load_evaluator, make_evaluator
from engine.nn.model import NetConfig, random_net
from engine.nn.netcompare import compare_evaluators
from engine.nn.netfile import NetFileError, build_metadata, read_azchess_file, save_net
from engine.nn.positions import encode_positions, generate_positions
from engine.nn.quantize import quantize_net
from uci.options import BACKEND_CHOICES

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*TypedStorage is deprecated",
                                        "ignore:.*quant_min and quant_max", "ignore:.*quantized tensor creation")
CONFIG = NetConfig.from_arch("32x2-se4", moves_left_channels=8)  # SE blocks and a moves-left head export too


@pytest.fixture(scope="module")
def boards() -> list[Board]:
    return generate_positions(150, seed=11)


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("ort-nets")
    net = random_net(CONFIG, seed=4)
    fp32 = folder / "fp32.pt"
    save_net(fp32, net, build_metadata(CONFIG, "fp32"))
    quantized = quantize_net(net, "int8-static", generate_positions(128, seed=5), "generated", progress=False)
    int8 = folder / "int8.pt"
    save_net(int8, quantized.module, build_metadata(CONFIG, quantized.precision, quantized.info),
             onnx_model=quantized.onnx_model)
    torch_only = folder / "int8-torch-only.pt"
    save_net(torch_only, quantized.module, build_metadata(CONFIG, quantized.precision, quantized.info))
    return {"fp32": fp32, "int8": int8, "int8-torch-only": torch_only}


def test_backend_choices_match() -> None:
    assert BACKEND_CHOICES == BACKENDS


def test_fp32_graph_gives_torch_results(nets: dict[str, pathlib.Path], boards: list[Board]) -> None:
    on_torch = load_evaluator(nets["fp32"], device="cpu", threads=1, backend="torch")
    on_ort = load_evaluator(nets["fp32"], device="cpu", threads=1, backend="onnxruntime")
    assert (on_torch.backend, on_ort.backend) == ("torch", "onnxruntime")
    planes = encode_positions(boards)
    for batch in (planes[:1], planes[:7], planes):  # the graph takes any batch size
        (policy_t, wdl_t), (policy_o, wdl_o) = on_torch.evaluate(batch), on_ort.evaluate(batch)
        assert policy_o.dtype == np.float32 and policy_o.shape == policy_t.shape and wdl_o.shape == wdl_t.shape
        np.testing.assert_allclose(policy_o, policy_t, atol=2e-4, rtol=1e-4)
        np.testing.assert_allclose(wdl_o, wdl_t, atol=1e-5)
    assert "(onnxruntime)" in on_ort.describe() and "1 thread" in on_ort.describe()


def test_int8_file_carries_a_graph_that_agrees_with_fp32(nets: dict[str, pathlib.Path], boards: list[Board]) -> None:
    net_file = read_azchess_file(nets["int8"])
    assert net_file.onnx_model is not None
    assert net_file.quantization["onnxruntime"]["calibration_positions"] == 128
    reference = load_evaluator(nets["fp32"], device="cpu", threads=1, backend="torch")
    on_ort = load_evaluator(nets["int8"], device="cpu", threads=1)  # auto picks the graph
    assert on_ort.backend == "onnxruntime" and on_ort.precision == "int8-static"
    on_torch = load_evaluator(nets["int8"], device="cpu", threads=1, backend="torch")
    for evaluator in (on_ort, on_torch):
        comparison = compare_evaluators(reference, evaluator, boards)
        assert comparison.top1_agreement >= 0.85 and comparison.kl_mean < 0.05, comparison.describe()
    assert not np.array_equal(on_ort.evaluate(encode_positions(boards[:4]))[0],
                              on_torch.evaluate(encode_positions(boards[:4]))[0])  # two int8 recipes, two results


def test_auto_falls_back_and_a_named_backend_refuses(nets: dict[str, pathlib.Path]) -> None:
    assert load_evaluator(nets["int8-torch-only"], device="cpu", threads=1).backend == "torch"
    assert load_evaluator(nets["fp32"], precision="amp", device="cpu", threads=1).backend == "torch"
    assert load_evaluator(nets["fp32"], precision="int8-dynamic", device="cpu", threads=1).backend == "torch"
    with pytest.raises(NetFileError, match="carries no ONNX Runtime int8 graph"):
        load_evaluator(nets["int8-torch-only"], device="cpu", threads=1, backend="onnxruntime")
    with pytest.raises(NetFileError, match="not amp"):
        load_evaluator(nets["fp32"], precision="amp", device="cpu", threads=1, backend="onnxruntime")
    with pytest.raises(NetFileError, match="unknown backend"):
        load_evaluator(nets["fp32"], device="cpu", threads=1, backend="tensorrt")


def _save_with_graph(path: pathlib.Path, source: pathlib.Path, graph: bytes) -> None:
    """``source``'s file dict re-saved with ``graph`` as its ONNX Runtime graph."""
    payload = torch.load(source, weights_only=True)
    payload["onnx_model"] = torch.frombuffer(bytearray(graph), dtype=torch.uint8)
    torch.save(payload, path)
    assert read_azchess_file(path).config == read_azchess_file(source).config


def test_bad_stored_graphs_are_refused(nets: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    good = read_azchess_file(nets["int8"]).onnx_model
    assert good is not None
    _save_with_graph(tmp_path / "garbage.pt", nets["int8"], b"\x08\x07not a protobuf" * 10)
    with pytest.raises(NetFileError, match="corrupt|cannot load"):
        load_evaluator(tmp_path / "garbage.pt", device="cpu", threads=1, backend="onnxruntime")

    proto = onnx.load_model_from_string(good)
    tensor = proto.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="/etc/passwd")
    _save_with_graph(tmp_path / "external.pt", nets["int8"], proto.SerializeToString())
    with pytest.raises(NetFileError, match="external data"):
        load_evaluator(tmp_path / "external.pt", device="cpu", threads=1)

    proto = onnx.load_model_from_string(good)
    proto.graph.node[0].domain = "evil.custom"
    _save_with_graph(tmp_path / "custom.pt", nets["int8"], proto.SerializeToString())
    with pytest.raises(NetFileError, match="custom operators"):
        load_evaluator(tmp_path / "custom.pt", device="cpu", threads=1)

    payload = torch.load(nets["int8"], weights_only=True)
    payload["onnx_model"] = torch.zeros(3, 4)
    torch.save(payload, tmp_path / "float-graph.pt")
    with pytest.raises(NetFileError, match="not a byte tensor"):
        read_azchess_file(tmp_path / "float-graph.pt")


def test_engine_plays_on_each_backend(nets: dict[str, pathlib.Path]) -> None:
    for net, backend in (("int8", "onnxruntime"), ("int8", "torch"), ("fp32", "winograd")):
        commands = (f"uci\nsetoption name Backend value {backend}\nisready\nposition startpos moves e2e4\n"
                    f"go nodes 60\nisready\nquit\n")
        done = subprocess.run([sys.executable, "-m", "engine.cli", "--net", str(nets[net]), "--threads", "1"],
                              input=commands, capture_output=True, text=True, timeout=120)
        lines = done.stdout.splitlines()
        assert "option name Backend type combo default auto var auto var torch var onnxruntime var winograd" in lines
        assert any(line.startswith("info string loaded") and f"({backend})" in line for line in lines), lines
        assert any(line.startswith("bestmove ") for line in lines) and done.returncode == 0
