"""``aetrack export WEIGHTS OUT``: an ONNX detector, or an inference-only copy of a checkpoint.

    aetrack export default detector.onnx               # embedded weights as ONNX (onnxruntime, ...)
    aetrack export runs/pets/best.pt pets.onnx         # a checkpoint or weights file as ONNX
    aetrack export runs/synth_small/last.pt aetrack/weights/synth_small.pt   # the embedded weights
    aetrack export runs/synth_small/last.pt aetrack/weights/synth_small.pt \
        --inference-config configs/synth_small.yaml   # take decode/linker settings from the config

An OUT ending in ``.onnx`` gets the detector as ONNX (float32, dynamic batch and input size,
the model/decode/linker settings in its metadata; see aetrack/model/onnx_export.py); any other
OUT gets the checkpoint without optimizer and RNG state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    weights: Annotated[str, typer.Argument(
        help="Checkpoint from `aetrack train`, a weights file, or embedded weights by name: default or synthetic.")],
    out: Annotated[Path, typer.Argument(
        help="Where to write: a .onnx file for the ONNX detector, else a .pt weights file.")],
    inference_config: Annotated[
        Path | None,
        typer.Option(help="Experiment YAML whose decode and linker sections replace the checkpoint's (.pt only)."),
    ] = None,
    float16: Annotated[bool, typer.Option(
        "--float16", help="Store the weights as float16 (half the size; .pt only).")] = False,
    half: Annotated[bool, typer.Option("--half", hidden=True)] = False,  # the old spelling of --float16
) -> None:
    """Write the detector as ONNX (OUT.onnx), or strip optimizer and RNG state from a checkpoint."""
    from aetrack.errors import AetrackError
    from aetrack.model.weights import EMBEDDED, resolve_weights
    from cli.common import note

    if half:  # --half means a half of the frames in benchmark, eval and tune
        note("export --half is now --float16 (--half selects a half of the frames elsewhere)")
        float16 = True

    src = resolve_weights(weights)
    if not src.exists():
        embedded = "" if any(c in weights for c in "/\\.") else f" and not an embedded name ({', '.join(EMBEDDED)})"
        raise AetrackError(f"weights not found: {weights} is not a file{embedded}")
    if out.suffix.lower() == ".onnx":
        from aetrack.backend import export_onnx

        for flag, given in (("--inference-config", inference_config is not None), ("--float16", float16)):
            if given:
                raise AetrackError(f"{flag} applies to .pt weights files; an .onnx export is float32 and keeps "
                                   "the weights' own decode and linker settings")
        path = export_onnx(src, out)
    else:
        from aetrack.experiment import experiment_to_dict, load_experiment
        from aetrack.model.weights import export_weights
        from aetrack.train.checkpoint import load_checkpoint

        if not out.parent.is_dir():
            raise AetrackError(f"output folder does not exist: {out.parent}")
        load_checkpoint(src)  # refuse a checkpoint whose weights do not fit its own config
        settings = None
        if inference_config is not None:  # its decode and linker sections, checked as a whole experiment
            tuned = experiment_to_dict(load_experiment(inference_config))
            settings = {"decode": tuned["decode"], "linker": tuned["linker"]}
        path = export_weights(src, out, settings=settings, half=float16)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
