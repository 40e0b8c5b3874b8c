import dataclasses, sys
from aetrack.tune.protocol import load_sequences, score
from aetrack.linker.config import detections_config
seqs = load_sequences(["../shared/data/MOT17-train"])
base = dataclasses.replace(detections_config(), common_motion=True)
for name, ch in [("radius 0.5", {"common_motion_radius": 0.5}), ("radius 2.0", {"common_motion_radius": 2.0}),
                 ("pairs 2", {"common_motion_pairs": 2}), ("pairs 5", {"common_motion_pairs": 5}),
                 ("no fuse", {"fuse_score": False}), ("no direction", {"direction_weight": 0.0}),
                 ("lost 3.0", {"lost_time_s": 3.0}), ("report_lost 0.2", {"report_lost_s": 0.2}),
                 ("kalman boxes", {"output_box": "kalman"})]:
    c = score(dataclasses.replace(base, **ch), seqs, half="first").combined
    print(f"| {name} | {c['HOTA']:.2f} | {c['IDF1']:.2f} | {c['MOTA']:.2f} | {c['IDSW']} | {c['FP']} | {c['FN']} |", flush=True)
