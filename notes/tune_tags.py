"""Linker tuning on cached detections (issue 16): detect once, link with many configs.

    .venv/bin/python notes/tune_tags.py cache DATA WEIGHTS CACHE.pkl [--frames A:B]
    .venv/bin/python notes/tune_tags.py run CACHE.pkl [--set linker.key=value ...] ...

``cache`` records what `aetrack benchmark` records (boxes, scores, tags, classes after decoding,
per frame) with the weights' own decode config; ``run`` links them with the weights' linker
config plus overrides, writes MOT files to a temporary folder and evaluates them with
``evaluate_tables`` (the benchmark's own path), printing HOTA / IDF1 / IDSW and median link ms.
It is the benchmark's replay without re-running the model; final numbers come from
`aetrack benchmark` itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def cache(data: str, weights: str, out: str, frames: str | None, scales: str | None) -> None:
    from aetrack.data.mot import find_sequences, parse_frame_range
    from aetrack.data.sources import open_sequence_source
    from aetrack.tracker import Tracker, load_model

    ckpt, model_cfg = load_model(weights)
    window = parse_frame_range(frames)
    tr = Tracker(model=ckpt.model, model_cfg=model_cfg, decode_cfg=ckpt.config.decode, linker_cfg=ckpt.config.linker)
    if scales:
        tr.scales = tuple(float(s) for s in scales.split(","))
    seqs = []
    for seq in find_sequences(data):
        src = open_sequence_source(seq, frames=window)
        rec = []
        t0 = time.time()
        for f, img in src:
            d = tr.detect(img)
            rec.append((f, d.boxes.astype(np.float64), d.scores.astype(np.float64), d.tags.astype(np.float64), d.classes))
        print(f"{seq.name}: {len(rec)} frames in {time.time() - t0:.0f} s", file=sys.stderr)
        seqs.append({"name": seq.name, "fps": seq.info.frame_rate, "length": seq.info.length, "gt": seq.gt(),
                     "frames": rec})
    with open(out, "wb") as fh:
        pickle.dump({"weights": weights, "window": frames, "linker": ckpt.config.linker, "seqs": seqs}, fh)


def run(path: str, sets: list[str], per_seq: bool = False) -> dict:
    from aetrack.config import from_dict, to_dict
    from aetrack.data.mot import parse_frame_range, read_mot_file
    from aetrack.eval import evaluate_tables
    from aetrack.io.results import ResultRow, ResultWriter
    from aetrack.linker import Linker, LinkerConfig

    with open(path, "rb") as fh:
        c = pickle.load(fh)
    from aetrack.tracker import load_model

    d = to_dict(load_model(c["weights"])[0].config.linker)  # the weights' linker, current defaults for new keys
    for s in sets:
        k, v = s.split("=", 1)
        k = k.removeprefix("linker.")
        import yaml
        d[k] = yaml.safe_load(v)
    cfg = from_dict(LinkerConfig, d)
    window = parse_frame_range(c["window"])
    ms = []
    with tempfile.TemporaryDirectory() as tmp:
        results, gt, lengths = {}, {}, {}
        for seq in c["seqs"]:
            linker = Linker(cfg=cfg, frame_rate=seq["fps"])
            with ResultWriter(out_dir=Path(tmp), name=seq["name"], jsonl=False) as w:
                for i, (f, b, s, t, cl) in enumerate(seq["frames"]):
                    t0 = time.perf_counter()
                    tracks = linker.update(boxes=b, scores=s, tags=t, classes=cl)
                    if i >= 5:
                        ms.append((time.perf_counter() - t0) * 1e3)
                    w.write([ResultRow(frame=f, track_id=tk.track_id, box=tk.box, score=tk.score, class_id=tk.class_id,
                                       class_name="x") for tk in tracks])
            results[seq["name"]] = read_mot_file(Path(tmp) / f"{seq['name']}.txt", kind="results")
            gt[seq["name"]] = seq["gt"]
            lengths[seq["name"]] = seq["length"]
        rep = evaluate_tables(gt=gt, results=results, frames=window, num_frames=lengths)
    m = rep.combined
    out = {"HOTA": m["HOTA"], "DetA": m["DetA"], "AssA": m["AssA"], "IDF1": m["IDF1"], "MOTA": m["MOTA"], "IDSW": int(m["IDSW"]), "ms": float(np.median(ms))}
    if per_seq:
        out["seq"] = {k: (round(v["HOTA"], 1), round(v["IDF1"], 1), int(v["IDSW"])) for k, v in rep.sequences.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("cache")
    a.add_argument("data"); a.add_argument("weights"); a.add_argument("out")
    a.add_argument("--frames"); a.add_argument("--scales")
    r = sub.add_parser("run")
    r.add_argument("cache"); r.add_argument("--set", action="append", default=[]); r.add_argument("--per-seq", action="store_true")
    args = ap.parse_args()
    if args.cmd == "cache":
        cache(args.data, args.weights, args.out, args.frames, args.scales)
    else:
        res = run(args.cache, args.set, args.per_seq)
        print(" ".join(args.set) or "(weights' config)", "|", f"HOTA {res['HOTA']:.1f} DetA {res['DetA']:.1f} AssA {res['AssA']:.1f} IDF1 {res['IDF1']:.1f} "
              f"MOTA {res['MOTA']:.1f} IDSW {res['IDSW']} link {res['ms']:.2f} ms", res.get("seq", ""))


if __name__ == "__main__":
    main()
