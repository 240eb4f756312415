"""Write the benchmark configs: every method x pretraining x task.

Each method folder's ``mmprompt/methods/<method>/recipe.py`` holds what its
configs set (values, not source text); :mod:`mmprompt.recipes` renders them
the same way for every method:

- ``configs/_base_/datasets/{fgvc,vtab1k}/<task>.py``: one per task.
- ``configs/_base_/recipes/<method>_<pretrain>.py``: pretrained model,
  schedule, runtime and what the method changes. (Recipes, not separate
  ``_base_`` method files: mmengine refuses a key that two bases of one
  config both set, and the pretrained model and the method both set
  ``model``; the recipe is where they meet.)
- ``configs/<family>/<method>/<method>_<pretrain>_<task>.py``: the leaves.
- the metafiles and ``model-index.yml`` that mim reads.

Generated files are committed; ``tests/test_configs.py`` checks they are in
sync.

Usage::

    python tools/gen_configs.py          # (re)write the files
    python tools/gen_configs.py --check  # exit 1 if a file differs
"""
import argparse
import sys

from mmprompt.recipes.generate import out_of_sync, write_files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--check',
        action='store_true',
        help='only report files that are out of sync')
    args = parser.parse_args(argv)
    if args.check:
        bad = out_of_sync()
        for line in bad:
            print(line)
        print(f'{len(bad)} generated config(s) out of sync'
              if bad else 'generated configs are in sync')
        return 1 if bad else 0
    print(f'wrote {write_files()} files')
    return 0


if __name__ == '__main__':
    sys.exit(main())
