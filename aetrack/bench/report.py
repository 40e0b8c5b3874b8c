"""The benchmark's written report: summary.json, summary.md and the two figures.

Everything is derived from the summary dict that :func:`aetrack.bench.run_benchmark` builds;
files are written atomically, so an interrupted run leaves the previous report or none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aetrack.bench.plots import plot_metrics, plot_speed, plot_tag_auc
from aetrack.io.atomic import atomic_write
from aetrack.pipeline import ALL_STAGES

#: Columns of the side-by-side linker table (combined over all sequences).
LINKER_COLUMNS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN")
#: Columns of the per-sequence table.
SEQUENCE_COLUMNS = ("HOTA", "IDF1", "MOTA", "IDSW", "FP", "FN")


def write_report(*, summary: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write summary.json, summary.md, metrics.png, speed.png and, with tag ROC-AUC measured,
    tag_auc.png into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    json_path, md_path = out / "summary.json", out / "summary.md"
    with atomic_write(json_path) as f:
        f.write(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    with atomic_write(md_path) as f:
        f.write(summary_markdown(summary=summary))
    paths = [json_path, md_path, plot_metrics(summary=summary, path=out / "metrics.png"),
             plot_speed(summary=summary, path=out / "speed.png")]
    if summary.get("tag_auc_by_gap"):
        paths.append(plot_tag_auc(summary=summary, path=out / "tag_auc.png"))
    return paths


def _num(value: float | int | None, *, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["---:"] * (len(header) - 1)
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |",
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def summary_markdown(*, summary: dict[str, Any]) -> str:
    """The report as markdown: setup, linkers side by side, per sequence, speed, model sweep."""
    cfg, speed, linkers = summary["config"], summary["speed"], summary["linkers"]
    modes = cfg["linker_modes"]
    machine = speed["machine"]
    size = speed["input_size"]
    rules = ", ".join(sorted(set(summary["evaluation"]["benchmarks"].values())))
    lines = [
        "# aetrack benchmark",
        "",
        f"- data: `{cfg['data_root']}`, {len(summary['sequences'])} sequences, {speed['frames']} frames"
        + (f" (frames {cfg['frames']})" if cfg["frames"] else ""),
        f"- detections: {cfg['detections']}; weights: {cfg['weights']}; "
        f"input size: {f'{size[0]}x{size[1]}' if size else 'none (no model)'}",
        f"- linkers: {', '.join(f'`{m}`' for m in modes)} (default `{modes[0]}`); "
        "results in `<out>/<linker>/<SEQ>.txt`",
        f"- machine: {machine['cpu']}, {speed['threads']} torch threads, device {speed['device']}, "
        f"torch {machine['torch']}",
        f"- metrics: official MOTChallenge rules ({rules}), ratios in percent",
        "",
        "## Linkers on the same detections (combined)",
        "",
    ]
    base_ms = linkers[modes[0]]["speed"]["link_ms"]
    rows = [[f"`{m}`", *(_num(linkers[m]["combined"][c]) for c in LINKER_COLUMNS),
             _num(linkers[m]["speed"]["link_ms"], digits=3),
             f"{linkers[m]['speed']['link_ms'] / base_ms:.2f}" if base_ms > 0 else "-"]
            for m in modes]
    lines += _table(["Linker", *LINKER_COLUMNS, "link ms/frame", f"link time / `{modes[0]}`'s"], rows)
    lines += ["## Per sequence", ""]
    rows = [[name, f"`{m}`", *(_num(linkers[m]["sequences"][name]["metrics"][c]) for c in SEQUENCE_COLUMNS)]
            for name in summary["sequences"] for m in modes]
    lines += _table(["Sequence", "Linker", *SEQUENCE_COLUMNS], rows)

    lines += _visibility_section(linkers=linkers, modes=modes)

    stages = speed["stages_ms"]
    lines += [
        f"## Speed (default linker `{modes[0]}`)",
        "",
        f"Median milliseconds per frame after a warm-up of {speed['warmup_frames_per_sequence']} frames per sequence; "
        f"end to end {speed['fps']:.1f} frames/s over {speed['frames']} frames ({speed['seconds']:.2f} s).",
        "",
    ]
    lines += _table(["Stage", "ms/frame"], [[s, _num(stages[s], digits=3)] for s in ALL_STAGES]
                    + [["sum of medians", _num(sum(stages.values()), digits=3)]])
    per_seq = [[name, str(row["speed"]["frames"]), _num(row["speed"]["fps"]),
                *(_num(row["speed"]["stages_ms"][s], digits=2) for s in ALL_STAGES)]
               for name, row in summary["sequences"].items()]
    lines += _table(["Sequence", "frames", "frames/s", *(f"{s} ms" for s in ALL_STAGES)], per_seq)

    sweep = speed.get("sweep")
    if sweep is not None:
        mm, conv = sweep["matmul"], sweep["conv"]
        lines += [
            "## Model speed sweep",
            "",
            f"Model: {sweep['model']}; {sweep['threads']} threads on {sweep['device']}. "
            f"FLOPs: {sweep['flop_convention']}.",
            "",
            f"- `torch.mm` of two {mm['n']}x{mm['n']} float32 matrices: {mm['median_ms']:.1f} ms = "
            f"**{mm['gflops_per_s']:.1f} GFLOP/s** (median of repeats)",
            f"- dense 3x3 convolution {conv['channels']}->{conv['channels']} channels on {conv['size']}x{conv['size']} "
            f"(the model's conv library): {conv['median_ms']:.1f} ms = **{conv['gflops_per_s']:.1f} GFLOP/s**",
            f"- limit = the larger: {sweep['limit_gflops_per_s']:.1f} GFLOP/s (MKL's sgemm and oneDNN's convolutions "
            "may use different vector units, e.g. AVX2 vs AVX-512 on AMD CPUs)",
            "",
        ]
        rows = [[f"{e['input_size'][0]}x{e['input_size'][1]}", _num(e["median_ms"], digits=2),
                 _num(e["p90_ms"], digits=2), _num(1e3 / e["median_ms"]), _num(e["gflop"], digits=3),
                 _num(e["gflops_per_s"]),
                 f"{100 * e['fraction_of_matmul_peak']:.0f} %", f"{100 * e['fraction_of_limit']:.0f} %"]
                for e in sweep["sizes"]]
        lines += _table(["Input", f"forward ms (median of {sweep['sizes'][0]['repeats']})", "p90 ms",
                         "forwards/s", "GFLOP/frame", "GFLOP/s achieved", "of matmul", "of limit"], rows)
        lk = sweep["linker"]
        lines += [f"Linker micro-benchmark (`aetrack.linker.time_linker`): {lk['n_objects']} objects, "
                  f"{lk['frames']} frames, tag dimension {lk['tag_dim']}.", ""]
        lines += _table(["Mode", "median ms/frame", "p90 ms/frame", "ids issued"],
                        [[f"`{m}`", _num(r["median_ms"], digits=3), _num(r["p90_ms"], digits=3), str(r["ids"])]
                         for m, r in lk["modes"].items()])
    lines += ["Figures: `metrics.png` (per-sequence HOTA, IDF1, MOTA), `speed.png` (stage breakdown).", ""]
    return "\n".join(lines)


def _visibility_section(*, linkers: dict[str, Any], modes: list[str]) -> list[str]:
    """Recall per gt visibility bin, one row per linker (nothing for gt without visibility)."""
    tables = {m: linkers[m].get("recall_by_visibility") for m in modes}
    first = next((t for t in tables.values() if t is not None), None)
    if first is None:
        return []
    lines = ["## Recall by ground-truth visibility", "",
             "Percent of gt boxes that a reported box covers (per-frame matching at IoU >= 0.5, identities "
             "ignored), by the fraction of the person in view; gt boxes per bin in the last row.", ""]
    rows = [[f"`{m}`", *(_num(r) for r in t["recall"])] for m, t in tables.items() if t is not None]
    rows.append(["gt boxes", *(str(n) for n in first["total"])])
    lines += _table(["Linker", *(f"visibility {b}" for b in first["bins"])], rows)
    return lines
