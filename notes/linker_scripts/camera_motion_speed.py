import time, glob, numpy as np, cv2
from aetrack.linker import time_linker
from aetrack.camera_motion import CameraMotion
r = time_linker(n_objects=13, modes=("motion", "iou"))
print("link 13 objects", {m: round(v["median_ms"], 3) for m, v in r["modes"].items()})
# camera motion: consecutive img1 frames of the 1080p MOT17 sequences
times = []
for seq in ("02", "04", "09", "10", "11", "13"):
    files = sorted(glob.glob(f"../shared/data/MOT17-train/MOT17-{seq}-FRCNN/img1/*.jpg"))
    imgs = [cv2.imread(f) for f in files]
    for rep in range(3):
        est = CameraMotion()
        for i, img in enumerate(imgs):
            t = time.perf_counter(); a = est.update(img); dt = time.perf_counter() - t
            if i > 0:
                times.append(dt * 1e3)
        if rep == 0:
            print(seq, img.shape, "last affine", np.round(a, 3).tolist())
print("camera motion ms per 1080p frame: median %.2f p90 %.2f n=%d" % (np.median(times), np.percentile(times, 90), len(times)))
