"""Rebuilding the HuggingFace names of a DINOv2 model exported to ONNX."""
import re
from collections import OrderedDict

import numpy as np
import torch

from .common import prefixes_of

_HF_KEY = 'embeddings.patch_embeddings.projection.weight'


def _onnx_scope(node_name):
    """``'/backbone/encoder/layer.0/mlp/fc1/MatMul'`` ->
    ``'backbone.encoder.layer.0.mlp.fc1'``."""
    parts = [p for p in node_name.split('/') if p]
    return '.'.join(parts[:-1])


_HF_LINEAR_SCOPE = re.compile(
    r'(^|\.)encoder\.layer\.\d+\.(attention\.attention\.(query|key|value)|'
    r'attention\.output\.dense|mlp\.(fc1|fc2|weights_in|weights_out))$')
_HF_NORM_SCOPE = re.compile(
    r'(^|\.)(encoder\.layer\.\d+\.norm[12]|layernorm)$')
_HF_LAYER_SCALE_SCOPE = re.compile(
    r'(^|\.)encoder\.layer\.\d+\.layer_scale[12]$')
_HF_PATCH_SCOPE = re.compile(
    r'(^|\.)embeddings\.patch_embeddings\.projection$')


def state_dict_from_onnx(path):
    """Named tensors of an ONNX graph exported from a HuggingFace DINOv2
    model.

    The exporter keeps the names of the parameters it stores as they are
    (``backbone.encoder.layer.0.norm1.weight``), stores the weights of
    linear layers transposed under anonymous names (``onnx::MatMul_1966``),
    splits the position embedding into a class part and a patch part, and
    stores identical tensors once (under the name of their first user). So
    every parameter is (also) resolved through the node that consumes it:
    the node's name gives the module (``/backbone/encoder/layer.0/mlp/fc1/
    MatMul`` -> ``backbone.encoder.layer.0.mlp.fc1``), its type and input
    slot the parameter.

    Returns ``(tensors, all_names)``: ``tensors`` in HuggingFace names (with
    the graph's prefix, e.g. ``backbone.``), ``all_names`` the names of all
    initializers (for error messages).
    """
    # optional: the onnx extra
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    graph = model.graph
    consts = OrderedDict((init.name, init) for init in graph.initializer)
    all_names = [init.name for init in graph.initializer]
    for node in graph.node:  # in topological order
        if node.op_type == 'Constant' and len(node.output) == 1:
            # tensors folded into Constant nodes
            for att in node.attribute:
                if att.name == 'value':
                    consts.setdefault(node.output[0], att.t)
        elif node.op_type == 'Identity' and node.input[0] in consts:
            # the exporter stores identical tensors once and gives the other
            # names through Identity nodes
            consts.setdefault(node.output[0], consts[node.input[0]])
            all_names.append(node.output[0])
    producers = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for idx, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, idx))

    arrays = {}

    def array(name):
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(consts[name])
        return arrays[name]

    def attr(node, name, default=None):
        for att in node.attribute:
            if att.name == name:
                return onnx.helper.get_attribute_value(att)
        return default

    tensors = OrderedDict()
    prefixes = prefixes_of(all_names, _HF_KEY)
    if not prefixes:
        return tensors, all_names
    prefix = prefixes[0]

    def put(key, value):
        if key not in tensors:
            tensors[key] = torch.from_numpy(np.array(value, copy=True))

    # 1. named initializers keep their (HuggingFace) names
    for name in all_names:
        if name.startswith(prefix):
            put(name, array(name))

    def const_input(node, idx, ndim=None):
        """Name of the constant fed to ``node.input[idx]`` (or None)."""
        if idx >= len(node.input) or node.input[idx] not in consts:
            return None
        name = node.input[idx]
        if ndim is not None and array(name).ndim != ndim:
            return None
        return name

    def linear_weight(node):
        """The [out, in] weight of a MatMul/Gemm node, or None."""
        src = node.input[1]
        transposed = False
        if src not in consts and src in producers and \
                producers[src].op_type == 'Transpose':
            trans = producers[src]
            if attr(trans, 'perm') in (None, [1, 0]):
                src, transposed = trans.input[0], True
        if src not in consts or array(src).ndim != 2:
            return None
        w = array(src)
        if node.op_type == 'Gemm':
            trans_b = bool(attr(node, 'transB', 0))
            return w if trans_b != transposed else w.T
        return w if transposed else w.T  # MatMul: y = x @ w, w is [in, out]

    # 2. every parameter through the node that consumes it
    for node in graph.node:
        scope = _onnx_scope(node.name)
        if not scope.startswith(prefix):
            continue
        op = node.op_type
        if _HF_LINEAR_SCOPE.search(scope):
            if op in ('MatMul', 'Gemm') and len(node.input) > 1:
                w = linear_weight(node)
                if w is not None:
                    put(scope + '.weight', w)
                bias = const_input(node, 2, ndim=1) if op == 'Gemm' else None
            elif op == 'Add':
                bias = const_input(node, 0, 1) or const_input(node, 1, 1)
            else:
                bias = None
            if bias is not None:
                put(scope + '.bias', array(bias))
        elif _HF_NORM_SCOPE.search(scope):
            if op == 'LayerNormalization':
                for idx, leaf in ((1, 'weight'), (2, 'bias')):
                    name = const_input(node, idx, ndim=1)
                    if name is not None:
                        put(f'{scope}.{leaf}', array(name))
            elif op in ('Mul', 'Add'):
                name = const_input(node, 0, 1) or const_input(node, 1, 1)
                if name is not None:
                    leaf = 'weight' if op == 'Mul' else 'bias'
                    put(f'{scope}.{leaf}', array(name))
        elif _HF_LAYER_SCALE_SCOPE.search(scope) and op == 'Mul':
            name = const_input(node, 0, 1) or const_input(node, 1, 1)
            if name is not None:
                put(scope + '.lambda1', array(name))
        elif _HF_PATCH_SCOPE.search(scope) and op == 'Conv':
            for idx, leaf in ((1, 'weight'), (2, 'bias')):
                name = const_input(node, idx)
                if name is not None:
                    put(f'{scope}.{leaf}', array(name))

    # 3. position embedding, split by the exporter into class + patches
    pos_key = prefix + 'embeddings.position_embeddings'
    cls_key = prefix + 'embeddings.cls_token'
    if pos_key not in tensors and cls_key in tensors:
        dims = tensors[cls_key].shape[-1]
        scope = '/' + prefix.replace('.', '/') + 'embeddings/'
        cls_pos, patch_pos = None, None
        for name in consts:
            if name.startswith(prefix):
                continue
            users = consumers.get(name, [])
            if not users or not all(
                    u.name.startswith(scope) for u, _ in users):
                continue
            a = array(name)
            if a.dtype.kind != 'f':
                continue
            if a.shape == (1, 1, dims) and any(u.op_type == 'Concat'
                                               for u, _ in users):
                cls_pos = a
            elif a.ndim == 3 and a.shape[0] == 1 and a.shape[2] == dims \
                    and a.shape[1] > 1 and _is_square(a.shape[1]):
                patch_pos = a
            elif a.ndim == 4 and a.shape[0] == 1 and a.shape[3] == dims \
                    and a.shape[1] == a.shape[2] and a.shape[1] > 1:
                patch_pos = a.reshape(1, -1, dims)
            elif a.ndim == 4 and a.shape[0] == 1 and a.shape[1] == dims \
                    and a.shape[2] == a.shape[3] and a.shape[2] > 1:
                patch_pos = a.reshape(1, dims, -1).transpose(0, 2, 1)
        if cls_pos is None or patch_pos is None:
            raise ValueError(
                f'{path}: the position embedding of this DINOv2 ONNX graph '
                f'could not be found: neither a named {pos_key!r} nor a '
                f'[1, 1, {dims}] class part and a [1, N, {dims}] patch part '
                f'consumed under {scope!r}')
        put(pos_key, np.concatenate([cls_pos, patch_pos], axis=1))
    return tensors, all_names


def _is_square(n):
    root = int(round(n**0.5))
    return root * root == n
