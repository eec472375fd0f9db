"""Measure the candidate precision backends on this machine (feeds docs/precision.md).

Candidates: fp32 eager, bf16 autocast (eager), int8-dynamic (eager, Linear only), int8-static
eager x86 (the engine's recipe, :mod:`engine.nn.quantization`), and torchao PT2E
(``X86InductorQuantizer`` + ``torch.compile``, one compilation per batch size). For each:
positions/s per batch, top-1 agreement / KL / WDL error against fp32 on held-out positions,
file size and load time, and the number of warnings raised (before the engine's filters).

    python docs/precision_candidates.py --arch 128x10 --threads 1 [--no-pt2e]
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import time
import warnings

import numpy as np
import torch

from cython_ext.encoding import legal_policy
from engine.nn.model import NetConfig, random_net
from engine.nn.netcompare import compare_outputs
from engine.nn.positions import encode_positions, generate_positions

BATCHES = (1, 8, 32, 128)
CALIBRATION_POSITIONS = 1024
TEST_POSITIONS = 2000
TIMING_SECONDS = 0.5


def rate(run, planes: torch.Tensor) -> float:
    for _ in range(2):
        run(planes)
    runs, started = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - started < TIMING_SECONDS:
        run(planes)
        runs += 1
    return len(planes) * runs / (time.perf_counter() - started)


def outputs(run, planes: torch.Tensor, batch: int) -> tuple[np.ndarray, np.ndarray]:
    policies, wdls = [], []
    for start in range(0, len(planes), batch):
        chunk = planes[start:start + batch]
        pad = batch - len(chunk)
        if pad:
            chunk = torch.cat([chunk, chunk[:1].expand(pad, -1, -1, -1)])
        policy, wdl = run(chunk)
        policies.append(policy[:batch - pad].float().numpy())
        wdls.append(torch.softmax(wdl[:batch - pad].float(), 1).numpy())
    return np.concatenate(policies), np.concatenate(wdls)


def file_stats(state: dict) -> tuple[float, float]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    size = len(buffer.getvalue()) / 1e6
    buffer.seek(0)
    started = time.perf_counter()
    torch.load(buffer, weights_only=True)
    return size, time.perf_counter() - started


def eager_candidates(net: torch.nn.Module, calib: np.ndarray) -> dict[str, tuple]:
    from engine.nn import quantization

    def plain(model):
        return lambda x: model(x)[:2]

    def bf16(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return net(x)[:2]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dynamic = quantization.dynamic_quantize(net)
        static, _ = quantization.static_quantize(net, calib, "generated", progress=False)
    return {"fp32 eager": (plain(net), net.state_dict(), 0),
            "bf16 autocast eager": (bf16, net.state_dict(), 0),
            "int8-dynamic eager": (plain(dynamic), dynamic.state_dict(), None),
            "int8-static eager x86 (engine)": (plain(static), static.state_dict(), len(caught))}


def pt2e_candidate(net: torch.nn.Module, calib: np.ndarray, batch: int):
    """PT2E int8 with the X86 inductor quantizer, compiled for one batch size."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    torch._inductor.config.freezing = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        example = torch.from_numpy(calib[:batch])
        exported = torch.export.export(copy.deepcopy(net), (example,)).module()
        quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
        prepared = prepare_pt2e(exported, quantizer)
        for start in range(0, len(calib) - batch + 1, batch):
            prepared(torch.from_numpy(calib[start:start + batch]))
        converted = convert_pt2e(prepared)
        started = time.perf_counter()
        compiled = torch.compile(converted)
        with torch.no_grad():
            compiled(example)
        compile_seconds = time.perf_counter() - started
    return (lambda x: compiled(x)[:2]), converted, compile_seconds, len(caught)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default="128x10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-pt2e", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = NetConfig.from_arch(args.arch)
    net = random_net(config, seed=0)
    calib = encode_positions(generate_positions(CALIBRATION_POSITIONS, seed=1))
    test_boards = generate_positions(TEST_POSITIONS, seed=99)
    test = torch.from_numpy(encode_positions(test_boards))
    legal = [legal_policy(board)[1] for board in test_boards]
    bench = torch.from_numpy(encode_positions(generate_positions(max(BATCHES), seed=5)))
    results = []
    with torch.inference_mode():
        reference = outputs(lambda x: net(x)[:2], test, 128)
        for name, (run, state, warning_count) in eager_candidates(net, calib).items():
            size, load = file_stats(state)
            comparison = compare_outputs(*reference, *outputs(run, test, 128), legal)
            speeds = {batch: rate(run, bench[:batch]) for batch in BATCHES}
            results.append({"candidate": name, "speed": speeds, "top1": comparison.top1_agreement,
                            "kl": comparison.kl_mean, "wdl_max": comparison.wdl_max_abs, "file_mb": size,
                            "load_s": load, "warnings": warning_count})
            print(json.dumps(results[-1]), flush=True)
    if not args.no_pt2e:
        speeds, compile_times, accuracy = {}, {}, None
        for batch in BATCHES:
            run, converted, compile_seconds, warning_count = pt2e_candidate(net, calib, batch)
            with torch.no_grad():
                speeds[batch] = rate(run, bench[:batch])
                if batch == 128:
                    accuracy = compare_outputs(*reference, *outputs(run, test, 128), legal)
            compile_times[batch] = compile_seconds
        results.append({"candidate": "int8 PT2E X86Inductor + torch.compile", "speed": speeds,
                        "top1": accuracy.top1_agreement, "kl": accuracy.kl_mean, "wdl_max": accuracy.wdl_max_abs,
                        "compile_s": compile_times, "warnings": warning_count})
        print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
