"""``aetrack tune DATA... --dets det/det.txt --out DIR``: search linker settings on given detections, or
``--weights W``: on a model's own detections and tags (tag settings too).

    aetrack tune ../shared/data/MOT17-train ../shared/data/PETS09-S2L1 --dets det/det.txt --out tune_out --trials 60
    aetrack benchmark ../shared/data/MOT17-train --dets det/det.txt --half second --linker-config tune_out/best.yaml --out b
    aetrack tune bench_data/tune-hard --weights synthetic --space configs/tune_tags_space.yaml --frames 1:300

Tunes on the first half of every sequence by default (``--half first``; the second half is
for reporting). Writes ``DIR/best.yaml`` (for ``--linker-config``), ``DIR/trials.csv``,
``DIR/trials.png`` and ``DIR/study.db``; the same command again continues the study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aetrack.data.mot import parse_frame_range
from aetrack.errors import AetrackError
from cli.common import THREADS_DEFAULT


def tune(
    data: Annotated[list[Path], typer.Argument(help="MOT sequence folders, or folders of them, each with det/det.txt "
                                                    "and gt/gt.txt.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (study.db, best.yaml, trials.csv, trials.png).")] = Path("tune_out"),
    dets: Annotated[Optional[str], typer.Option(
        help="Link the MOT detections in this file inside each sequence folder, e.g. det/det.txt (this or --weights).",
        show_default=False)] = None,
    weights: Annotated[Optional[str], typer.Option(help="Link this model's own detections and tags instead "
                                                        "(default, synthetic or a weights file; computed once, "
                                                        "cached in OUT/cache); the search starts from its "
                                                        "stored linker settings.")] = None,
    backend: Annotated[str, typer.Option(help="Engine of the model with --weights: auto, torch or onnxruntime.")] = "auto",
    threads: Annotated[Optional[int], typer.Option(
        help=f"CPU threads for the model with --weights ({THREADS_DEFAULT}).")] = None,
    trials: Annotated[int, typer.Option(help="Trials in the study in all; a re-run continues up to this.")] = 50,
    objective: Annotated[str, typer.Option(help="What to maximise: hota or idf1.")] = "hota",
    space: Annotated[Optional[Path], typer.Option(help="YAML search space (default: the built-in space; see "
                                                       "aetrack.tune.space).")] = None,
    half: Annotated[Optional[str], typer.Option(help="Tune on this half of every sequence: first (default) or "
                                                     "second; none with --frames.")] = None,
    frames: Annotated[Optional[str], typer.Option(help="Tune on frames A:B of every sequence instead of a half.")] = None,
    linker_config: Annotated[Optional[Path], typer.Option("--linker-config", help="YAML of linker settings the "
                                                                                  "search starts from (default: the "
                                                                                  "model's, or the given-detections "
                                                                                  "defaults).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Fix a base setting, e.g. linker.lost_time_s=2.")] = None,
    camera_motion: Annotated[bool, typer.Option("--camera-motion/--no-camera-motion", help="Estimate and cache "
                            "the camera motion of sequences that have all their frames.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the sampler.")] = 0,
) -> None:
    """Search linker settings (Optuna) for the best HOTA or IDF1 on given detections; write best.yaml."""
    from aetrack.decode import DecodeConfig
    from aetrack.linker import LinkerConfig
    from aetrack.linker.config_file import load_linker_config
    from aetrack.tune.protocol import load_sequences
    from aetrack.tune.search import OBJECTIVES, run_study
    from aetrack.tune.space import load_space
    from cli.common import check_half
    from aetrack.track_job import tracker_settings

    if (dets is None) == (weights is None):
        raise AetrackError("aetrack tune links given detections (--dets det/det.txt, a file inside each sequence "
                           "folder) or a model's own (--weights W): give one of them")
    if objective not in OBJECTIVES:
        raise AetrackError(f"--objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    params = load_space(space)
    window = parse_frame_range(frames)
    half = check_half(half)
    if window is not None and half is not None:
        raise AetrackError("give --half or --frames, not both")
    if window is None and half is None:
        half = "first"
    if weights is not None and camera_motion:
        raise AetrackError("--camera-motion: the tuner estimates camera motion for given detections (--dets) "
                           "only, not with --weights")
    loaded = None
    if weights is not None:
        from aetrack.backend import apply_threads, load_detector, resolve_backend

        engine = resolve_backend(backend, weights=weights, device="cpu")
        loaded = load_detector(weights, backend=engine, threads=apply_threads(threads, backend=engine))
    base = LinkerConfig() if loaded is None else loaded.linker
    if linker_config is not None:
        base = load_linker_config(linker_config, base=base)
    if loaded is None:
        base = base.without_tags()
    base, dcfg = tracker_settings(base_linker=base, base_decode=DecodeConfig() if loaded is None else loaded.decode,
                                  linker=None, overrides=list(set_ or []))
    if loaded is None:
        if base.mode not in ("motion", "iou"):
            raise AetrackError(f"linker mode {base.mode!r} needs tags from a model; the tuner links given "
                               f"detections (motion or iou) unless --weights is given")
        seqs = load_sequences(data, dets=dets, camera_motion=camera_motion, cache_dir=out / "cache", progress=True)
    else:
        from aetrack.tracker import Tracker
        from aetrack.tune.protocol import load_model_sequences, weights_id

        tracker = Tracker(model=loaded.model, model_cfg=loaded.model_cfg, decode_cfg=dcfg, linker_cfg=base)
        seqs = load_model_sequences(data, tracker=tracker, weights_id=weights_id(weights, dcfg),
                                    cache_dir=out / "cache", progress=True)
    label = ", ".join(sorted(s.name for s in seqs))
    result = run_study(seqs=seqs, space=params, base=base, out_dir=out, trials=trials, objective=objective,
                       frames=window, half=half, seed=seed, label=label)
    typer.echo(f"{result.trials} trials; best {OBJECTIVES[objective]} {result.best_value:.2f} "
               f"({'frames ' + str(window) if window else half + ' half'}): {result.best_settings}")
    for p in result.outputs:
        typer.echo(f"wrote {p}")
