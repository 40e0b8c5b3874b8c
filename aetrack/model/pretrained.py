"""Pretrained weights: YOLOX-nano (COCO) read from the authors' ONNX export.

The file is YOLOX's release 0.1.1rc0 asset ``yolox_nano.onnx`` (3,659,407 bytes; Apache-2.0,
Megvii); users pass its path, nothing is downloaded. In that graph BatchNorm is folded into the
113 convolutions and most initializers are only numbered, so the weights are matched by order:
the k-th Conv node of the graph gives the k-th ``Conv2d`` of :class:`YoloxNano` (registration
order), and every shape and group count is checked.

Example::

    from aetrack.model.pretrained import load_yolox_nano

    model = load_yolox_nano("../shared/models/yolox_nano.onnx")  # eval mode
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from aetrack.errors import AetrackError
from aetrack.model.yolox import YoloxNano


def yolox_state_dict_from_onnx(path: str | Path) -> dict[str, Tensor]:
    """State dict of :class:`YoloxNano` (80 classes) from a YOLOX-nano ONNX file.

    Raises:
        AetrackError: the file is missing, is not ONNX, or its convolutions do not fit YOLOX-nano.
    """
    import onnx  # lazy: only needed to read pretrained weights
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise AetrackError(f"{path}: no such file (YOLOX-nano ONNX weights expected)")
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as err:  # protobuf raises several types for bytes that are not a model
        raise AetrackError(f"{path}: not an ONNX file ({type(err).__name__})") from None
    initializers = {t.name: t for t in graph.initializer}
    conv_nodes = [n for n in graph.node if n.op_type == "Conv"]

    convs = [(name, m) for name, m in YoloxNano().named_modules() if isinstance(m, nn.Conv2d)]
    if len(conv_nodes) != len(convs):
        raise AetrackError(
            f"{path}: not a YOLOX-nano ONNX file ({len(conv_nodes)} convolutions, expected {len(convs)})"
        )
    state: dict[str, Tensor] = {}
    for k, (node, (name, conv)) in enumerate(zip(conv_nodes, convs)):
        groups = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "group"), 1)
        inputs = list(node.input) + [""] * (3 - len(node.input))
        if inputs[1] not in initializers or inputs[2] not in initializers:
            raise AetrackError(f"{path}: not a YOLOX-nano ONNX file (conv {k} has no constant weight and bias)")
        weight = numpy_helper.to_array(initializers[inputs[1]])
        bias = numpy_helper.to_array(initializers[inputs[2]])
        got = (tuple(weight.shape), tuple(bias.shape), groups)
        expected = (tuple(conv.weight.shape), tuple(conv.bias.shape), conv.groups)
        if got != expected:
            raise AetrackError(
                f"{path}: not a YOLOX-nano ONNX file (conv {k} has weight {got[0]}, bias {got[1]}, "
                f"groups {got[2]}; expected {expected[0]}, {expected[1]}, {expected[2]} for {name})"
            )
        state[f"{name}.weight"] = torch.from_numpy(weight.astype("float32", copy=True))
        state[f"{name}.bias"] = torch.from_numpy(bias.astype("float32", copy=True))
    return state


def load_yolox_nano(path: str | Path) -> YoloxNano:
    """:class:`YoloxNano` with the COCO weights of ``path``, in eval mode (see the module docstring)."""
    model = YoloxNano()
    model.load_state_dict(yolox_state_dict_from_onnx(path))
    return model.eval()
