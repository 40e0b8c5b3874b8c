"""Link ms/frame at MOT17 density (13 objects): main's linker vs this branch, alternating runs.

First: mkdir -p /tmp/i17_main && git archive edcde83 aetrack | tar -x -C /tmp/i17_main
"""
import subprocess, sys, json
code = '''
import sys, json
sys.path.insert(0, sys.argv[1])
from aetrack.linker import time_linker
from aetrack.linker import LinkerConfig
kw = {}
try:
    from aetrack.linker.config import detections_config
    import dataclasses
    bases = {"generic": None, "dets default": detections_config(),
             "dets default + common_motion": dataclasses.replace(detections_config(), common_motion=True)}
except ImportError:
    bases = {"generic": None}
out = {}
for name, base in bases.items():
    r = time_linker(n_objects=13, modes=("motion", "iou"), **({} if base is None else {"base": base}))
    out[name] = {m: v["median_ms"] for m, v in r["modes"].items()}
print(json.dumps(out))
'''
res = {}
for rep in range(3):
    for label, path in (("main", "/tmp/i17_main"), ("i17", ".")):
        o = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True).stdout
        for k, v in json.loads(o).items():
            for m, ms in v.items():
                res.setdefault(f"{label} {k} {m}", []).append(ms)
for k, v in res.items():
    print(f"{k}: " + " ".join(f"{x:.3f}" for x in v) + f"  (min {min(v):.3f})")
