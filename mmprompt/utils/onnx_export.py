"""ONNX export of prompted models, checked with onnxruntime.

In eval mode prompts run as a shared prefix, so tracing turns each layer's
prompt tokens and their norm and projections into constants of the graph
(``do_constant_folding``); the batch axis stays dynamic.
"""
import os
import os.path as osp
import tempfile

import numpy as np
import torch
import torch.nn as nn

__all__ = ['ExportError', 'export_onnx', 'check_onnx']


class ExportError(RuntimeError):
    """The model, checkpoint or output path cannot be exported as asked."""


def export_onnx(module: nn.Module,
                inputs: torch.Tensor,
                out: str,
                opset: int = 17,
                describe: str = '') -> float:
    """Write the ONNX graph of ``module`` (images -> scores, traced on
    ``inputs``, dynamic batch axis) to ``out`` through a temporary file in
    the same folder, check it with onnxruntime (:func:`check_onnx`) and
    return the largest |onnxruntime - PyTorch|. Nothing is left at ``out``
    when tracing or the check fails."""
    module.eval()
    fd, tmp = tempfile.mkstemp(
        suffix='.onnx', dir=osp.dirname(osp.abspath(out)))
    os.close(fd)
    try:
        with torch.no_grad():
            try:
                torch.onnx.export(
                    module, (inputs, ),
                    tmp,
                    dynamo=False,
                    input_names=['inputs'],
                    output_names=['scores'],
                    dynamic_axes={
                        'inputs': {
                            0: 'batch'
                        },
                        'scores': {
                            0: 'batch'
                        }
                    },
                    opset_version=opset,
                    do_constant_folding=True)
            except Exception as err:  # re-raised, saying what failed
                raise ExportError(
                    f'cannot trace {describe or type(module).__name__} to '
                    f'ONNX: {type(err).__name__}: {err}') from err
            diff = check_onnx(tmp, module, inputs)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return diff


def check_onnx(path: str, module: nn.Module, inputs: torch.Tensor) -> float:
    """Largest |onnxruntime - PyTorch| on ``inputs`` and on a batch one
    larger (the batch axis must be dynamic)."""
    import onnxruntime as ort  # optional: the onnx extra
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    diff = 0.
    for x in (inputs, torch.cat([inputs, inputs[:1]])):
        expected = module(x).float().numpy()
        got = session.run(None, {'inputs': x.numpy()})[0]
        if got.shape != expected.shape:
            raise ExportError(f'onnxruntime gave shape {got.shape} for a '
                              f'batch of {len(x)}, PyTorch {expected.shape}')
        diff = max(diff, float(np.abs(got - expected).max()))
    return diff
