"""Link CPU milliseconds per frame at MOT17 density (13 objects, aetrack.linker.bench's scene):
time.process_time, which a loaded machine inflates far less than wall time. Main's linker
(first: mkdir -p /tmp/i17_main && git archive edcde83 aetrack | tar -x -C /tmp/i17_main) and
this branch's, alternately in fresh processes."""
import json, subprocess, sys

code = '''
import sys, json, time, dataclasses
sys.path.insert(0, sys.argv[1])
import numpy as np
from aetrack.linker.bench import _scene
from aetrack.linker import Linker, LinkerConfig
cfgs = {"motion (generic)": LinkerConfig(mode="motion"), "iou (generic)": LinkerConfig(mode="iou")}
try:
    from aetrack.linker.config import detections_config
    cfgs["motion (given-detections default)"] = detections_config()
except ImportError:
    pass
scene = _scene(n_objects=13, frames=600, tag_dim=8, num_classes=1, seed=0)
out = {}
for name, cfg in cfgs.items():
    lk = Linker(cfg=cfg, frame_rate=30.0)
    ts = []
    for b, s, t, c in scene:
        t0 = time.process_time()
        lk.update(boxes=b, scores=s)
        ts.append(time.process_time() - t0)
    out[name] = 1e3 * float(np.mean(ts[50:]))
print(json.dumps(out))
'''
res = {}
for rep in range(3):
    for label, path in (("main", "/tmp/i17_main"), ("i17", ".")):
        o = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True).stdout
        for k, v in json.loads(o).items():
            res.setdefault(f"{label} {k}", []).append(v)
for k, v in res.items():
    print(f"| {k} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
