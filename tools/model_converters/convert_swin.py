"""Convert a Swin checkpoint to mmpretrain keys: ``python
tools/model_converters/convert_swin.py --help``; the logic is
:mod:`mmprompt.utils.checkpoint_converters.convert_swin_file`."""
from mmprompt.utils.checkpoint_converters.convert_swin_file import main

if __name__ == '__main__':
    main()
