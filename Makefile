# README's two commands: `make demo` and `make test`. Each creates or refreshes .venv itself.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
AET    := $(VENV)/bin/aetrack
STAMP  := $(VENV)/.installed

.PHONY: venv demo test fuzz bench bench-engines ablation pseudo weights weights-synthetic soak clean

# torch==2.13.0 goes in first and explicitly: on these machines it is a local CPU build,
# while letting pip resolve a bare "torch" would pull gigabytes of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(AET) demo

test: venv
	$(PY) -m pytest -q

# The fuzz suite (tests/test_fuzz.py) at length: FUZZ_EXAMPLES random examples per property
# (7 properties: 7 x 600 = 4,200 cases), instead of the few dozen derandomized ones of `make test`.
FUZZ_EXAMPLES ?= 600
fuzz: venv
	AETRACK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

# Teacher pseudo-labels of the real CC BY 4.0 clips (../shared/data/real-unlabelled) into
# data/pseudo/, data that configs/real_yolox_nano.yaml trains the tag branch on (2 CPU cores,
# ~3 min). The teacher is the embedded default's detection branch, YOLOX-nano's COCO head (the
# weights are the same whether the embedded default is the one being replaced or not). The two
# car-park clips at target score 0.3 / ignore 0.1 (the head scores vehicles seen from above
# 0.2-0.4), the corridor clip every 2nd frame.
SHARED ?= ../shared
CLIPS_DIR = $(SHARED)/data/real-unlabelled
PSEUDO = $(AET) pseudolabel --threads 2
pseudo: venv
	for c in people-detection store-aisle-detection classroom face-demographics-walking; do \
	  $(PSEUDO) $(CLIPS_DIR)/$$c.mp4 data/pseudo || exit 1; done
	$(PSEUDO) $(CLIPS_DIR)/person-bicycle-car-detection.mp4 data/pseudo --target-score 0.3 --ignore-score 0.1
	$(PSEUDO) $(CLIPS_DIR)/car-detection.mp4 data/pseudo --target-score 0.3 --ignore-score 0.1
	$(PSEUDO) $(CLIPS_DIR)/one-by-one-person-detection.mp4 data/pseudo --every 2

# The embedded default weights (real footage): pseudo-labels, then configs/real_yolox_nano.yaml
# (the trunk's feature cache, then the tag branch: times in BENCHMARKS.md, "Training time"), then an
# inference-only copy in the package, float32 (the detection branch stays YOLOX-nano's, bit for bit).
weights: pseudo
	$(AET) train --config configs/real_yolox_nano.yaml --overwrite
	$(AET) export runs/real_yolox_nano/last.pt aetrack/weights/real_yolox_nano.pt --inference-config configs/real_yolox_nano.yaml

# The embedded synthetic model: configs/synth_small.yaml (2 CPU cores, ~25 min).
weights-synthetic: venv
	$(AET) train --config configs/synth_small.yaml --overwrite
	$(AET) export runs/synth_small/last.pt aetrack/weights/synth_small.pt --inference-config configs/synth_small.yaml

# Benchmarks recorded in BENCHMARKS.md (each section there names its own command too).
bench: venv
	$(AET) synth bench_data/synth-medium --sequences 4 --seed 1000 --difficulty medium --overwrite
	$(AET) benchmark bench_data/synth-medium --weights synthetic --out bench_out/synth-medium --linker tags_motion --linker tags --linker motion --linker iou
	$(AET) benchmark ../shared/data/MOT17-train --dets det/det.txt --linker iou --linker motion --out bench_out/mot17 --no-speed

# Engines at 640x360 (BENCHMARKS.md, "Speed"; torch beside onnxruntime: aetrack/bench/reports/speed.md):
# both embedded models on torch and onnxruntime, interleaved round by round, end to end and per
# stage; then GFLOP per frame.
bench-engines: venv
	$(PY) -m aetrack.bench.engines e2e --threads 2 --rounds 3 --frames 150 --variants torch onnxruntime
	$(PY) -m aetrack.bench.engines flops

# Loss/model ablations on synthetic data (aetrack/bench/reports/tags.md, "Ablations"): each variant trains
# 1200 steps (~5 min on 2 cores), then tracks seeds 1000-1003 with three linkers on its own
# detections, all with the same decode/linker settings.
# The table's base keeps the settings it was measured with (size-loss weight 0.1, whole
# 384x224 images, tag_max_distance 0.5); size1 and size3 measure the size-loss weight, and
# scale the 512x288 input on 384x224 crops, as the shipped synth_small config now has them.
# A variant's settings are joined by '+'.
ABLATION_BASE = loss.size_weight=0.1 model.input_width=384 model.input_height=224 \
	data.crop_width=0 data.crop_height=0 linker.tag_max_distance=0.5
ABLATIONS = base: dim1:model.tag_dim=1 dim16:model.tag_dim=16 spatial:loss.temporal=false \
	clip2:data.clip_len=2 clip4:data.clip_len=4 exp:loss.push=exp \
	size1:loss.size_weight=1.0 size3:loss.size_weight=3.0 \
	scale:loss.size_weight=3.0+model.input_width=512+model.input_height=288+data.crop_width=384+data.crop_height=224
ablation: venv
	$(AET) synth bench_data/synth-medium --sequences 4 --seed 1000 --difficulty medium --overwrite
	for v in $(ABLATIONS); do name=$${v%%:*}; change=$$(echo "$${v#*:}" | tr + ' '); \
	  $(AET) train --config configs/synth_small.yaml --overwrite train.steps=1200 train.val_every=1200 \
	    train.log_every=100 train.out_dir=runs/abl/$$name $(ABLATION_BASE) $$change || exit 1; \
	  $(AET) benchmark bench_data/synth-medium --weights runs/abl/$$name/last.pt --no-speed --threads 2 \
	    --linker tags_motion --linker tags --linker motion --out bench_out/abl/$$name || exit 1; \
	done

# Resident memory over a 20,000-frame stream with the embedded weights.
soak: venv
	$(PY) -m aetrack.bench.soak --frames 20000

clean:
	rm -rf $(VENV) build *.egg-info
