"""YOLOX-nano port: parity with the ONNX graph, shapes, the loader's errors, and the default model's
detection branch being exactly YOLOX-nano."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from aetrack.errors import AetrackError
from aetrack.eval.detection import box_iou
from aetrack.model.pretrained import load_yolox_nano, yolox_state_dict_from_onnx
from aetrack.model.yolox import YoloxNano

MODELS = Path(__file__).resolve().parents[1] / ".." / "shared" / "models"
ONNX_PATH = MODELS / "yolox_nano.onnx"
PETS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "PETS09-S2L1"


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    if not ONNX_PATH.is_file():
        pytest.skip(f"YOLOX-nano weights not present: {ONNX_PATH} (a clone without ../shared)")
    return ONNX_PATH


@pytest.fixture(scope="module")
def model(onnx_path: Path) -> YoloxNano:
    return load_yolox_nano(onnx_path)


@pytest.fixture(scope="module")
def pets_frame1() -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    video = PETS / "vtest.avi"
    if not video.is_file():
        pytest.skip(f"PETS09-S2L1 video not present: {video}")
    ok, frame = cv2.VideoCapture(str(video)).read()
    assert ok
    return frame  # (576, 768, 3) BGR uint8, ground-truth frame 1


def test_port_reproduces_onnx_outputs(model: YoloxNano, onnx_path: Path, pets_frame1: np.ndarray) -> None:
    ort = pytest.importorskip("onnxruntime")
    cv2 = pytest.importorskip("cv2")
    canvas = np.full((416, 416, 3), 114, np.uint8)  # the authors' letterbox: top-left, 114 pad
    canvas[:312] = cv2.resize(pets_frame1, (416, 312), interpolation=cv2.INTER_LINEAR)  # 768x576 x 0.5417
    x = canvas.transpose(2, 0, 1)[None].astype(np.float32)  # (1, 3, 416, 416)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ref = session.run(None, {"images": x})[0]  # (1, 3549, 85)
    with torch.inference_mode():
        out32 = model(torch.from_numpy(x)).numpy()
        out64 = copy.deepcopy(model).double()(torch.from_numpy(x).double()).numpy()
    assert out32.shape == ref.shape == (1, 52 * 52 + 26 * 26 + 13 * 13, 85)
    # Measured on this frame: onnxruntime itself is 1.5e-4 (box columns) / 3.5e-5 (probabilities)
    # away from the same graph in float64, torch float32 5.2e-4 / 1.4e-4 (the 0-255 input makes the
    # first convolutions' sums large). So the float64 port must match onnxruntime to its own
    # rounding (3e-4 / 1e-4), and the float32 port to the sum of both errors (< 1e-3).
    diff64 = np.abs(out64 - ref)[0]
    assert diff64[:, :4].max() < 3e-4
    assert diff64[:, 4:].max() < 1e-4
    assert np.abs(out32 - ref).max() < 1e-3


def test_features_at_a_non_square_size() -> None:
    model = YoloxNano().eval()
    with torch.inference_mode():
        p3, p4, p5 = model.forward_features(torch.rand(1, 3, 384, 640) * 255)
        raw = model.forward_head((p3, p4, p5))
    assert p3.shape == (1, 64, 48, 80)
    assert p4.shape == (1, 128, 24, 40)
    assert p5.shape == (1, 256, 12, 20)
    assert raw.shape == (1, 48 * 80 + 24 * 40 + 12 * 20, 85)
    assert torch.isfinite(raw).all()
    with pytest.raises(ValueError, match="multiples of 32"):
        model.forward_features(torch.rand(1, 3, 100, 640))


def test_every_parameter_gets_a_gradient() -> None:
    model = YoloxNano()
    model(torch.rand(1, 3, 32, 32) * 255).sum().backward()  # smallest input: one stride-32 cell
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def _one_line_error(path: Path) -> str:
    with pytest.raises(AetrackError) as info:
        yolox_state_dict_from_onnx(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_loader_errors(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    assert "no such file" in _one_line_error(tmp_path / "missing.onnx")

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert "not an ONNX file" in _one_line_error(junk)

    # A valid ONNX network of one 3x3 convolution 3 -> 8 (YOLOX-nano has 113, the first 12 -> 16).
    h = onnx.helper
    weight = onnx.numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    bias = onnx.numpy_helper.from_array(np.zeros(8, np.float32), "b")
    graph = h.make_graph(
        [h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])], "tiny",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 8, 8, 8])],
        initializer=[weight, bias],
    )
    other = tmp_path / "other.onnx"
    onnx.save(h.make_model(graph), str(other))
    assert "not a YOLOX-nano ONNX file (1 convolutions, expected 113)" in _one_line_error(other)


def test_default_model_detects_with_yolox_nano_unchanged(model: YoloxNano, pets_frame1: np.ndarray) -> None:
    """The embedded default's detection branch holds YOLOX-nano's weights bit for bit (stored as
    float32), and its detections of PETS frame 1 are the 3 people."""
    from aetrack import Tracker

    tracker = Tracker.from_pretrained(backend="torch")
    shipped = tracker.model.net.yolox.state_dict()
    for name, ref in model.state_dict().items():
        assert torch.equal(shipped[name], ref), name
    gt_rows = np.loadtxt(PETS / "gt" / "gt.txt", delimiter=",")
    gt = gt_rows[gt_rows[:, 0] == 1]  # frame 1: 3 people, all flag 1
    gt_boxes = np.c_[gt[:, 2:4], gt[:, 2:4] + gt[:, 4:6]]
    dets = tracker.detect(pets_frame1)
    people = dets.boxes[(dets.classes == 0) & (dets.scores >= 0.3)]
    assert len(gt_boxes) == 3
    assert (box_iou(gt_boxes, people).max(axis=1) > 0.5).sum() == 3
    assert dets.boxes.dtype == np.float32 and dets.scores.dtype == np.float32 and dets.classes.dtype == np.int64
