"""The Python API's input rules (aetrack.validate): one rule for NaN and inf, shapes named.

Each case is one a user hit: a NaN box dropped silently while an inf box raised, boxes and
scores of different lengths failing with numpy's "boolean index did not match", a 1-D array
as a frame failing with "not enough values to unpack".
"""

from __future__ import annotations

import numpy as np
import pytest

from aetrack.errors import AetrackError, InvalidArgument
from aetrack.tracker import Tracker
from aetrack.validate import MAX_COORDINATE, check_detections, to_bgr

BOX = [10.0, 20.0, 50.0, 120.0]


@pytest.fixture(scope="module")
def model_tracker() -> Tracker:
    return Tracker.from_pretrained()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_boxes_are_refused_alike(bad: float) -> None:
    boxes = np.array([BOX, [bad, 0.0, 30.0, 40.0]])
    with pytest.raises(ValueError, match=r"^boxes must be finite .*row 1 is") as err:
        Tracker.for_detections().update_detections(boxes=boxes, scores=[0.9, 0.9])
    assert isinstance(err.value, AetrackError)  # the CLI prints it as one line


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_scores_are_refused_alike(bad: float) -> None:
    with pytest.raises(ValueError, match=rf"^scores must be finite .*scores\[1\] is {bad}"):
        Tracker.for_detections().update_detections(boxes=[BOX, BOX], scores=[0.9, bad])


def test_boxes_and_scores_of_different_lengths() -> None:
    with pytest.raises(ValueError, match=r"^scores must have shape \(2,\) to match boxes, got \(3,\)"):
        Tracker.for_detections().update_detections(boxes=[BOX, BOX], scores=[0.9, 0.8, 0.7])
    with pytest.raises(ValueError, match=r"^boxes must have shape \(n, 4\), got \(2, 3\)"):
        Tracker.for_detections().update_detections(boxes=[[1, 2, 3], [4, 5, 6]], scores=[0.9, 0.8])
    with pytest.raises(ValueError, match=r"^boxes is not an array of numbers"):
        Tracker.for_detections().update_detections(boxes=[BOX, [1, 2]], scores=[0.9, 0.8])


def test_coordinates_beyond_the_limit_are_refused() -> None:
    far = [0.0, 0.0, 2 * MAX_COORDINATE, 10.0]
    with pytest.raises(ValueError, match=r"^boxes must lie within \+-1e\+07 pixels, row 0"):
        check_detections([far], [0.5])


def test_boxes_without_area_are_skipped_not_refused() -> None:
    # The second box has x2 == x1 (no area): skipped, so frame 1 confirms one track, id 1.
    tracks = Tracker.for_detections().update_detections(boxes=[BOX, [5.0, 5.0, 5.0, 9.0]], scores=[0.9, 0.9])
    assert [t.track_id for t in tracks] == [1]
    assert tracks[0].box == pytest.approx(tuple(BOX))


def test_empty_detections_in_any_empty_shape() -> None:
    trk = Tracker.for_detections()
    assert trk.update_detections(boxes=[], scores=[]) == []
    assert trk.update_detections(boxes=np.zeros((0, 4)), scores=np.zeros(0)) == []


def test_one_dimensional_frame_is_not_an_image(model_tracker: Tracker) -> None:
    with pytest.raises(InvalidArgument, match=r"^frame of shape \(12,\) is not an image"):
        model_tracker.update(np.zeros(12, np.uint8))
    with pytest.raises(ValueError, match=r"^frame of shape \(4, 4, 2\) is not an image"):
        Tracker.for_detections().update_detections(boxes=[BOX], scores=[0.9], frame=np.zeros((4, 4, 2)))


def test_frame_dtype_and_non_finite_pixels(model_tracker: Tracker) -> None:
    with pytest.raises(ValueError, match=r"^frame has dtype <U3"):
        model_tracker.update(np.array([["abc"]]))
    img = np.zeros((8, 8, 3), np.float32)
    img[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match=r"^frame has NaN or infinite pixel values"):
        model_tracker.update(img)
    img[2, 3, 1] = np.inf
    with pytest.raises(ValueError, match=r"^frame has NaN or infinite pixel values"):
        model_tracker.update(img)


def test_accepted_frames_convert_as_documented() -> None:
    # Floats up to 1 are intensities (0.5 -> 127 after scaling by 255 and truncating);
    # integers are clipped to 0..255; grey becomes three equal channels.
    assert to_bgr(np.full((2, 2), 0.5))[0, 0].tolist() == [127, 127, 127]
    assert to_bgr(np.full((2, 2, 3), 300, np.int32))[0, 0].tolist() == [255, 255, 255]
    assert to_bgr(np.full((2, 2, 4), 7, np.uint8)).shape == (2, 2, 3)


def test_none_and_empty_frames_are_frames_without_detections(model_tracker: Tracker) -> None:
    assert model_tracker.update(None) == []
    assert model_tracker.update(np.zeros((0, 0, 3), np.uint8)) == []
