"""What every method's recipe stands on: the pretrainings, the FGVC and
VTAB-1k tasks, and how a recipe and its leaves become config files.

A method's folder holds its recipes (``mmprompt/methods/<method>/recipe.py``):
``METHODS`` (name -> :class:`Method`), ``COLLECTIONS`` (the metafile of each
config family it writes) and, where it writes files beyond recipes and
leaves, ``extra_files()``. :mod:`mmprompt.recipes.generate` finds them.
"""
from typing import Callable, NamedTuple, Optional, Tuple

from mmprompt.datasets.fgvc import FGVC_DATASETS
from mmprompt.datasets.vtab1k import VTAB1K_TASKS
from .render import Piece, merge, render

# name -> (base model file, description)
PRETRAINS = {
    'vit-b16-in21k': ('vit-b16_in21k.py', 'ViT-B/16 supervised ImageNet-21k'),
    'vit-b16-mae': ('vit-b16_mae.py', 'ViT-B/16 MAE'),
    'vit-b16-mocov3': ('vit-b16_mocov3.py', 'ViT-B/16 MoCo v3'),
    'swin-b-in22k': ('swin-b_in22k.py', 'Swin-B ImageNet-22k (PromptSwin)'),
    'clip-vit-b16': ('clip-vit-b16.py', 'CLIP ViT-B/16 (OpenAI)'),
    'dinov2-vit-b14': ('dinov2-vit-b14.py', 'DINOv2 ViT-B/14'),
}
VIT_PRETRAINS = ('vit-b16-in21k', 'vit-b16-mae', 'vit-b16-mocov3',
                 'clip-vit-b16', 'dinov2-vit-b14')
# FGVC dataset folders under data/fgvc
FGVC_FOLDERS = {
    'cub': 'CUB_200_2011',
    'nabirds': 'nabirds',
    'flowers': 'OxfordFlower',
    'dogs': 'StanfordDogs',
    'cars': 'StanfordCars',
}


class Method(NamedTuple):
    family: str  # configs/<family>/<method>/
    desc: str
    recipe: Callable[[str], Piece]  # pretrain -> what the method sets
    benchmarks: Tuple[str, ...] = ('fgvc', 'vtab1k')
    # (pretrain, benchmark, task, num_classes) -> what a leaf adds to the
    # dataset and the head's class count (per-task settings)
    leaf: Optional[Callable[..., Piece]] = None
    pretrains: Tuple[str, ...] = VIT_PRETRAINS


def fixed(**values):
    return lambda pretrain: Piece(values)


RECIPE_RUNTIME = Piece(
    dict(
        default_hooks=dict(
            logger=dict(interval=20),
            checkpoint=dict(interval=10, max_keep_ckpts=1))))


def tasks(benchmarks=('fgvc', 'vtab1k')):
    """``[(task_tag, benchmark, name, num_classes)]`` of the tasks."""
    out = []
    if 'fgvc' in benchmarks:
        out += [(f'fgvc-{name}', 'fgvc', name, num)
                for name, (num, _) in FGVC_DATASETS.items()]
    if 'vtab1k' in benchmarks:
        out += [(f'vtab1k-{task}', 'vtab1k', task, num)
                for task, num in VTAB1K_TASKS.items()]
    return out


def dataset_file(benchmark, name):
    loaders = ('train', 'val', 'test')
    if benchmark == 'fgvc':
        folder = FGVC_FOLDERS[name]
        values = dict(data_root=f'data/fgvc/{folder}')
        values.update({
            f'{loader}_dataloader':
            dict(dataset=dict(name=name, data_root=f'data/fgvc/{folder}'))
            for loader in loaders
        })
        return render(
            ['../fgvc.py'],
            Piece(
                values,
                comments=(
                    f'FGVC {name}: data/fgvc/{folder}/{{train,val,test}}.json '
                    'and its images.', )))
    return render(
        ['../vtab1k.py'],
        Piece(
            {
                f'{loader}_dataloader': dict(dataset=dict(task=name))
                for loader in loaders
            },
            comments=(f'VTAB-1k {name}: data/vtab-1k/{name}/*.txt.', )))


def recipe_file(m: Method, pretrain):
    model_file, model_desc = PRETRAINS[pretrain]
    piece = merge(
        Piece({}, comments=(f'{m.desc}; {model_desc}.', )), m.recipe(pretrain),
        RECIPE_RUNTIME)
    return render([
        f'../models/{model_file}', '../schedules/adamw_100e.py',
        '../default_runtime.py'
    ], piece)


def leaf_path(m: Method, method, pretrain, task_tag):
    return (f'configs/{m.family}/{method}/'
            f'{method}_{pretrain}_{task_tag}.py')


def leaf_file(m: Method, method, pretrain, task_tag, benchmark, name,
              num_classes):
    piece = merge(
        Piece(
            dict(model=dict(head=dict(num_classes=num_classes))),
            comments=(f'{m.desc.split(":")[0]}, {PRETRAINS[pretrain][1]}, '
                      f'{task_tag} ({num_classes} classes).', )),
        m.leaf(pretrain, benchmark, name, num_classes)
        if m.leaf else Piece({}))
    return render([
        f'../../_base_/recipes/{method}_{pretrain}.py',
        f'../../_base_/datasets/{benchmark}/{name}.py'
    ], piece)
