"""Published VTAB-1k and FGVC results, printed beside a user's by
``tools/summarize_results.py``.

Each row: the method, its pretraining (the ``<pretrain>`` of the config
names), its source, top-1 per task (the 19 tasks of
:data:`mmprompt.datasets.vtab1k.VTAB1K_TASKS` and the 5 FGVC datasets) and
the group means the source prints (``fgvc`` for the FGVC mean). The means
are kept as published: a test recomputes them from the per-task numbers
(they agree to rounding), so a mistyped task shows.

Rows of other methods (BPT, DA-VPT, E2VPT, VFPT, SA2VP) belong here once
their per-task tables are transcribed from the papers, each with its
source.
"""
from typing import Dict, List

from mmprompt.datasets.fgvc import FGVC_DATASETS
from mmprompt.datasets.vtab1k import VTAB1K_GROUPS

VPT_PAPER = ('Jia et al., Visual Prompt Tuning, ECCV 2022 (arXiv:2203.12119),'
             ' per-task FGVC and VTAB-1k results, ViT-B/16 supervised '
             'ImageNet-21k')
_ORDER = [t for group in VTAB1K_GROUPS.values() for t in group]


def _row(method, pretrain, source, values, group_means, fgvc, fgvc_mean):
    if len(values) != len(_ORDER):
        raise ValueError(f'{method}: {len(values)} values for '
                         f'{len(_ORDER)} tasks')
    if len(fgvc) != len(FGVC_DATASETS):
        raise ValueError(f'{method}: {len(fgvc)} FGVC values for '
                         f'{len(FGVC_DATASETS)} datasets')
    return dict(
        method=method,
        pretrain=pretrain,
        source=source,
        vtab1k=dict(zip(_ORDER, values)),
        fgvc=dict(zip(FGVC_DATASETS, fgvc)),
        group_means=dict(zip(VTAB1K_GROUPS, group_means), fgvc=fgvc_mean))


# task order: natural (caltech101, cifar100, dtd, flowers, pets, svhn,
# sun397), specialized (camelyon, eurosat, resisc45, retinopathy),
# structured (clevr count, clevr dist, dmlab, kitti, dsprites loc, dsprites
# ori, smallnorb azi, smallnorb ele); FGVC: cub, nabirds, flowers, dogs,
# cars
REFERENCES: List[Dict] = [
    _row('Full fine-tuning', 'vit-b16-in21k', VPT_PAPER, [
        87.7, 68.9, 64.3, 97.2, 86.9, 87.4, 38.8, 79.7, 95.7, 84.2, 73.9, 56.3,
        58.6, 41.7, 65.5, 57.5, 46.7, 25.7, 29.1
    ], [75.88, 83.36, 47.64], [87.3, 82.7, 98.8, 89.4, 84.5], 88.54),
    _row('Linear probe', 'vit-b16-in21k', VPT_PAPER, [
        85.0, 63.4, 63.2, 97.0, 86.3, 36.6, 51.0, 78.5, 87.5, 68.6, 74.0, 34.3,
        30.6, 33.2, 55.4, 12.5, 20.0, 9.6, 19.2
    ], [68.93, 77.16, 26.84], [85.3, 75.9, 97.9, 86.2, 51.3], 79.32),
    _row('VPT-Shallow', 'vit-b16-in21k', VPT_PAPER, [
        86.9, 77.7, 62.6, 97.5, 87.3, 74.5, 51.2, 78.2, 92.0, 75.6, 72.9, 50.5,
        58.6, 40.5, 67.1, 68.7, 36.1, 20.2, 34.1
    ], [76.81, 79.66, 46.98], [86.7, 78.8, 98.4, 90.7, 68.7], 84.62),
    _row('VPT-Deep', 'vit-b16-in21k', VPT_PAPER, [
        90.8, 78.8, 65.8, 98.0, 88.3, 78.1, 49.6, 81.8, 96.1, 83.4, 68.4, 68.5,
        60.0, 46.5, 72.8, 73.6, 47.9, 32.9, 37.8
    ], [78.48, 82.43, 54.98], [88.5, 84.2, 99.0, 90.2, 83.6], 89.11),
]


def references(pretrain: str) -> List[Dict]:
    """The published rows for ``pretrain`` (none for an unknown one)."""
    return [r for r in REFERENCES if r['pretrain'] == pretrain]
