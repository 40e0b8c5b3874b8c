import dataclasses, sys, time
from aetrack.tune.protocol import load_sequences, score
from aetrack.linker import LinkerConfig
seqs = load_sequences(["../shared/data/MOT17-train"])
base = LinkerConfig(mode="motion", output_box="detection", lost_time_s=2.0, report_lost_s=0.0, fuse_score=True, direction_weight=0.2)
variants = [
    ("fuse + direction 0.2", {}),
    ("direction 0.1", {"direction_weight": 0.1}),
    ("direction 0.4", {"direction_weight": 0.4}),
    ("high 0.6 / new 0.7", {"high_score": 0.6, "new_track_score": 0.7}),
    ("high 0.4 / new 0.5", {"high_score": 0.4, "new_track_score": 0.5}),
    ("new 0.8", {"new_track_score": 0.8}),
    ("min_hits 3", {"min_hits": 3}),
    ("iou_threshold_high 0.9", {"iou_threshold_high": 0.9}),
    ("lost_time_s 1.0", {"lost_time_s": 1.0}),
    ("lost_time_s 3.0", {"lost_time_s": 3.0}),
    ("report_lost_s 0.1", {"report_lost_s": 0.1}),
    ("observation_recovery", {"observation_recovery": True}),
]
for name, ch in variants:
    cfg = dataclasses.replace(base, **ch)
    t = time.time()
    c = score(cfg, seqs, half="first").combined
    print(f"| {name} | {c['HOTA']:.2f} | {c['IDF1']:.2f} | {c['MOTA']:.2f} | {c['IDSW']} | {c['FP']} | {c['FN']} |", f"{time.time()-t:.0f}s", flush=True)
