"""Convert a ViT checkpoint to mmpretrain keys: ``python
tools/model_converters/convert_vit.py --help``; the logic is
:mod:`mmprompt.utils.checkpoint_converters.convert_vit_file`."""
from mmprompt.utils.checkpoint_converters.convert_vit_file import main

if __name__ == '__main__':
    main()
