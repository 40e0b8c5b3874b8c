"""The frozen trunk's feature cache: what it stores, resuming, its key, clips read from it, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aetrack.data.clips import ClipSource, NO_AUGMENT, AugmentConfig
from aetrack.data.mot import find_sequences
from aetrack.data.synth import SynthConfig, write_sequence
from aetrack.experiment import load_experiment
from aetrack.model.config import ModelConfig
from aetrack.model.detector import build_detector
from aetrack.train.cached_clips import CachedClipDataset
from aetrack.train.checkpoint import load_checkpoint, save_checkpoint
from aetrack.train.feature_cache import FeatureCache, trunk_digest
from aetrack.train.loop import train

REPO = Path(__file__).resolve().parents[1]
CFG = ModelConfig(backbone="yolox_nano", num_classes=80, stride=8, head_channels=8, tag_dim=4,
                  tag_stages=("image", "dark2", "p3", "p4"), input_width=128, input_height=96)


@pytest.fixture(scope="module")
def seqs(tmp_path_factory) -> list:
    root = tmp_path_factory.mktemp("cache_synth")
    for seed in (0, 1):
        write_sequence(root, cfg=SynthConfig.preset("easy", width=160, height=120, frames=6), seed=seed)
    return find_sequences(root)


@pytest.fixture(scope="module")
def net():
    """A yolox_nano detector (randomly initialised: the cache stores whatever its trunk computes)."""
    torch.manual_seed(0)
    return build_detector(CFG).eval()


def _cache(root: Path, seqs: list, net, *, views: int = 2, seed: int = 0,
           stages: tuple[str, ...] = CFG.tag_stages, model: ModelConfig = CFG) -> FeatureCache:
    return FeatureCache(root=root, sequences=[(s, None) for s in seqs], model=model, stages=stages,
                        digest=trunk_digest(net), views=views, augment=AugmentConfig(), seed=seed, min_visibility=0.25)


def test_the_cache_holds_every_views_trunk_maps(tmp_path, seqs, net):
    cache = _cache(tmp_path, seqs, net)
    cache.build(net, device="cpu", progress=False)
    index = cache.open()
    # 2 sequences x 6 frames x 2 views; each stage at its own stride on the 128 x 96 canvas
    # (image 2, dark2 4, p3 8, p4 16).
    assert len(index.seq) == 24 and cache.is_complete()
    assert index.maps["image"].shape == (24, 3, 48, 64) and index.maps["dark2"].shape == (24, 32, 24, 32)
    assert index.maps["p4"].shape == (24, 128, 6, 8)
    assert index.maps["dark2"].dtype == np.float16
    # Item (sequence 1, frame 4, view 1) is the trunk's maps of that rendered view, to float16 rounding.
    from aetrack.train.feature_cache import _view_params

    i = index.lookup[(1, 4, 1)]
    params = {(1, 1): _view_params(0, str(seqs[1].root.resolve()), 1, AugmentConfig(), CFG.input_size)}
    img = cache.render(cache.plan()[i], params, cache.sequence_data())
    with torch.no_grad():
        ref = net.tag_inputs(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255, tuple(cache.shapes))
    for s in ("image", "dark2", "p4"):
        np.testing.assert_allclose(np.asarray(index.maps[s][i], np.float32), ref[s][0].numpy(), rtol=2e-3, atol=2e-3)
    # The objects: view 0 is the plain letterbox (160x120 into 128x96: scale 0.8).
    boxes, ids, _ = index.objects(index.lookup[(0, 2, 0)])
    raw, raw_ids = cache.sequence_data()[0].objects(2)
    np.testing.assert_allclose(boxes, raw * 0.8, rtol=1e-5)
    assert ids.tolist() == raw_ids.tolist()


def test_an_interrupted_build_computes_only_what_is_missing(tmp_path, seqs, net, monkeypatch):
    cache = _cache(tmp_path, seqs, net, views=1)
    cache.build(net, device="cpu", progress=False)
    done = np.memmap(cache.dir / "done.u8", dtype=np.uint8, mode="r+")
    done[5:9] = 0  # as if killed before these 4 items were written
    done.flush()
    rendered = []
    real = FeatureCache.render
    monkeypatch.setattr(FeatureCache, "render", lambda self, item, p, d: rendered.append(item) or real(self, item, p, d))
    again = _cache(tmp_path, seqs, net, views=1)
    assert not again.is_complete()
    again.build(net, device="cpu", progress=False)
    assert len(rendered) == 4 and again.is_complete()


def test_other_weights_or_views_make_another_cache(tmp_path, seqs, net):
    base = _cache(tmp_path, seqs, net).dir
    assert _cache(tmp_path, seqs, net).dir == base
    assert _cache(tmp_path, seqs, net, views=3).dir != base
    assert _cache(tmp_path, seqs, net, seed=1).dir != base
    assert _cache(tmp_path, seqs, net, stages=("p3",)).dir != base
    other = build_detector(CFG)
    other.load_state_dict(net.state_dict())
    assert trunk_digest(other) == trunk_digest(net)
    with torch.no_grad():
        other.net.yolox.head[0].obj_pred.bias.add_(1.0)
    assert trunk_digest(other) != trunk_digest(net)
    # The tag branch is not part of the key: its weights do not change the stored maps.
    with torch.no_grad():
        other.load_state_dict(net.state_dict())
        other.net.tags.out.bias.add_(1.0)
    assert trunk_digest(other) == trunk_digest(net)


def test_yolox_caches_built_before_keep_their_key(net):
    """The digest of a yolox_nano detector is the one caches were keyed by when only yolox_nano
    had a cache (SHA-256 over YOLOX-nano's state dict, names within it in sorted order), so a
    cache built then is found again rather than rebuilt; its stored maps mean what they meant."""
    import hashlib

    old = hashlib.sha256()
    for name, tensor in sorted(net.net.yolox.state_dict().items()):
        old.update(name.encode())
        old.update(tensor.detach().float().contiguous().numpy().tobytes())
    assert trunk_digest(net) == old.hexdigest()


def test_clips_from_the_cache(tmp_path, seqs, net):
    cache = _cache(tmp_path, seqs, net)
    cache.build(net, device="cpu", progress=False)
    index = cache.open()
    data = cache.sequence_data()
    sources = [(0, data[0].first, data[0].last, ClipSource()), (1, data[1].first, data[1].last, ClipSource(static=True))]
    ds = CachedClipDataset(index=index, sources=sources, folders=[0, 1], stages=CFG.tag_stages, stride=8,
                           canvas=CFG.input_size, crop=(64, 64), clip_len=3, max_gap=2, max_objects=16, seed=0)
    for i in range(12):
        item = ds[i]
        # A 64 x 64 crop: dark2 (stride 4) 16 x 16, p4 (stride 16) 4 x 4.
        assert item["features"]["dark2"].shape == (3, 32, 16, 16) and item["features"]["p4"].shape == (3, 128, 4, 4)
        m = item["mask"]
        # Each box's centre lies in the 64 x 64 crop, and ind is its stride-8 cell.
        b = item["boxes"][m]
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        assert ((cx >= 0) & (cx < 64) & (cy >= 0) & (cy < 64)).all()
        assert torch.equal(item["ind"][m], (cy // 8).long() * 8 + (cx // 8).long())
        assert (item["ident"][m] >= 0).all() and (item["ident"][~m] == -1).all()
    assert ds[0]["features"]["image"].dtype == torch.float32
    assert torch.equal(ds[5]["ident"], ds[5]["ident"])  # a pure function of (seed, index)
    np.testing.assert_array_equal(ds[7]["features"]["p3"].numpy(), ds[7]["features"]["p3"].numpy())


def test_training_the_tag_branch_on_the_cache(tmp_path, seqs):
    """A run on the cache trains only the tag branch; the detection branch stays as initialised."""
    import yaml

    data = yaml.safe_load((REPO / "configs" / "debug.yaml").read_text())
    data["model"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(CFG).items()}
    data["model"]["tag_readout"] = "box"
    data["data"] = {"train": [{"path": str(seqs[0].root.parent)}], "clip_len": 2, "max_gap": 2,
                    "crop_width": 64, "crop_height": 64, "feature_cache": {"views": 2}, "augment": vars(NO_AUGMENT)}
    data["train"].update({"steps": 30, "batch_size": 2, "lr": 5e-3, "warmup": 1, "backbone_lr": 0.0, "log_every": 1,
                          "val_every": 0, "ckpt_every": 0, "workers": 0, "threads": 1,
                          "out_dir": str(tmp_path / "run"), "init_from": str(tmp_path / "init.pt")})
    data["loss"] = {}  # a whole config: nothing is inherited from train.init_from
    data["decode"] = {}
    data["linker"] = {}
    path = tmp_path / "cached.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = load_experiment(path)
    torch.manual_seed(0)
    start = build_detector(cfg.model)  # the run starts from these weights (no YOLOX file needed)
    save_checkpoint(tmp_path / "init.pt", model=start, cfg=cfg, step=0)
    result = train(cfg, progress=False)
    assert (tmp_path / "run" / "feature_cache").is_dir()
    assert result.losses[30]["heatmap"] == 0
    pull_push = [result.losses[s]["pull"] + result.losses[s]["push"] for s in (1, 2, 3, 28, 29, 30)]
    assert np.mean(pull_push[3:]) < np.mean(pull_push[:3])
    # Only the tag branch changed: the detection branch is the starting one.
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    for name, value in start.net.yolox.state_dict().items():
        assert torch.equal(ckpt.model.net.yolox.state_dict()[name], value), name


# -- the small backbone (the synthetic model): its detector frozen, its tags head on cached maps --
SMALL = ModelConfig(backbone="small", width=8, head_channels=8, tag_dim=4, input_width=128, input_height=96)


def _small_detector(seed: int) -> torch.nn.Module:
    """A small detector whose BatchNorm statistics are not the initial 0 / 1, so that a map
    computed in training mode, or without the input normalisation, would differ."""
    torch.manual_seed(seed)
    model = build_detector(SMALL)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_the_cache_of_a_small_model_holds_its_backbone_maps(tmp_path, seqs):
    model = _small_detector(0)
    assert SMALL.tag_input_shapes == {"backbone": (8, 4)} and SMALL.tag_head_inputs == ("backbone",)
    cache = _cache(tmp_path, seqs, model, stages=("backbone",), model=SMALL)
    cache.build(model, device="cpu", progress=False)
    index = cache.open()
    # 2 sequences x 6 frames x 2 views; the backbone's map: width 8 channels at stride 4 of 128 x 96.
    assert index.maps["backbone"].shape == (24, 8, 24, 32)
    from aetrack.model.detector import BGR_MEAN, BGR_STD
    from aetrack.train.feature_cache import _view_params

    for key in ((0, 2, 0), (1, 4, 1)):
        i = index.lookup[key]
        seq, view = key[0], key[2]
        params = {(seq, view): _view_params(0, str(seqs[seq].root.resolve()), view, AugmentConfig(), SMALL.input_size)}
        img = cache.render(cache.plan()[i], params, cache.sequence_data())  # (96, 128, 3) uint8 BGR
        # The reference, written out: BGR / 255, minus the per-channel mean, over the std, through
        # the backbone with its BatchNorm statistics (eval mode).
        x = (img.astype(np.float32) / 255 - np.float32(BGR_MEAN)) / np.float32(BGR_STD)
        with torch.no_grad():
            ref = model.net.backbone(torch.from_numpy(x).permute(2, 0, 1)[None])[0].numpy()  # (8, 24, 32)
        stored = np.asarray(index.maps["backbone"][i], np.float32)
        # float16 keeps 11 significant bits: rounding moves a value by at most 2^-11 of itself
        # (below 2^-14, by at most 2^-25); the atol covers onnxruntime's float32 against torch's.
        np.testing.assert_allclose(stored, ref, rtol=2 ** -11, atol=1e-5)
        # And nearly every value is exactly the float16 rounding of torch's (a value within float32
        # noise of a rounding boundary may round the other way).
        assert (stored == ref.astype(np.float16).astype(np.float32)).mean() > 0.99
        assert (ref > 0).mean() > 0.2  # a live map, not ReLU's zeros


def test_a_frozen_small_detector_keeps_its_batchnorm_statistics():
    """Frozen (train.backbone_lr 0) and in training mode, the detection branch runs as in eval
    mode: its BatchNorm statistics stay those of the weights it started from."""
    model = _small_detector(1)
    model.freeze_detector()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = model(torch.rand(2, 3, 96, 128))[0]
    assert not model.net.backbone.training and model.net.heads.heads["tags"].training
    assert not out["heatmap"].requires_grad and out["tags"].requires_grad
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_only_small_and_yolox_detectors_freeze(tmp_path):
    from aetrack.errors import AetrackError
    from aetrack.experiment import experiment_from_dict
    from aetrack.train.loop import check_frozen_detector

    def cfg(**model):
        return experiment_from_dict({"model": model, "data": {"feature_cache": {}},
                                     "train": {"backbone_lr": 0.0, "init_from": "synthetic"}})

    assert check_frozen_detector(cfg(backbone="small")) == ("backbone",)
    with pytest.raises(AetrackError, match="hourglass backbone cannot train its tags on a frozen detector"):
        check_frozen_detector(cfg(backbone="hourglass"))
    with pytest.raises(AetrackError, match="not a map of the small backbone"):
        check_frozen_detector(experiment_from_dict({"data": {"feature_cache": {"stages": ["dark2"]}},
                                                    "train": {"backbone_lr": 0.0, "init_from": "synthetic"}}))
    with pytest.raises(AetrackError, match="set train.init_from"):
        check_frozen_detector(experiment_from_dict({"data": {"feature_cache": {}}, "train": {"backbone_lr": 0.0}}))
    with pytest.raises(AetrackError, match="backbone_lr 0"):
        check_frozen_detector(experiment_from_dict({"data": {"feature_cache": {}}}))


def test_training_the_small_models_tags_on_the_cache(tmp_path, seqs):
    """A cached run of the small model changes its tags head and nothing else: backbone, heatmap,
    size and offset heads and every BatchNorm statistic are the starting checkpoint's."""
    import yaml

    data = yaml.safe_load((REPO / "configs" / "debug.yaml").read_text())
    data["model"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(SMALL).items()}
    data["data"] = {"train": [{"path": str(seqs[0].root.parent)}], "clip_len": 2, "max_gap": 2,
                    "crop_width": 64, "crop_height": 64, "feature_cache": {"views": 2}, "augment": vars(NO_AUGMENT)}
    data["train"].update({"steps": 30, "batch_size": 2, "lr": 5e-3, "warmup": 1, "backbone_lr": 0.0, "log_every": 1,
                          "val_every": 0, "ckpt_every": 0, "workers": 0, "threads": 1,
                          "out_dir": str(tmp_path / "run"), "init_from": str(tmp_path / "init.pt")})
    data.update({"loss": {}, "decode": {}, "linker": {}})  # a whole config: nothing inherited from init_from
    path = tmp_path / "cached_small.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = load_experiment(path)
    start = _small_detector(2)
    save_checkpoint(tmp_path / "init.pt", model=start, cfg=cfg, step=0)
    result = train(cfg, progress=False)
    caches = list((tmp_path / "run" / "feature_cache").iterdir())
    assert len(caches) == 1 and (caches[0] / "backbone.f16").is_file()
    assert result.losses[30]["heatmap"] == result.losses[30]["size"] == 0
    pull_push = [result.losses[s]["pull"] + result.losses[s]["push"] for s in (1, 2, 3, 28, 29, 30)]
    assert np.mean(pull_push[3:]) < np.mean(pull_push[:3])
    trained = load_checkpoint(tmp_path / "run" / "last.pt").model.state_dict()
    changed = {k for k, v in start.state_dict().items() if not torch.equal(trained[k], v)}
    tags = {k for k in trained if k.startswith("net.heads.heads.tags.")}
    assert changed == tags  # all four tensors of the tags head (two convs' weights and biases), nothing else
    assert len(tags) == 4
