"""``aetrack benchmark DATA_ROOT --out DIR``: track, evaluate and time every sequence.

    aetrack benchmark ../shared/data/MOT17-train --dets det/det.txt --linker iou --linker motion --out b17
    aetrack benchmark synth-eval --weights runs/synth_small/best.pt --linker tags_motion --linker motion --out bs
    aetrack benchmark ../shared/data/PETS09-S2L1 --frames 398:795 --threads 2 --out bpets

Writes ``DIR/<linker>/<SEQ>.txt`` per linker (re-evaluable with ``aetrack eval DATA_ROOT
DIR/<linker>``), ``DIR/summary.json``, ``DIR/summary.md``, ``DIR/metrics.png`` and
``DIR/speed.png``. Several ``--linker`` values link the same detections (detected once per
frame), so their differences are the linkers' own. ``--no-speed`` skips the model speed sweep
(forward ms and FLOPs at several input sizes, matmul peak, linker micro-benchmark).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aetrack.data.mot import parse_frame_range
from aetrack.decode import DecodeConfig
from aetrack.errors import AetrackError
from aetrack.linker import MODES
from cli.common import BACKEND_HELP, DETS_FOLDERS_HELP, LINKER_HELP, THREADS_DEFAULT, parse_input_size


def _gaps(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        gaps = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise AetrackError(f"--tag-gaps {text!r} is not a comma-separated list of seconds, e.g. 0.1,1,3") from None
    if not gaps or any(not (g > 0 and g < 1e6) for g in gaps):
        raise AetrackError(f"--tag-gaps {text!r}: give one or more gaps in seconds, each > 0")
    return gaps


def _scales(text: str | None, use_model: bool) -> tuple[float, ...]:
    from aetrack.model.multiscale import parse_scales

    if text is not None and not use_model:
        raise AetrackError("--scales applies to a model; model-free --dets runs have none (add --weights)")
    try:
        return parse_scales(text)
    except ValueError as err:
        raise AetrackError(f"--scales: {err}") from None


def benchmark(
    data_root: Annotated[Path, typer.Argument(help="Folder of MOT sequence folders (each with gt/gt.txt), or one.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("benchmark_out"),
    weights: Annotated[
        Optional[Path],
        typer.Option(help="Checkpoint from `aetrack train`, or embedded weights by name: default (real footage; "
                          "what no --weights means, none with --dets) or synthetic.", show_default=False),
    ] = None,
    dets: Annotated[Optional[str], typer.Option(help=DETS_FOLDERS_HELP, show_default=False)] = None,
    linker: Annotated[
        Optional[list[str]],
        typer.Option(help=LINKER_HELP + " Repeatable, to compare linkers on the same detections."),
    ] = None,
    frames: Annotated[
        Optional[str], typer.Option(help="Only frames A:B (inclusive, 1-based; default: all), tracked and scored.")
    ] = None,
    half: Annotated[
        Optional[str], typer.Option(help="Only the first or second half of every sequence (half-val split: "
                                         "tune on first, report second; default: all frames); not with --frames.")
    ] = None,
    set_: Annotated[
        Optional[list[str]], typer.Option("--set", help="Override a setting, e.g. linker.high_score=0.6.")
    ] = None,
    linker_config: Annotated[
        Optional[Path], typer.Option("--linker-config", help="YAML of linker settings, e.g. from aetrack tune "
                                                             "(applied before --linker and --set).")
    ] = None,
    threads: Annotated[Optional[int], typer.Option(
        help=f"CPU threads for the model, on whichever engine --backend picks ({THREADS_DEFAULT}).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "cpu",
    input_size: Annotated[
        Optional[str], typer.Option(help="Network input WIDTHxHEIGHT (default: the model's).")
    ] = None,
    warmup: Annotated[int, typer.Option(help="Frames per sequence left out of the timing medians.")] = 5,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "auto",
    speed: Annotated[
        bool, typer.Option("--speed/--no-speed", help="Also run the model speed sweep, matmul peak and linker timing.")
    ] = True,
    scales: Annotated[
        Optional[str],
        typer.Option(help="Multi-scale test: input resize factors, comma-separated, e.g. 0.75,1,1.25 "
                          "(heatmaps averaged, tags concatenated); default one pass at scale 1."),
    ] = None,
    tag_gaps: Annotated[
        Optional[str],
        typer.Option(help="Also measure tag ROC-AUC at these gaps in seconds, comma-separated, e.g. 0.1,1,3: "
                          "detections matched to ground truth, same id against different ids that far apart."),
    ] = None,
) -> None:
    """Track every sequence, evaluate (HOTA, IDF1, MOTA...), time each stage; write summary.json/md and plots."""
    from aetrack.backend import check_backend, resolve_backend
    from aetrack.bench import SweepSettings, run_benchmark
    from cli.common import print_metrics, set_threads
    from aetrack.linker.config_file import load_linker_config
    from aetrack.track_job import tracker_settings
    from cli.common import check_half

    use_model = dets is None or weights is not None
    if use_model:
        backend = resolve_backend(backend, weights=weights, device=device, multiscale=scales is not None)
    elif backend not in ("auto", "torch"):
        check_backend(backend, device=device)
        raise AetrackError("--backend applies to a model; model-free --dets runs have none (add --weights)")
    else:
        backend = "torch"
    threads = set_threads(threads, backend=backend)
    window = parse_frame_range(frames)
    size = parse_input_size(input_size)
    model = model_cfg = None
    if use_model:
        from aetrack.backend import load_detector

        loaded = load_detector(weights, backend=backend, input_size=size, threads=threads, device=device)
        model, model_cfg = loaded.model, loaded.model_cfg
        base_linker, base_decode = loaded.linker, loaded.decode
        label = (str(weights) if weights is not None else "embedded default") + f" ({loaded.backend})"
    else:
        if size is not None:
            raise AetrackError("--input-size applies to a model; model-free --dets runs have none (add --weights)")
        from aetrack.linker import LinkerConfig

        base_linker, base_decode = LinkerConfig(), DecodeConfig()   # made model-free below
        label = "none"
    overrides = list(set_ or [])
    if linker_config is not None:
        base_linker = load_linker_config(linker_config, base=base_linker)
    if not use_model:
        base_linker = base_linker.without_tags()
    settings = [tracker_settings(base_linker=base_linker, base_decode=base_decode, linker=mode, overrides=overrides)
                for mode in (linker or [None])]
    result = run_benchmark(
        data_root=data_root, out_dir=out, linkers=[lcfg for lcfg, _ in settings], model=model, model_cfg=model_cfg,
        decode_cfg=settings[0][1], weights=label, dets=dets, frames=window, device=device, warmup=warmup,
        sweep=SweepSettings() if speed else None, half=check_half(half), tag_gaps=_gaps(tag_gaps),
        scales=_scales(scales, use_model), model_threads=threads,
    )
    for mode, report in result.reports.items():
        print_metrics(report, title=f"linker {mode}" + (f", frames {window}" if window else ""))
    sp = result.summary["speed"]
    typer.echo(f"{sp['frames']} frames, {sp['fps']:.1f} frames/s end to end (linker {next(iter(result.reports))}); "
               + ", ".join(f"{k} {v:.2f} ms" for k, v in sp["stages_ms"].items()))
    if "sweep" in sp:
        sw = sp["sweep"]
        sizes = ", ".join(f"{e['input_size'][0]}x{e['input_size'][1]} {e['median_ms']:.1f} ms "
                          f"({e['gflops_per_s']:.1f} GFLOP/s, {100 * e['fraction_of_limit']:.0f} % of limit)"
                          for e in sw["sizes"])
        typer.echo(f"peaks: matmul {sw['matmul']['gflops_per_s']:.1f}, conv {sw['conv']['gflops_per_s']:.1f} GFLOP/s; "
                   f"model {sizes}")
    auc = result.summary.get("tag_auc_by_gap", {})
    for k, row in enumerate(auc.get("gaps", [])):
        ref = auc.get("colour_histogram", [])
        hist = f"; colour histogram {ref[k]['auc']:.3f}" if k < len(ref) else ""
        typer.echo(f"tag ROC-AUC at gap {row['gap_s']:g} s: {row['auc']:.3f}{hist} "
                   f"({row['positives']} same-id pairs, {row['negatives']} different-id pairs)")
    for p in result.outputs:
        typer.echo(f"wrote {p}")
