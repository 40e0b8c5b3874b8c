import dataclasses, sys, time
from aetrack.tune.protocol import load_sequences, score
from aetrack.linker import LinkerConfig
seqs = load_sequences(["../shared/data/MOT17-train"])
base = LinkerConfig(mode="motion", output_box="detection", lost_time_s=2.0, report_lost_s=0.0)
variants = [
    ("base (pre-session-8 motion)", {}),
    ("+ report_lost_s 0.2", {"report_lost_s": 0.2}),
    ("+ output_box kalman", {"output_box": "kalman"}),
    ("+ lost_time_s 3.0", {"lost_time_s": 3.0}),
    ("+ fuse_score", {"fuse_score": True}),
    ("+ observation_recovery", {"observation_recovery": True}),
    ("+ direction_weight 0.2", {"direction_weight": 0.2}),
]
for name, ch in variants:
    cfg = dataclasses.replace(base, **ch)
    t = time.time()
    c = score(cfg, seqs, half="first").combined
    print(f"| {name} | {c['HOTA']:.2f} | {c['IDF1']:.2f} | {c['MOTA']:.2f} | {c['IDSW']} | {c['FP']} | {c['FN']} |", f"{time.time()-t:.0f}s", flush=True)
