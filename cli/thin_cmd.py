"""``aetrack thin SEQ OUT --every K``: a MOT sequence at a lower frame rate (every K-th frame).

    aetrack thin ../shared/data/MOT17-train bench_data/mot17-every4 --every 4

Keeps frames 1, 1 + K, 1 + 2K, ... renumbered 1, 2, 3, ...; gt and det thinned alike; frameRate / K,
seqLength ceil(n / K) (:mod:`aetrack.data.thin`). SEQ is one sequence folder or a folder of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def thin(
    source: Annotated[Path, typer.Argument(help="MOT sequence folder, or a folder of them.")],
    out: Annotated[Path, typer.Argument(help="Output root: each sequence goes to OUT/<name>/.")],
    every: Annotated[int, typer.Option(help="Keep every K-th frame, starting with frame 1.")] = 2,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace sequence folders that exist.")] = False,
) -> None:
    """Thin MOT sequences to every K-th frame (gt, det, frames; frameRate / K)."""
    from aetrack.data.thin import thin_sequences

    for path in thin_sequences(source, out, every=every, overwrite=overwrite):
        typer.echo(f"wrote {path}")
