import dataclasses
from aetrack.tune.protocol import load_sequences, score
from aetrack.linker import LinkerConfig
from aetrack.linker.config import detections_config
mot = load_sequences(["../shared/data/MOT17-train"])
pets = load_sequences(["../shared/data/PETS09-S2L1"])
d = detections_config()
rows = [
    ("aetrack default for given detections (motion)", d),
    ("same, iou mode", dataclasses.replace(d, mode="iou")),
    ("same, without common motion", dataclasses.replace(d, common_motion=False)),
    ("same, report_lost_s 0.2", dataclasses.replace(d, report_lost_s=0.2)),
    ("BYTE-like: motion, fuse, 1 s buffer, Kalman boxes", LinkerConfig(mode="motion", fuse_score=True, lost_time_s=1.0, output_box="kalman")),
    ("SORT-like: iou, min_hits 3, IoU >= 0.3, 1 s buffer, Kalman boxes", LinkerConfig(mode="iou", lost_time_s=1.0, min_hits=3, iou_threshold_high=0.7, output_box="kalman")),
    ("defaults before issue 17 (motion)", LinkerConfig(mode="motion", output_box="kalman", lost_time_s=3.0, report_lost_s=0.2)),
]
for split, seqs, kw in [("MOT17 second halves", mot, {"half": "second"}), ("MOT17 all frames", mot, {}), ("PETS 398-795", pets, {"half": "second"})]:
    print("##", split, flush=True)
    for name, cfg in rows:
        r = score(cfg, seqs, **kw)
        c = r.combined
        print(f"| {name} | {c['HOTA']:.1f} | {c['DetA']:.1f} | {c['AssA']:.1f} | {c['MOTA']:.1f} | {c['IDF1']:.1f} | {c['IDSW']} | {c['FP']} | {c['FN']} |", flush=True)
        if name.startswith("aetrack default") and split != "PETS 398-795":
            print("   per sequence HOTA/IDF1/IDSW:", {n[6:8]: (round(v["HOTA"], 1), round(v["IDF1"], 1), int(v["IDSW"])) for n, v in r.sequences.items()}, flush=True)
