"""The config generator's values: each method folder's ``recipe.py`` says
what its configs set, and :mod:`.generate` writes every file
(``python tools/gen_configs.py``)."""
from .benchmarks import (FGVC_FOLDERS, PRETRAINS, RECIPE_RUNTIME,
                         VIT_PRETRAINS, Method, dataset_file, fixed, leaf_file,
                         leaf_path, recipe_file, tasks)
from .render import HEADER, Piece, head_weight_decay, merge, render, source

__all__ = [
    'FGVC_FOLDERS', 'PRETRAINS', 'RECIPE_RUNTIME', 'VIT_PRETRAINS', 'Method',
    'dataset_file', 'fixed', 'leaf_file', 'leaf_path', 'recipe_file', 'tasks',
    'HEADER', 'Piece', 'head_weight_decay', 'merge', 'render', 'source'
]
