"""``aetrack export CKPT OUT``: an inference-only copy of a training checkpoint.

    aetrack export runs/synth_small/last.pt aetrack/weights/synth_small.pt   # the embedded weights
    aetrack export runs/synth_small/last.pt aetrack/weights/synth_small.pt \
        --inference-config configs/synth_small.yaml   # take decode/linker settings from the config
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint written by `aetrack train`.")],
    out: Annotated[Path, typer.Argument(help="Where to write the weights file.")],
    inference_config: Annotated[
        Path | None,
        typer.Option(help="Experiment YAML whose decode and linker sections replace the checkpoint's."),
    ] = None,
    half: Annotated[bool, typer.Option("--half", help="Store the weights as float16 (half the size).")] = False,
) -> None:
    """Strip optimizer and RNG state from a checkpoint (model, config, step and metrics stay)."""
    from aetrack.experiment import load_experiment
    from aetrack.train.checkpoint import export_weights, load_checkpoint

    load_checkpoint(checkpoint)  # refuse a checkpoint whose weights do not fit its own config
    inference = load_experiment(inference_config) if inference_config is not None else None
    path = export_weights(checkpoint, out, inference=inference, half=half)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
