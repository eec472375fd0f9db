"""engine precision-report: a small real run on tiny nets, resume, a broken int8 twin, bad input, CUDA limits."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from engine import precision_report
from engine.arena.specs import find_stockfish
from engine.nn.model import NetConfig, random_net
from engine.nn.netfile import build_metadata, save_net
from engine.nn.positions import generate_positions
from engine.nn.quantize import quantize_net
from engine.precision_report_render import render_markdown

CONFIG = NetConfig(filters=16, blocks=1)
SMALL = ["--games", "2", "--nodes", "16", "--tc", "1+0.02", "--suite-limit", "3", "--batches", "1,8",
         "--bench-seconds", "0.05", "--heldout", "64", "--calib-positions", "64", "--search-nodes", "8",
         "--maxmoves", "20", "--threads", "1", "--runner", "builtin", "--engine-cmd", f"{sys.executable} -m engine"]
SECTIONS = ("throughput", "search", "accuracy", "suite")


def run(argv: list[str]) -> tuple[int, str, str]:
    """``engine precision-report ARGV`` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = precision_report.main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()


def md_table(markdown: str, heading: str) -> list[dict[str, str]]:
    """The first table after ``heading`` as rows of {column: cell}."""
    blocks = [block.strip() for block in markdown.split(f"\n{heading}\n", 1)[1].split("\n\n")]
    lines = next(block for block in blocks if block.startswith("|")).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split(" | ")))) for line in lines[2:]]


def section_times(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in (folder / "sections").glob("*.json")}


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("precision-nets")
    fp32 = folder / "tiny.pt"
    save_net(fp32, random_net(CONFIG, seed=1), build_metadata(CONFIG, "fp32"))
    # A "twin" quantized from other weights: what a scrambled or mislabelled int8 file looks like.
    quantized = quantize_net(random_net(CONFIG, seed=7), "int8-static", generate_positions(64, seed=3), "generated",
                             progress=False)
    broken = folder / "broken-int8.pt"
    save_net(broken, quantized.module, build_metadata(CONFIG, quantized.precision, quantized.info),
             onnx_model=quantized.onnx_model)
    return {"fp32": fp32, "broken": broken}


@pytest.fixture(scope="module")
def report_run(nets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    out = tmp_path_factory.mktemp("precision-report") / "run"
    code, stdout, stderr = run(["--net", nets["fp32"], "--precisions", "fp32,int8-static", *SMALL, "--out", out])
    return out, code, stdout, stderr


def test_small_run_fills_every_section(report_run: tuple[Path, int, str, str]) -> None:
    out, code, stdout, stderr = report_run
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] and report["missing"] == [], stderr
    assert code == report["exit_code"] == (1 if "FAIL" in stdout else 0), stdout + stderr
    fp32, int8 = report["precisions"]["fp32"], report["precisions"]["int8-static"]
    assert fp32["verdict"]["status"] == "baseline"
    assert int8["build"]["method"] == "ptq" and Path(int8["file"]).is_file()
    for entry in (fp32, int8):
        assert [row["batch"] for row in entry["throughput"]["rows"]] == [1, 8]
        assert entry["throughput"]["file_mb"] > 0 and entry["search"]["nps"] > 0
    assert fp32["throughput"]["rows"][0]["ratio_to_fp32"] == 1.0
    assert int8["accuracy"]["all"]["positions"] == 64 and int8["accuracy"]["decisive"]["positions"] > 0
    assert int8["suite"]["positions"] == 3
    for kind in ("nodes", "time"):
        match = int8["matches"][kind]
        assert match["games"] == 2 and sum(match["pentanomial"]) == 1
        assert (out / match["pgn"]).read_text().count("[Event ") == 2
    assert {check["name"].split(",")[0] for check in int8["verdict"]["checks"]} >= {
        "score vs fp32", "Elo vs fp32", "tactical suite: catastrophic failures",
        "policy top-1 agreement", "faults (time/illegal/crash/disconnect)"}
    for plot in ("elo_vs_nps.png", "agreement.png", "throughput.png"):
        assert (out / plot).stat().st_size > 5000
    assert f"report: {out / 'report.md'}" in stdout


def test_markdown_shows_the_json_figures(report_run: tuple[Path, int, str, str]) -> None:
    out = report_run[0]
    report = json.loads((out / "report.json").read_text())
    markdown = (out / "report.md").read_text()
    assert markdown == render_markdown(report)
    entries = report["precisions"]
    verdicts = {row["precision"]: row["verdict"].strip("*") for row in md_table(markdown, "## Verdicts")}
    assert verdicts == {name: entry["verdict"]["status"] for name, entry in entries.items()}
    checks = {(row["precision"], row["check"]): (row["value"], row["required"])
              for row in md_table(markdown, "### Checks")}
    assert checks == {(name, c["name"]): (c["value"], c["threshold"])
                      for name, entry in entries.items() for c in entry["verdict"]["checks"]}
    for row in md_table(markdown, "## Network throughput"):
        rows = entries[row["precision"]]["throughput"]["rows"]
        assert [row[f"batch {r['batch']}"].split(" ")[0] for r in rows] == [f"{r['positions_per_s']:.0f}" for r in rows]
    for row in md_table(markdown, "## Search speed"):
        assert row["nodes/s"] == f"{entries[row['precision']]['search']['nps']:.0f}"
    (accuracy,) = md_table(markdown, "## Policy and value against fp32")
    figures = entries["int8-static"]["accuracy"]
    assert accuracy["top-1"] == f"{100 * figures['all']['top1_agreement']:.2f}%"
    assert accuracy["top-1 (decisive)"] == f"{100 * figures['decisive']['top1_agreement']:.2f}%"
    (suite,) = md_table(markdown, "## Tactical suite")
    assert suite["solved"] == f"{entries['int8-static']['suite']['solved']}/3"
    matches = {row["precision"]: row for row in md_table(markdown, "## Matches against fp32")}
    for kind, label in (("nodes", "equal nodes"), ("time", "equal time")):
        match = entries["int8-static"]["matches"][kind]
        assert matches[f"int8-static, {label}"]["W-D-L"] == f"{match['wins']}-{match['draws']}-{match['losses']}"


def test_broken_twin_fails_and_resume_reuses_sections(report_run: tuple[Path, int, str, str],
                                                      nets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(report_run[0], out)
    before = section_times(out)
    code, stdout, stderr = run(["--resume", out, "--int8-net", nets["broken"], "--suite", "none", "--tc", "none"])
    report = json.loads((out / "report.json").read_text())
    int8 = report["precisions"]["int8-static"]
    assert code == report["exit_code"] == 1, stdout + stderr
    assert int8["verdict"]["status"] == "FAIL" and "policy top-1 agreement" in int8["verdict"]["reason"]
    assert int8["file"] == str(nets["broken"]) and int8["suite"] is None and set(int8["matches"]) == {"nodes"}
    assert "resuming: " in stderr and "FAIL     int8-static: policy top-1 agreement" in stdout
    after = section_times(out)
    assert after["throughput-fp32.json"] == before["throughput-fp32.json"]  # fp32 kept, not re-measured
    assert after["throughput-int8-static.json"] != before["throughput-int8-static.json"]
    # New thresholds only re-judge: nothing is measured again, and now every check passes.
    lenient = ["--min-agreement", "0", "--min-score", "0", "--max-elo-loss", "100000", "--max-faults", "99"]
    code, stdout, _ = run(["--resume", out, *lenient])
    assert code == 0 and "PASS     int8-static" in stdout
    assert section_times(out) == after


def test_interrupt_keeps_finished_sections(nets: dict[str, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: precision_report.PrecisionReport, name: str) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(precision_report.PrecisionReport, "run_suite", interrupted)
    code, _, stderr = run(["--net", nets["fp32"], "--precisions", "int8-dynamic", *SMALL, "--out", tmp_path])
    assert code == 130 and f"--resume {tmp_path}" in stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert not report["complete"] and report["exit_code"] is None
    assert "suite-int8-dynamic" in report["missing"] and "nodes-int8-dynamic" in report["missing"]
    assert report["precisions"]["int8-dynamic"]["accuracy"]["all"]["top1_agreement"] > 0.9
    assert report["precisions"]["int8-dynamic"]["verdict"]["status"] == "incomplete"
    assert "**Interrupted**" in (tmp_path / "report.md").read_text()
    assert sorted(section_times(tmp_path)) == [f"{s}-{p}.json" for s in ("accuracy", "search", "throughput")
                                               for p in ("fp32", "int8-dynamic") if (s, p) != ("accuracy", "fp32")]


@pytest.mark.parametrize("argv, message", [
    (["--net", "missing.pt"], "missing.pt: no such net file"),
    (["--precisions", "fp32,fp8"], "unknown precision 'fp8'"),
    (["--precisions", "fp32,fp16", "--device", "cpu"], "fp16 runs on CUDA only"),
    (["--int8-net", "{fp32}"], "not an int8-static twin"),
    (["--calib", "missing.epd"], "--calib missing.epd: no such file"),
    (["--tc", "fast"], "fast"),
    ([], None),  # --resume of a folder without a run
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str | None, nets: dict[str, Path],
                                          tmp_path: Path) -> None:
    if message is None:
        argv, message = ["--resume", tmp_path], "no precision-report run to resume"
    else:
        argv = ["--net", nets["fp32"], *[a.format(**nets) for a in argv], "--out", tmp_path / "out"]
    code, stdout, stderr = run(argv)
    assert code == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1 and message in stderr, stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_requested_without_cuda(nets: dict[str, Path], tmp_path: Path) -> None:
    code, _, stderr = run(["--net", nets["fp32"], "--device", "cuda", "--out", tmp_path / "out"])
    assert code == 2 and "CUDA is not available" in stderr and len(stderr.strip().splitlines()) == 1


def test_int8_on_cuda_is_reported_not_run(nets: dict[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.nn.evaluator.resolve_device", lambda device: torch.device("cuda"))
    args = precision_report.parse_arguments(["--net", str(nets["fp32"]), *map(str, SMALL), "--out", str(tmp_path)])
    report_run = precision_report.prepare(args)
    assert report_run.device == "cuda" and report_run.candidates == ["amp"]
    assert {task.precision for task in report_run.tasks()} == {"fp32", "amp"}
    report = precision_report.assemble(report_run, ["test"], complete=False)
    for name in ("int8-dynamic", "int8-static"):
        assert report["precisions"][name]["verdict"] == {"status": "n/a", "checks": [],
                                                         "reason": report["precisions"][name]["reason"]}
        assert report["precisions"][name]["reason"].startswith("not available on cuda")
    assert "| int8-static | `--precision int8-static` | `-` | not run: not available on cuda" in render_markdown(report)


@pytest.mark.skipif(find_stockfish() is None, reason="stockfish not installed (apt-get install stockfish)")
def test_stockfish_ladder(nets: dict[str, Path], tmp_path: Path) -> None:
    code, stdout, stderr = run(["--net", nets["fp32"], "--precisions", "fp32", *SMALL, "--tc", "none",
                                "--suite", "none", "--stockfish-elo", "1350", "--out", tmp_path])
    assert code == 0, stdout + stderr
    report = json.loads((tmp_path / "report.json").read_text())
    ladder = report["precisions"]["fp32"]["ladder"]
    (opponent,) = ladder["opponents"]
    assert opponent["uci_elo"] == 1350 and opponent["opponent"] == "stockfish1350" and opponent["games"] == 2
    assert ladder["rating"]["lower"] <= ladder["rating"]["rating"] <= ladder["rating"]["upper"]
    (row,) = md_table((tmp_path / "report.md").read_text(), "## Stockfish ladder")
    assert row["vs 1350"] == f"{100 * opponent['score']:.1f}% of 2"
    assert row["rating (95% CI)"].startswith(f"{ladder['rating']['rating']:.0f} (")
