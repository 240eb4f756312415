"""Export a trained classifier to ONNX and check it with onnxruntime: ``python
tools/deployment/export_onnx.py --help``; the logic is
:mod:`mmprompt.utils.export_onnx_file`."""
import sys

from mmprompt.utils.export_onnx_file import main

if __name__ == '__main__':
    sys.exit(main())
