"""Export a trained classifier to ONNX and check it with onnxruntime: ``python
tools/deployment/export_onnx.py --help``; the logic is
:mod:`mmprompt.utils.export_onnx_file`."""
import sys

from mmprompt.utils.checkpoint_files import CheckpointFileError
from mmprompt.utils.export_onnx_file import main
from mmprompt.utils.onnx_export import ExportError

if __name__ == '__main__':
    try:
        main()
    except (ExportError, CheckpointFileError) as e:
        sys.exit(f'error: {e}')
