"""The judging and the outputs of ``engine precision-report`` (:mod:`engine.precision_report`).

The acceptance rule, the markdown and the plots all work on the report dictionary alone (what
``report.json`` holds), so the markdown never shows a figure the JSON lacks and a resumed run
re-judges stored figures under new thresholds. Missing figures (a section not measured, a
precision the device cannot run) are shown as ``-``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT_DPI = 100
ELO_PLOT = "elo_vs_nps.png"
AGREEMENT_PLOT = "agreement.png"
THROUGHPUT_PLOT = "throughput.png"
MATCH_KINDS = {"nodes": "equal nodes", "time": "equal time"}
THRESHOLDS = ("min_score", "max_elo_loss", "elo_bound", "max_catastrophic", "max_faults", "min_agreement")
"""The options of the acceptance rule (see :mod:`engine.precision_report`)."""
ELO_KEYS = {"point": "elo", "lower": "elo_lower", "upper": "elo_upper"}


def check(name: str, value: str, threshold: str, passed: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "threshold": threshold, "passed": passed}


def judge(entry: dict[str, Any], limits: dict[str, Any]) -> list[dict[str, Any]]:
    """The acceptance checks of one precision's figures under the ``THRESHOLDS`` in ``limits``."""
    checks = []
    faults = 0
    for kind, match in entry["matches"].items():
        label = MATCH_KINDS[kind]
        faults += sum(match["faults"].values())
        if not match["games"]:
            checks.append(check(f"{label}: games", "0", "> 0", False))
            continue
        checks.append(check(f"score vs fp32, {label}", pct(match["score"]), f">= {pct(limits['min_score'])}",
                            match["score"] >= limits["min_score"]))
        if kind != "nodes":
            continue
        sprt, bound, floor = match["sprt"], limits["elo_bound"], -limits["max_elo_loss"]
        if sprt is not None and sprt["state"] != "continue":
            checks.append(check("Elo vs fp32, equal nodes (SPRT)", f"{sprt['state']} accepted (LLR {sprt['llr']:.2f})",
                                "H1", sprt["state"] == "H1"))
        else:
            elo = match[ELO_KEYS[bound]]
            checks.append(check(f"Elo vs fp32, equal nodes ({bound})", elo_text(elo), f"> {floor:+.1f}",
                                elo > floor))
    if entry["matches"]:
        checks.append(check("faults (time/illegal/crash/disconnect)", str(faults), f"<= {limits['max_faults']}",
                            faults <= limits["max_faults"]))
    if entry["suite"] is not None:
        catastrophic = entry["suite"]["catastrophic"]
        checks.append(check("tactical suite: catastrophic failures", str(catastrophic),
                            f"<= {limits['max_catastrophic']}", catastrophic <= limits["max_catastrophic"]))
    decisive = (entry["accuracy"] or {}).get("decisive")
    if decisive is not None and limits["min_agreement"] > 0:
        agreement = decisive["top1_agreement"]
        checks.append(check("policy top-1 agreement, decisive positions", pct(agreement),
                            f">= {pct(limits['min_agreement'])}", agreement >= limits["min_agreement"]))
    return checks


def verdict(entry: dict[str, Any], limits: dict[str, Any], baseline: bool, missing: list[str]) -> dict[str, Any]:
    """``{"status": PASS | FAIL | incomplete | baseline | n/a, "reason", "checks"}`` of one precision."""
    if not entry["available"]:
        return {"status": "n/a", "reason": entry["reason"], "checks": []}
    if baseline:
        return {"status": "baseline", "reason": "the reference every precision is measured against", "checks": []}
    checks = judge(entry, limits)
    failed = [f"{c['name']} {c['value']} (required {c['threshold']})" for c in checks if not c["passed"]]
    if failed:
        return {"status": "FAIL", "reason": "; ".join(failed), "checks": checks}
    if missing:
        return {"status": "incomplete", "reason": f"not measured yet: {', '.join(missing)}", "checks": checks}
    return {"status": "PASS", "reason": f"all {len(checks)} checks pass", "checks": checks}


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def elo_text(value: float | None) -> str:
    return "-" if value is None else f"{value + 0.0:+.1f}"  # + 0.0: no "-0.0"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table (``|`` in cells escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _overall(report: dict[str, Any]) -> str:
    statuses = [entry["verdict"]["status"] for entry in report["precisions"].values()]
    if "FAIL" in statuses:
        return "FAIL"
    return "PASS" if report["complete"] else "INCOMPLETE"


def _verdicts(report: dict[str, Any]) -> list[str]:
    rows = [[name, f"**{entry['verdict']['status']}**" if entry["verdict"]["status"] == "FAIL"
             else entry["verdict"]["status"], entry["verdict"]["reason"] or "-"]
            for name, entry in report["precisions"].items()]
    checks = [[name, c["name"], c["value"], c["threshold"], "pass" if c["passed"] else "**FAIL**"]
              for name, entry in report["precisions"].items() for c in entry["verdict"]["checks"]]
    t = report["thresholds"]
    lines = ["## Verdicts", "", "Acceptance: every match scores at least "
             f"{pct(t['min_score'])}; Elo at equal nodes ({t['elo_bound']}) above {-t['max_elo_loss']:+.0f} (or SPRT "
             f"H1); at most {t['max_catastrophic']} catastrophic suite failures and {t['max_faults']} faults; "
             f"top-1 agreement on decisive positions at least {pct(t['min_agreement'])} (0: not checked).", ""]
    lines += table(["precision", "verdict", "reason"], rows)
    if checks:
        lines += ["", "### Checks", ""] + table(["precision", "check", "value", "required", "result"], checks)
    return lines


def _variants(report: dict[str, Any]) -> list[str]:
    rows = []
    for name, entry in report["precisions"].items():
        build = entry["build"]
        if not entry["available"]:
            made = f"not run: {entry['reason']}"
        elif build is not None:
            calibration = build.get("calibration") or {}
            source = calibration.get("source")
            where = "generated positions" if source == "generated positions" else f"positions from {source}"
            made = (f"{build['method'].upper()} here on {calibration.get('positions', '?')} {where}, "
                    f"{build['seconds']:.0f} s")
        elif entry["engine_precision"] == "int8-static":
            made = "given (--int8-net)"
        else:
            made = "the net file itself"
        rows.append([name, f"`--precision {entry['engine_precision']}`", f"`{entry['file'] or '-'}`", made])
    return ["## Variants", ""] + table(["precision", "engine runs", "net file", "made"], rows)


def _throughput(report: dict[str, Any]) -> list[str]:
    measured = {name: entry["throughput"] for name, entry in report["precisions"].items() if entry["throughput"]}
    batches = sorted({row["batch"] for data in measured.values() for row in data["rows"]})
    rows = []
    for name, data in measured.items():
        by_batch = {row["batch"]: row for row in data["rows"]}
        cells = []
        for batch in batches:
            row = by_batch.get(batch)
            cells.append("-" if row is None else f"{row['positions_per_s']:.0f} ({num(row['ratio_to_fp32'], '.2f')}x)")
        rows.append([name, *cells, num(data["peak_mb"], ".0f"), num(data["file_mb"], ".2f")])
    return (["## Network throughput", "", "Positions/s per batch size (ratio to fp32 at the same batch), "
             "network only, inputs pre-encoded. Peak MB: on CPU the process's peak resident memory while "
             "that precision ran; on CUDA the peak allocation. File MB: the net in our file format at that "
             "precision (the twin's own file for int8-static).", ""]
            + table(["precision", *(f"batch {b}" for b in batches), "peak MB", "file MB"], rows))


def _search(report: dict[str, Any]) -> list[str]:
    rows = [[name, str(data["nodes"]), f"{data['seconds']:.2f}", f"{data['nps']:.0f}",
             num(data["ratio_to_fp32"], ".2f")]
            for name, entry in report["precisions"].items() if (data := entry["search"])]
    first = next((entry["search"] for entry in report["precisions"].values() if entry["search"]), None)
    where = (f"{first['positions']} bench positions x {first['nodes_per_position']} nodes, one search thread"
             if first else "not measured")
    return ["## Search speed", "", f"`engine bench`'s search: {where}.", ""] + table(
        ["precision", "nodes", "seconds", "nodes/s", "x fp32"], rows)


def _comparison_cells(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["-"] * 5
    return [str(data["positions"]), pct(data["top1_agreement"], 2), num(data["kl_mean"], ".5f"),
            num(data["wdl_mean_abs"], ".4f"), num(data["wdl_max_abs"], ".4f")]


def _accuracy(report: dict[str, Any]) -> list[str]:
    rows = [[name, *_comparison_cells(data["all"]), *_comparison_cells(data["decisive"])]
            for name, entry in report["precisions"].items() if (data := entry["accuracy"])]
    header = ["precision", "positions", "top-1", "KL mean", "WDL err mean", "WDL err max",
              "decisive", "top-1 (decisive)", "KL (decisive)", "WDL mean (decisive)", "WDL max (decisive)"]
    settings = report["settings"]
    source = settings["positions"] or (f"generated (random continuations of the positions of {settings['calib']})"
                                       if settings["calib"] else "generated (random continuations of the opening book)")
    return ["## Policy and value against fp32", "",
            f"Held-out positions: {source}. Top-1: both rank the same legal move first; KL(fp32 || precision) "
            "of the legal-move policies; WDL: absolute error of the win/draw/loss probabilities. Decisive: "
            "fp32's best move leads its second by at least 0.1 logit.", ""] + table(header, rows)


def _suite(report: dict[str, Any]) -> list[str]:
    measured = {name: entry["suite"] for name, entry in report["precisions"].items() if entry["suite"]}
    lines = ["## Tactical suite", ""]
    if not measured:
        return lines + ["Not measured."]
    first = next(iter(measured.values()))
    lines += [f"`{report['settings']['suite']}`, {first['positions']} positions at {first['nodes']} nodes. "
              "Catastrophic: fp32 solves it, the precision does not, and its move loses at least "
              f"{report['settings']['catastrophic_swing']} of expected score per the referee "
              f"({report['settings']['referee']}).", ""]
    lines += table(["precision", "solved", "fp32 solved", "catastrophic"],
                   [[name, f"{d['solved']}/{d['positions']}", f"{d['fp32_solved']}/{d['positions']}",
                     str(d["catastrophic"])] for name, d in measured.items()])
    for name, data in measured.items():
        if data["differences"]:
            lines += ["", f"Solved by one of {name} and fp32 only:", ""]
            lines += table(["id", "solution", f"{name} move", "fp32 move", "solved by", "swing", "catastrophic"],
                           [[d["id"], " ".join(d["solution"]) or "-", f"{d['move']} ({d['score']})",
                             str(d["fp32_move"]), d["solved_by"], num(d["swing"], ".2f"),
                             "**yes**" if d["catastrophic"] else "no"] for d in data["differences"]])
    return lines


def _match_row(label: str, match: dict[str, Any]) -> list[str]:
    sprt = match["sprt"]
    return [label, match["limit"], str(match["games"]), f"{match['wins']}-{match['draws']}-{match['losses']}",
            pct(match["score"]), f"{elo_text(match['elo'])} [{elo_text(match['elo_lower'])}, "
            f"{elo_text(match['elo_upper'])}]", pct(match["los"]), str(match["pentanomial"]),
            "-" if sprt is None else f"{sprt['state']} (LLR {sprt['llr']:.2f})",
            str(sum(match["faults"].values())), f"`{match['pgn']}`"]


def _matches(report: dict[str, Any]) -> list[str]:
    rows = [_match_row(f"{name}, {MATCH_KINDS[kind]}", match)
            for name, entry in report["precisions"].items() for kind, match in entry["matches"].items()]
    return ["## Matches against fp32", "",
            "Score and Elo are the precision's (logistic Elo, 95% interval on game pairs: pentanomial "
            "[LL, LD, WL+DD, WD, WW]); faults: its time losses, illegal moves, crashes and disconnects.", ""] + table(
        ["precision", "limit", "games", "W-D-L", "score", "Elo (95% CI)", "LOS", "pentanomial", "SPRT", "faults",
         "games file"], rows)


def _ladder(report: dict[str, Any]) -> list[str]:
    ladders = {name: entry["ladder"] for name, entry in report["precisions"].items() if entry["ladder"]}
    if not ladders:
        return []
    elos = sorted({m["uci_elo"] for ladder in ladders.values() for m in ladder["opponents"]})
    rows = []
    for name, ladder in ladders.items():
        rating = ladder["rating"]
        by_elo = {m["uci_elo"]: m for m in ladder["opponents"]}
        rated = "-" if rating is None else (f"{rating['rating']:.0f} ({rating['lower']:.0f} .. {rating['upper']:.0f})"
                                            + (", clamped" if rating["clamped"] else ""))
        rows.append([name, rated, *(f"{pct(by_elo[e]['score'])} of {by_elo[e]['games']}" if e in by_elo else "-"
                                    for e in elos)])
    return ["## Stockfish ladder", "", "Maximum-likelihood rating from the scores against Stockfish at each "
            "UCI_Elo (95% likelihood interval; clamped: a perfect or null score leaves it unbounded).", ""] + table(
        ["precision", "rating (95% CI)", *(f"vs {e}" for e in elos)], rows)


def render_markdown(report: dict[str, Any]) -> str:
    """``report.md``: header, verdicts, then a table per section."""
    net = report["net"]
    lines = [f"# Precision report: {net['path']} ({net['architecture']}) — {_overall(report)}", "",
             *(f"- `{command}`" for command in report["commands"]), "",
             f"Device {report['device']}, {report['threads']} torch thread(s) here and per engine, torch "
             f"{report['torch']}; updated {report['updated']}."
             + ("" if report["complete"] else f" **Interrupted**: not measured yet: {', '.join(report['missing'])}."),
             ""]
    for section in (_verdicts, _variants, _throughput, _search, _accuracy, _suite, _matches, _ladder):
        part = section(report)
        if part:
            lines += part + [""]
    lines += ["## Files", "", f"`report.json` (every figure), `{ELO_PLOT}`, `{AGREEMENT_PLOT}`, "
              f"`{THROUGHPUT_PLOT}`, games in `pgn/`, finished sections in `sections/`.", ""]
    return "\n".join(lines)


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    """The three PNGs (each only when its figures exist); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from engine.bench.netbench import BenchRow, write_plot

    written = []
    entries = report["precisions"]
    bench_rows = [BenchRow(name, "", row["batch"], row["positions_per_s"], row["latency_ms"], row["ratio_to_fp32"],
                           entry["throughput"]["file_mb"], entry["throughput"]["peak_mb"] or 0.0, row["runs"])
                  for name, entry in entries.items() if entry["throughput"] for row in entry["throughput"]["rows"]]
    if bench_rows:
        write_plot(bench_rows, str(out / THROUGHPUT_PLOT),
                   title=f"network throughput ({report['device']}, {report['threads']} thread(s))")
        written.append(out / THROUGHPUT_PLOT)
    compared = [(name, entry["accuracy"]) for name, entry in entries.items() if entry["accuracy"]]
    if compared:
        figure, axes = pyplot.subplots(figsize=(6, 4))
        xs = range(len(compared))
        for offset, subset, label in ((-0.2, "all", "all positions"), (0.2, "decisive", "decisive positions")):
            values = [100 * (data[subset] or data["all"])["top1_agreement"] for _, data in compared]
            bars = axes.bar([x + offset for x in xs], values, 0.4, label=label)
            axes.bar_label(bars, fmt="%.1f", fontsize=8)
        if report["thresholds"]["min_agreement"] > 0:
            axes.axhline(100 * report["thresholds"]["min_agreement"], color="tab:red", ls="--", label="required")
        axes.set_xticks(list(xs), [name for name, _ in compared])
        axes.set_ylim(0, 110)
        axes.set_ylabel("policy top-1 agreement with fp32 (%)")
        axes.set_title("policy agreement with fp32, held-out positions")
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8)
        figure.tight_layout()
        figure.savefig(out / AGREEMENT_PLOT, dpi=PLOT_DPI)
        pyplot.close(figure)
        written.append(out / AGREEMENT_PLOT)
    points = [(name, entry["search"]["nps"], kind, match) for name, entry in entries.items() if entry["search"]
              for kind, match in entry["matches"].items() if match["games"]]
    if points:
        figure, axes = pyplot.subplots(figsize=(7, 4.5))
        base = entries.get("fp32", {}).get("search")
        if base:
            axes.scatter([base["nps"]], [0], color="black", marker="*", s=120, label="fp32 (baseline)", zorder=3)
        for kind, marker in (("nodes", "o"), ("time", "s")):
            chosen = [p for p in points if p[2] == kind]
            if not chosen:
                continue
            elos = [m["elo"] for *_, m in chosen]
            errors = [[m["elo"] - m["elo_lower"] for *_, m in chosen], [m["elo_upper"] - m["elo"] for *_, m in chosen]]
            axes.errorbar([p[1] for p in chosen], elos, yerr=errors, fmt=marker, capsize=4,
                          label=f"Elo vs fp32, {MATCH_KINDS[kind]}")
            for name, nps, _, match in chosen:
                axes.annotate(name, (nps, match["elo"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
        axes.axhline(0, color="grey", lw=0.8)
        axes.axhline(-report["thresholds"]["max_elo_loss"], color="tab:red", ls="--", lw=0.8, label="max Elo loss")
        axes.set_xscale("log")
        axes.set_xlabel("search nodes/s (engine bench)")
        axes.set_ylabel("Elo vs fp32 (95% CI)")
        axes.set_title("strength against fp32 vs search speed")
        axes.legend(fontsize=8)
        axes.grid(True, alpha=0.3)
        figure.tight_layout()
        figure.savefig(out / ELO_PLOT, dpi=PLOT_DPI)
        pyplot.close(figure)
        written.append(out / ELO_PLOT)
    return written
