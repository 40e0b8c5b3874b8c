"""Clip sampler: shapes, the shared augmentation, identities across a clip, frame gaps, video."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from aetrack.data.clips import NO_AUGMENT, AugmentConfig, ClipDataset, clip_affine, filter_to_input
from aetrack.data.mot import MotSequence, parse_frame_range
from aetrack.errors import AetrackError
from aetrack.model.config import ModelConfig

W, H = 128, 96
MODEL = ModelConfig(width=8, head_channels=8, tag_dim=4, input_width=W, input_height=H)
# Three static objects with distinct widths (ids 5, 7, 9); x, y, w, h in pixels.
OBJECTS = {5: (10, 20, 20, 40), 7: (50, 30, 12, 30), 9: (80, 10, 28, 50)}


def write_sequence(root: Path, *, frames: int = 12, video: bool = False,
                   visibility: dict[int, float] | None = None) -> MotSequence:
    """A 128x96 MOT sequence: grey frames with the three objects drawn white (PNG: lossless);
    ``visibility`` sets the gt visibility of some ids (default 1.0)."""
    vis = visibility or {}
    root.mkdir(parents=True)
    (root / "seqinfo.ini").write_text(
        f"[Sequence]\nname={root.name}\nimDir=img1\nframeRate=10\nseqLength={frames}\n"
        f"imWidth={W}\nimHeight={H}\nimExt=.png\n")
    (root / "gt").mkdir()
    rows = [f"{f},{i},{x},{y},{w},{h},1,1,{vis.get(i, 1.0)}" for f in range(1, frames + 1) for i, (x, y, w, h) in OBJECTS.items()]
    (root / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    img = np.full((H, W, 3), 60, np.uint8)
    for x, y, w, h in OBJECTS.values():
        img[y:y + h, x:x + w] = 255
    if video:
        writer = cv2.VideoWriter(str(root / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
        for _ in range(frames):
            writer.write(img)
        writer.release()
    else:
        (root / "img1").mkdir()
        for f in range(1, frames + 1):
            cv2.imwrite(str(root / "img1" / f"{f:06d}.png"), img)
    return MotSequence.open(root)


def dataset(seqs, *, augment: AugmentConfig = NO_AUGMENT, clip_len: int = 3, max_gap: int = 2, seed: int = 0,
            ignore_non_targets: bool = False):
    return ClipDataset(sequences=seqs, model=MODEL, clip_len=clip_len, max_gap=max_gap, min_visibility=0.25,
                       augment=augment, max_objects=8, seed=seed, ignore_non_targets=ignore_non_targets)


@pytest.fixture(scope="module")
def seq(tmp_path_factory) -> MotSequence:
    return write_sequence(tmp_path_factory.mktemp("clips") / "seq")


def test_item_shapes_and_targets(seq):
    item = dataset([(seq, None)])[0]
    assert item["images"].shape == (3, 3, H, W)  # (T, 3, H, W)
    assert item["images"].dtype.is_floating_point
    assert 0.0 <= float(item["images"].min()) and float(item["images"].max()) <= 1.0
    assert item["heatmap"].shape == (3, 1, H // 4, W // 4)
    assert item["ind"].shape == item["mask"].shape == item["ident"].shape == (3, 8)
    assert item["size"].shape == item["offset"].shape == (3, 8, 2)
    # No augmentation: all three objects in every frame, identities 0, 1, 2 (ids 5, 7, 9 sorted).
    assert item["mask"].sum(dim=1).tolist() == [3, 3, 3]
    assert sorted(item["ident"][0][item["mask"][0]].tolist()) == [0, 1, 2]


def test_hidden_person_is_background_or_an_ignore_region(tmp_path):
    # Object 7 at visibility 0.1 (< min_visibility 0.25) is not a target either way. Its box
    # (50, 30, 12, 30) has centre (56, 45) px = cell (14, 11), 9 and more cells from the
    # others' centres (5, 10) and (23, 8), so its whole bump is ignored when asked for. The
    # 12 x 30 px box is 3 x 7.5 cells; the smallest of CenterNet's three radii is the third,
    # a = 2.8, b = -0.7 * 2 * 10.5 = -14.7, c = -0.3 * 22.5 = -6.75:
    # (-14.7 + sqrt(216.09 + 75.6)) / 2 = 1.1895 -> radius 1, a 3 x 3 bump per frame.
    s = write_sequence(tmp_path / "hidden", visibility={7: 0.1})
    plain = dataset([(s, None)])[0]
    ignoring = dataset([(s, None)], ignore_non_targets=True)[0]
    assert plain["mask"].sum(dim=1).tolist() == ignoring["mask"].sum(dim=1).tolist() == [2, 2, 2]
    assert not plain["ignore"].any()
    assert ignoring["ignore"].sum(dim=(1, 2, 3)).tolist() == [9, 9, 9]
    assert ignoring["ignore"][:, 0, 10:13, 13:16].all()
    assert ignoring["heatmap"][:, 0, 11, 14].tolist() == [0.0, 0.0, 0.0]
    for key in ("images", "heatmap", "ind", "mask", "size", "offset", "ident"):
        assert plain[key].equal(ignoring[key]), key


def test_horizontal_flip_maps_boxes_and_pixels_exactly(seq):
    # Input size = frame size, so the letterbox is the identity; a flip maps x -> 128 - x.
    # Object 5 spans x in [10, 30) -> [128 - 30, 128 - 10) = [98, 118); y is unchanged [20, 60).
    flip = AugmentConfig(scale=0.0, translate=0.0, flip=1.0, brightness=0.0, contrast=0.0, color=0.0)
    clip = dataset([(seq, None)], augment=flip).sample(3)
    first = clip.ids[0].tolist().index(0)  # clip id 0 is gt id 5
    assert clip.boxes[0][first].tolist() == [98.0, 20.0, 118.0, 60.0]
    # Pixels: column i goes to 127 - i. On row 40 the white columns 10..29, 50..61 and 80..107
    # (objects 5, 7, 9) become 98..117, 66..77 and 20..47, exactly (no interpolation blur).
    white = np.flatnonzero(clip.images[0][40, :, 0] == 255).tolist()
    assert white == list(range(20, 48)) + list(range(66, 78)) + list(range(98, 118))


def test_affine_zoom_and_shift_derived():
    # Frame 256x192 into 128x96: letterbox scale 0.5, no padding. Zoom 2 about the centre (64, 48)
    # and shift (+5, -3): x_in = 2 * (0.5 x - 64) + 64 + 5 = x - 59; y_in = y - 48 - 3 = y - 51.
    a = clip_affine(src_size=(256, 192), dst_size=(W, H), zoom=2.0, shift=(5.0, -3.0))
    assert a.boxes(np.array([[100, 60, 140, 100]])).tolist() == [[41.0, 9.0, 81.0, 49.0]]


def test_channel_shuffle_permutes_colours_per_clip_and_keeps_boxes(tmp_path):
    # A frame of one colour (B, G, R) = (10, 100, 200): channel values are all distinct, so the
    # pixel of a shuffled clip names its permutation. Shuffle probability 1: never the identity,
    # the same permutation in every frame of a clip, boxes as without it, and over 40 clips all
    # five non-identity orders of three channels show up.
    root = tmp_path / "colour"
    write_sequence(root)
    colour = np.array([10, 100, 200], np.uint8)
    for f in range(1, 13):
        cv2.imwrite(str(root / "img1" / f"{f:06d}.png"), np.broadcast_to(colour, (H, W, 3)).copy())
    seq = MotSequence.open(root)
    plain = dataset([(seq, None)])
    shuffled = dataset([(seq, None)], augment=dataclasses.replace(NO_AUGMENT, channel_shuffle=1.0))
    seen = set()
    for i in range(40):
        a, b = plain.sample(i), shuffled.sample(i)
        assert a.images[0, 0, 0].tolist() == [10, 100, 200]
        pixel = tuple(b.images[0, 0, 0].tolist())
        assert sorted(pixel) == [10, 100, 200] and pixel != (10, 100, 200)
        assert all(tuple(b.images[t, 5, 7].tolist()) == pixel for t in range(3))
        assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))
        seen.add(pixel)
    assert len(seen) == 5


def test_channel_shuffle_probability_is_checked():
    with pytest.raises(ValueError, match="channel_shuffle is a probability"):
        AugmentConfig(channel_shuffle=1.5)


def test_paste_adds_an_absent_person_with_their_size_pixels_and_own_identity(tmp_path):
    # 12 frames, 128x96 (input = frame: identity map). Objects 5 (20x40 at (10, 20)) and 7
    # (12x30 at (50, 30)) are in frames 1-6, object 9 (28x50 at (80, 10)) in frames 7-12;
    # each is drawn white on grey. A clip of consecutive frames within 1-6 can only get 9
    # pasted, one within 7-12 only 5 or 7; a clip across frame 6/7 holds all three and gets
    # none (ten random draws of a source stretch and spot may also all fail, then nothing is
    # pasted). The pasted box keeps its source size, lies wholly inside the frame, covers at most
    # 10 % of any other box, is white at its centre (blend weight 1) and has one clip-local
    # identity of its own in all three frames.
    root = tmp_path / "paste"
    root.mkdir()
    (root / "seqinfo.ini").write_text(
        f"[Sequence]\nname=paste\nimDir=img1\nframeRate=10\nseqLength=12\nimWidth={W}\nimHeight={H}\nimExt=.png\n")
    (root / "gt").mkdir()
    (root / "img1").mkdir()
    rows = []
    for f in range(1, 13):
        present = (5, 7) if f <= 6 else (9,)
        img = np.full((H, W, 3), 60, np.uint8)
        for i in present:
            x, y, w, h = OBJECTS[i]
            rows.append(f"{f},{i},{x},{y},{w},{h},1,1,1.0")
            img[y:y + h, x:x + w] = 255
        cv2.imwrite(str(root / "img1" / f"{f:06d}.png"), img)
    (root / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    seq = MotSequence.open(root)
    plain = dataset([(seq, None)], max_gap=1)
    pasting = dataset([(seq, None)], max_gap=1, augment=dataclasses.replace(NO_AUGMENT, paste=1.0))
    pasted_clips = 0
    for index in range(30):
        a, b = plain.sample(index), pasting.sample(index)
        assert a.frames.tolist() == b.frames.tolist()
        if a.frames[0] <= 6 < a.frames[-1]:
            assert all(len(x) == len(y) for x, y in zip(a.boxes, b.boxes))  # nobody absent
            continue
        if len(b.boxes[0]) == len(a.boxes[0]):  # ten draws found no source stretch and free spot
            assert all(len(x) == len(y) for x, y in zip(a.boxes, b.boxes))
            continue
        pasted_clips += 1
        source_sizes = [(28.0, 50.0)] if a.frames[-1] <= 6 else [(20.0, 40.0), (12.0, 30.0)]
        for t in range(3):
            assert len(b.boxes[t]) == len(a.boxes[t]) + 1
            new = b.boxes[t][-1]
            assert (round(new[2] - new[0], 6), round(new[3] - new[1], 6)) in source_sizes
            assert new[0] >= 0 and new[1] >= 0 and new[2] <= W and new[3] <= H
            for other in a.boxes[t]:
                iw = max(0.0, min(new[2], other[2]) - max(new[0], other[0]))
                ih = max(0.0, min(new[3], other[3]) - max(new[1], other[1]))
                assert iw * ih <= 0.1 * (other[2] - other[0]) * (other[3] - other[1])
            cx, cy = int((new[0] + new[2]) / 2), int((new[1] + new[3]) / 2)
            assert b.images[t][cy, cx].tolist() == [255, 255, 255]
        pasted_ids = {int(b.ids[t][-1]) for t in range(3)}
        assert len(pasted_ids) == 1 and pasted_ids.isdisjoint(b.ids[0][:-1].tolist())
    assert pasted_clips >= 10


def test_centre_outside_input_is_dropped_and_rest_kept_whole():
    boxes = np.array([[-10.0, 0, 4, 10],  # centre x = -3: outside -> dropped
                      [-4.0, 0, 10, 10],  # centre x = 3: kept with its full extent (x1 = -4)
                      [120.0, 90, 140, 100]])  # centre (130, 95): x outside 128 -> dropped
    kept, keep = filter_to_input(boxes, (W, H))
    assert keep.tolist() == [False, True, False]
    assert kept.tolist() == [[-4.0, 0.0, 10.0, 10.0]]


def test_identities_consistent_across_augmented_clips(seq):
    # Objects are static, so under one shared transform each keeps its box width in every frame;
    # widths 20, 12, 28 differ, so width identifies the gt object. Check over many random clips.
    augment = AugmentConfig(scale=0.3, translate=0.15, flip=0.5)
    ds = dataset([(seq, None)], augment=augment)
    checked = 0
    for i in range(40):
        clip = ds.sample(i)
        width_of: dict[int, float] = {}
        for boxes, ids in zip(clip.boxes, clip.ids):
            for b, k in zip(boxes, ids):
                if 0 < b[0] and b[2] < W:  # unclipped boxes only (clipping changes the width)
                    assert width_of.setdefault(int(k), b[2] - b[0]) == pytest.approx(b[2] - b[0])
                    checked += 1
        all_ids = np.concatenate(clip.ids)
        assert sorted(set(all_ids.tolist())) == list(range(len(set(all_ids.tolist()))))  # 0..N-1
        assert len(set(np.round(list(width_of.values()), 6))) == len(width_of)  # distinct objects
    assert checked > 100


def test_frame_gaps_within_max_gap_and_inside_range(seq):
    ds = dataset([(seq, parse_frame_range("3:10"))], clip_len=3, max_gap=3)
    gaps, frames = [], []
    for i in range(60):
        clip = ds.sample(i)
        gaps += np.diff(clip.frames).tolist()
        frames += clip.frames.tolist()
    assert set(gaps) == {1, 2, 3}  # every allowed gap occurs, nothing else
    assert min(frames) >= 3 and max(frames) <= 10


def test_sampling_is_a_function_of_seed_and_index(seq):
    a, b = dataset([(seq, None)], augment=AugmentConfig()), dataset([(seq, None)], augment=AugmentConfig())
    assert np.array_equal(a.sample(7).images, b.sample(7).images)
    assert a.sample(7).frames.tolist() == b.sample(7).frames.tolist()
    c = dataset([(seq, None)], augment=AugmentConfig(), seed=1)
    assert not np.array_equal(a.sample(7).images, c.sample(7).images)


def test_video_sequence_matches_image_sequence(tmp_path, seq):
    # The same frames from an MJPG video (decoded once into memory) and from PNGs: equal boxes,
    # near-equal pixels (MJPG is lossy).
    video = write_sequence(tmp_path / "vid", video=True)
    a = dataset([(seq, None)]).sample(4)
    b = dataset([(video, None)]).sample(4)
    assert a.frames.tolist() == b.frames.tolist()
    assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))
    assert np.abs(a.images.astype(int) - b.images.astype(int)).mean() < 3.0


def test_pets_video_half_split(shared_data):
    # PETS09-S2L1 is a 768x576 video with MOT15 gt; frames 1-20 only, decoded into memory.
    pets = MotSequence.open(shared_data / "PETS09-S2L1")
    ds = dataset([(pets, parse_frame_range("1:20"))], augment=NO_AUGMENT)
    data = ds.sequences[0]
    assert (data.first, data.last) == (1, 20)
    # 768x576 into 128x96: letterbox scale min(128/768, 96/576) = 1/6, the cache keeps that size.
    assert data.cache_scale == pytest.approx(1 / 6)
    clip = ds.sample(0)
    assert clip.images.shape == (3, H, W, 3)
    assert all(len(b) > 0 for b in clip.boxes)  # people are walking in every early frame


def test_crop_is_a_window_of_the_full_input(seq):
    # Input = frame size (identity letterbox), no augmentation, 64x64 crops of the 128x96 input:
    # each clip is frame[oy:oy + 64, ox:ox + 64] for one offset 0 <= ox <= 64, 0 <= oy <= 32
    # shared by its frames, and every kept box is the gt box shifted by (-ox, -oy).
    full = dataset([(seq, None)]).sample(0).images[0]
    ds = ClipDataset(sequences=[(seq, None)], model=MODEL, clip_len=3, max_gap=2, min_visibility=0.25,
                     augment=NO_AUGMENT, max_objects=8, seed=0, crop_size=(64, 64))
    offsets = set()
    for i in range(12):
        clip = ds.sample(i)
        assert clip.images.shape == (3, 64, 64, 3)
        ox, oy = -clip.affine.tx, -clip.affine.ty
        assert ox == int(ox) and oy == int(oy) and 0 <= ox <= 64 and 0 <= oy <= 32
        ox, oy = int(ox), int(oy)
        offsets.add((ox, oy))
        assert all(np.array_equal(img, full[oy:oy + 64, ox:ox + 64]) for img in clip.images)
        gt = {k: np.array([x - ox, y - oy, x + w - ox, y + h - oy], float) for k, (x, y, w, h) in OBJECTS.items()}
        for boxes in clip.boxes:
            for b in boxes:
                assert any(np.array_equal(b, g) for g in gt.values())
    assert len(offsets) > 6  # the window moves
    item = ds[0]
    assert item["images"].shape == (3, 3, 64, 64)
    assert item["heatmap"].shape == (3, 1, 16, 16)  # the targets are on the crop's 16x16 cells


def test_crop_larger_than_input_is_refused(seq):
    with pytest.raises(AetrackError, match="crop size 160x64 must be multiples of 32 no larger than the input 128x96"):
        ClipDataset(sequences=[(seq, None)], model=MODEL, clip_len=3, max_gap=2, min_visibility=0.25,
                    augment=NO_AUGMENT, max_objects=8, seed=0, crop_size=(160, 64))


def test_static_clip_is_one_frame_moved_by_a_constant_camera_drift(seq):
    from aetrack.data.clips import ClipSource

    # Only the static drift is random: shift up to 5 % of the input per frame step, no zoom.
    augment = dataclasses.replace(NO_AUGMENT, static_shift=0.05, static_zoom=0.0)
    ds = ClipDataset(sequences=[(seq, None)], sources=[ClipSource(static=True)], model=MODEL, clip_len=3,
                     max_gap=2, min_visibility=0.25, augment=augment, max_objects=8, seed=0)
    for index in range(5):
        clip = ds.sample(index)
        assert len(set(clip.frames.tolist())) == 1  # one frame, three times
        step = None
        for t in (1, 2):
            # Same objects in the same order (all stay inside: the drift is at most 2 x 5 % of 128 px).
            assert clip.ids[t].tolist() == clip.ids[0].tolist() == [0, 1, 2]
            delta = clip.boxes[t] - clip.boxes[0]  # (3, 4): the same shift for every corner
            assert np.allclose(delta, delta[0])
            assert np.allclose(delta[0, :2], delta[0, 2:])
            step = delta[0, :2] / t if step is None else step
            assert np.allclose(delta[0, :2], t * step)  # constant velocity: frame 2 moved twice frame 1
        assert np.all(np.abs(step) <= 0.05 * np.array([W, H]) + 1e-9)


def test_static_clip_zoom_scales_box_sizes_per_step(seq):
    from aetrack.data.clips import ClipSource

    augment = dataclasses.replace(NO_AUGMENT, static_shift=0.0, static_zoom=0.03)
    ds = ClipDataset(sequences=[(seq, None)], sources=[ClipSource(static=True)], model=MODEL, clip_len=3,
                     max_gap=2, min_visibility=0.25, augment=augment, max_objects=8, seed=3)
    clip = ds.sample(0)
    w = [b[:, 2] - b[:, 0] for b in clip.boxes]
    z = w[1] / w[0]  # zoom per step, the same for every object, within 1 +- 0.03
    assert np.allclose(z, z[0]) and abs(z[0] - 1) <= 0.03
    assert np.allclose(w[2] / w[0], z[0] ** 2)  # compounded over two steps


def test_sources_weight_sequences_by_frames_times_weight(tmp_path):
    from aetrack.data.clips import ClipSource

    a = write_sequence(tmp_path / "a", frames=12)
    b = write_sequence(tmp_path / "b", frames=4)
    ds = ClipDataset(sequences=[(a, None), (b, None)], sources=[ClipSource(weight=1.0), ClipSource(weight=6.0)],
                     model=MODEL, clip_len=2, max_gap=1, min_visibility=0.25, augment=NO_AUGMENT, max_objects=8,
                     seed=0)
    # 12 x 1 against 4 x 6: b is drawn with probability 24 / 36 = 2/3.
    assert np.allclose(ds._weights, [12 / 36, 24 / 36])
    with pytest.raises(AetrackError, match="one ClipSource per sequence"):
        ClipDataset(sequences=[(a, None)], sources=[], model=MODEL, clip_len=2, max_gap=1, min_visibility=0.25,
                    augment=NO_AUGMENT, max_objects=8, seed=0)


def test_named_classes_map_onto_the_models_classes(tmp_path):
    from aetrack.data.clips import SequenceData

    seq = write_sequence(tmp_path / "named", frames=2)
    info = (seq.root / "seqinfo.ini").read_text()
    (seq.root / "seqinfo.ini").write_text(info + "classes=person,car,boat\n")
    # Object 5 is a person (1), 7 a car (2), 9 a boat (3): a class the model does not have.
    rows = [f"{f},{i},{x},{y},{w},{h},1,{c},1" for f in (1, 2)
            for (i, (x, y, w, h)), c in zip(OBJECTS.items(), (1, 2, 3))]
    (seq.root / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    data = SequenceData(seq=MotSequence.open(seq.root), frames=None, min_visibility=0.25,
                        class_names=("person", "bicycle", "car"))
    boxes, ids = data.objects(1)
    assert ids.tolist() == [5, 7]
    assert data.classes(1).tolist() == [0, 2]  # person -> 0, car -> 2 in the model's order
    assert data.ignored(1).tolist() == [[80.0, 10.0, 108.0, 60.0]]  # the boat: not a target
    # Without a classes key, MOTChallenge rules: class 1 is a pedestrian, the rest not targets.
    (seq.root / "seqinfo.ini").write_text(info)
    data = SequenceData(seq=MotSequence.open(seq.root), frames=None, min_visibility=0.25,
                        class_names=("person", "bicycle", "car"))
    assert data.objects(1)[1].tolist() == [5] and data.classes(1).tolist() == [0]


def test_global_identities_follow_the_folder_not_the_entry(seq, tmp_path):
    # Entries 0 and 1 are one folder (two frame ranges, the same people), entry 2 another folder
    # with the same gt ids 5, 7, 9. Folder numbers in order of first appearance: 0, 0, 1, so a
    # global identity is folder * 2**32 + gt id.
    other = write_sequence(tmp_path / "other")
    ds = dataset([(seq, parse_frame_range("1:6")), (seq, parse_frame_range("7:12")), (other, None)])
    seen = {}
    for i in range(30):
        clip, item = ds.sample(i), ds[i]
        valid = item["ident"] >= 0
        assert (item["global_ident"] >= 0).equal(valid)
        folder = 0 if clip.sequence < 2 else 1
        expected = clip.object_ids[item["ident"][valid]] + folder * 2**32
        assert item["global_ident"][valid].tolist() == expected.tolist()
        seen.setdefault(folder, set()).update(item["global_ident"][valid].tolist())
    assert seen == {0: {5, 7, 9}, 1: {2**32 + 5, 2**32 + 7, 2**32 + 9}}
