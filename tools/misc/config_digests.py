"""Compare every config with the record of what it resolves to
(:mod:`mmprompt.recipes.digests`), or rewrite the record.

    python tools/misc/config_digests.py            # print differences
    python tools/misc/config_digests.py --update   # rewrite the record

The record, ``tests/records/config_digests.json``, maps each config (relative
path) to the sha256 of its resolved ``model``, dataloaders, optimizer
wrapper, parameter schedulers and loops (``custom_hooks`` and the runtime
are left out: hooks every run needs may move between configs and
``tools/train.py``). tests/test_configs.py compares against it. Types
renamed to their papers' names (``mmprompt.registry.RENAMED_TYPES``) are
hashed under their new names, so a config that only uses an old name has the
digest of the same config with the new one.
"""
import argparse
import json
import sys

from mmprompt.recipes.digests import RECORD, differences, digests


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--update',
        action='store_true',
        help='rewrite tests/records/config_digests.json')
    args = parser.parse_args(argv)
    current = digests()
    if args.update:
        with open(RECORD, 'w') as f:
            json.dump(current, f, indent=1, sort_keys=True)
            f.write('\n')
        print(f'recorded {len(current)} configs in {RECORD}')
        return 0
    with open(RECORD) as f:
        record = json.load(f)
    changed, added, removed = differences(record, current)
    for name, paths in (('changed', changed), ('new', added), ('removed',
                                                               removed)):
        for p in paths:
            print(f'{name}: {p}')
    print(f'{len(changed)} changed, {len(added)} new, {len(removed)} '
          'removed')
    return 1 if changed or removed else 0


if __name__ == '__main__':
    sys.exit(main())
