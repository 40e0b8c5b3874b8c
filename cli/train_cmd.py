"""``aetrack train``: train a detector with temporal associative-embedding tags from a YAML config.

    aetrack train --config configs/debug.yaml
    aetrack train --config configs/synth_small.yaml train.steps=500 train.lr=1e-3
    aetrack train --config configs/synth_small.yaml --resume
    torchrun --nproc_per_node 4 -m cli.main train --config configs/mot17_hourglass.yaml

See :mod:`aetrack.train.loop` for what the output folder receives. Registered in ``cli.main``
through ``cli.common.user_errors`` (an AetrackError becomes one line and exit code 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aetrack.errors import AetrackError


def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="Experiment YAML (configs/NAME.yaml).")],
    overrides: Annotated[list[str] | None, typer.Argument(
        help="Config overrides section.key=value, e.g. train.steps=500 model.tag_dim=4.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt at its step.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: train.out_dir, else runs/NAME; NAME: the config's name, else "
                      "its file's stem).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start afresh in a folder that holds a run.")] = False,
    stop_after: Annotated[int | None, typer.Option(
        help="Train at most this many steps now, checkpoint and exit (continue with --resume).")] = None,
    bench_loader: Annotated[int | None, typer.Option(
        help="Only time the clip loader over this many batches and print images/s.")] = None,
    validate: Annotated[Path | None, typer.Option(
        help="Only measure AP50 and tag AUC of this checkpoint on the config's validation data.")] = None,
) -> None:
    """Train from a config; writes checkpoints (config inside), metrics.jsonl and plots."""
    from aetrack.experiment import load_experiment  # torch: imported on use only, not for --help
    from aetrack.train.loop import benchmark_loader, train as run_training

    cfg = load_experiment(config, overrides or [])
    if resume and overwrite:
        raise AetrackError("--resume and --overwrite contradict each other; pass one")
    if stop_after is not None and stop_after < 1:
        raise AetrackError(f"--stop-after must be >= 1, got {stop_after}")
    if bench_loader is not None:
        if bench_loader < 1:
            raise AetrackError(f"--bench-loader must be >= 1, got {bench_loader}")
        rate = benchmark_loader(cfg, batches=bench_loader, out_dir=out)
        typer.echo(f"loader: {rate:.1f} images/s ({cfg.train.workers} workers, batch {cfg.train.batch_size} "
                   f"x {cfg.data.clip_len} frames, {cfg.model.input_width}x{cfg.model.input_height})")
        return
    if validate is not None:
        from aetrack.train.loop import validate_checkpoint

        m = validate_checkpoint(cfg, validate, out_dir=out)
        typer.echo(f"{validate}: AP50 {m['val_ap50']:.4f}, tag AUC {m['val_tag_auc']:.4f} "
                   f"({int(m['val_images'])} validation frames)")
        return
    typer.echo(f"run {cfg.name}: writing into {out or cfg.out_dir} (relative paths resolve from {Path.cwd()})")
    result = run_training(cfg, resume=resume, overwrite=overwrite, out_dir=out, stop_after=stop_after)
    summary = f"done: step {result.step}/{cfg.train.steps}, outputs in {result.out_dir}"
    if result.metrics:
        summary += f" (AP50 {result.metrics['val_ap50']:.4f}, tag AUC {result.metrics['val_tag_auc']:.4f})"
    typer.echo(summary)
