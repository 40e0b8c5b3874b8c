"""``aetrack export CKPT OUT``: an inference-only copy of a training checkpoint.

    aetrack export runs/synth_small/last.pt aetrack/weights/synth_small.pt   # the embedded weights
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint written by `aetrack train`.")],
    out: Annotated[Path, typer.Argument(help="Where to write the weights file.")],
) -> None:
    """Strip optimizer and RNG state from a checkpoint (model, config, step and metrics stay)."""
    from aetrack.train.checkpoint import export_weights, load_checkpoint

    load_checkpoint(checkpoint)  # refuse a checkpoint whose weights do not fit its own config
    path = export_weights(checkpoint, out)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
