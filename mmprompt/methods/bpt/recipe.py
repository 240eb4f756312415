"""BPT's recipes: the official scripts' per-dataset settings on FGVC, and
the ImageNet-1k data-fraction runs of the BPT poster."""
from typing import List, Optional, Tuple

from mmprompt.recipes import Method, Piece, head_weight_decay, render

# BPT's released scripts cover the three ViT-B/16 pretrainings only; the
# others take the supervised ImageNet-21k scripts.
BPT_SCRIPT_PRETRAIN = {
    'clip-vit-b16': 'vit-b16-in21k',
    'dinov2-vit-b14': 'vit-b16-in21k'
}

# ---------------------------------------------------------------- BPT
# The official scripts (WangYZ1608/BPT, script/{Sup-IN21K,MAE-IN1K,
# MoCo-IN1K}/<dataset>.sh): AdamW, batch 32, 100 epochs, 10 warm-up, cosine
# to 1e-8, weight decay on prompts and B, the head weight its own.
# (pretrain, mode) -> dataset -> (lr, weight decay, head weight decay,
# prompts, width). Shallow: 100 prompts; deep: 50 prompts of width 50 (the
# official README).
BPT_FGVC = {
    ('vit-b16-in21k', 'shallow'): {
        'cub': (5e-3, 0.1, 10.0, 100, 25),
        'nabirds': (1e-2, 5e-2, 5.0, 100, 75),
        'flowers': (1e-2, 5e-4, 10.0, 100, 75),
        'dogs': (5e-3, 1e-2, 3.0, 100, 75),
        'cars': (2e-2, 1e-2, 3.0, 100, 75),
    },
    ('vit-b16-mae', 'shallow'): {
        'cub': (5e-2, 5e-3, 0.5, 100, 75),
        'nabirds': (5e-2, 5e-3, 0.1, 100, 75),
        'flowers': (1e-1, 5e-3, 1.0, 100, 75),
        'dogs': (5e-2, 5e-3, 0.1, 100, 75),
        'cars': (5e-2, 2e-3, 0.1, 100, 75),
    },
    ('vit-b16-mae', 'deep'): {
        'cub': (5e-2, 5e-3, 0.5, 50, 50),
        'nabirds': (5e-2, 5e-3, 0.3, 50, 50),
        'dogs': (5e-2, 5e-3, 0.1, 50, 50),
        'cars': (5e-2, 5e-3, 0.1, 50, 50),
    },
    ('vit-b16-mocov3', 'shallow'): {
        'cub': (5e-2, 5e-3, 0.1, 100, 75),
        'nabirds': (5e-2, 1e-3, 0.05, 100, 75),
        'flowers': (5e-2, 1e-3, 0.05, 100, 75),
        'dogs': (5e-2, 2e-3, 0.1, 100, 75),
    },
    ('vit-b16-mocov3', 'deep'):
    {  # the official README's example
        'dogs': (5e-2, 2e-3, 0.1, 50, 50),
    },
}
BPT_DEEP_COUNTS = (50, 50)  # prompts, width


def bpt_settings(pretrain: str, mode: str,
                 dataset: str) -> Tuple[tuple, Optional[str]]:
    """``(lr, wd, head wd, prompts, width)`` of a BPT run and, where no
    official script has the cell, a sentence saying what stands in."""
    if pretrain in BPT_SCRIPT_PRETRAIN:
        script = BPT_SCRIPT_PRETRAIN[pretrain]
        settings, note = bpt_settings(script, mode, dataset)
        return settings, (f'BPT has no script for {pretrain}: the {script} ' +
                          (note if note else 'script of this dataset'))
    table = BPT_FGVC.get((pretrain, mode), {})
    if dataset in table:
        return table[dataset], None
    shallow = BPT_FGVC[(pretrain, 'shallow')]
    if mode == 'deep' and dataset in shallow:
        lr, wd, head_wd, _, _ = shallow[dataset]
        return (lr, wd, head_wd) + BPT_DEEP_COUNTS, (
            'no official deep script; the shallow script\'s lr and '
            'weight decays with the deep counts of the official README')
    # MoCo v3 Cars has no script at all: the Dogs (closest in size) one.
    lr, wd, head_wd, prompts, width = shallow['dogs']
    if mode == 'deep':
        prompts, width = BPT_DEEP_COUNTS
    return (lr, wd, head_wd, prompts, width), (
        f'no official script for {dataset}: the {pretrain} dogs settings')


def bpt_leaf(mode):

    def leaf(pretrain, benchmark, name, num_classes):
        (lr, wd, head_wd, prompts,
         width), note = bpt_settings(pretrain, mode, name)
        return Piece(
            dict(
                model=dict(backbone=dict(num_prompts=prompts, width=width)),
                optim_wrapper=dict(
                    optimizer=dict(lr=lr, weight_decay=wd),
                    **head_weight_decay(head_wd))),
            dict(optim_wrapper=[
                f"Settings: {note or 'the official script of this dataset'}."
            ]))

    return leaf


BPT_WHITENING_HOOK = dict(
    type='mmprompt.BPTWhiteningHook',
    num_images=100,
    eps=1e-5,
    qk_product='row_vector',
    average_images=False)
BPT_WHITENING_NOTE = [
    'Whitening from 100 training images through the frozen backbone:',
    "M_i = W_q W_k^T X_i^T in row-vector convention ('row_vector'; the",
    "official code multiplies the nn.Linear weights: 'transposed'), eps 1e-5."
]


def bpt_recipe(mode):

    def recipe(pretrain):
        # The official code initialises B from the whitening matrix for MAE
        # (always) and for deep prompts; shallow Sup/MoCo B is xavier.
        whitening = pretrain == 'vit-b16-mae' or mode == 'deep'
        backbone = dict(
            type='mmprompt.BilinearPromptViT',
            variant='bilinear',
            bilinear_init='whitening' if whitening else 'xavier')
        notes = []
        if whitening:
            backbone['bilinear_whitening_subset'] = 'per_column'
            notes += [
                "B from the whitening matrix with the released code's draw",
                '(column d of B: c entries of row d of W at its own random',
                'columns; seeded here' +
                ('; layer l takes the l-th draw, as the released layers' +
                 ' draw one after another).' if mode == 'deep' else ').')
            ]
        if mode == 'deep':
            backbone['trainable_factor_layers'] = (8, 9, 10, 11)
            notes += [
                'As the released deep training scripts: A trains in every',
                'layer, B only in layers 8-11.'
            ]
        backbone.update(prompt_mode=mode, prompt_dropout=0.)
        values = dict(model=dict(backbone=backbone))
        if whitening:
            values['custom_hooks'] = [BPT_WHITENING_HOOK]
        return Piece(values,
                     dict(model=notes, custom_hooks=BPT_WHITENING_NOTE))

    return recipe


# ---------------------------------------------------------------- ImageNet
# The BPT poster's ImageNet-1k runs: MAE ViT-B/16, 100 shallow prompts, on a
# fraction of the training set. The official script (WangYZ1608/BPT,
# script/MAE-IN1K/IN1K.sh): AdamW lr 0.1, weight decay 1e-3, batch 1024,
# 100 epochs, 10 warm-up; the head weight decay per data size is a comment
# there (100 % 1e-2, 30 % and 10 % 1e-1, 3 % and 1 % 5e-1); 50 %, not in
# it, takes the 30 % value.
IMAGENET_FRACTIONS = {
    0.01: 0.5,
    0.03: 0.5,
    0.1: 0.1,
    0.3: 0.1,
    0.5: 0.1,
    1.0: 0.01
}
# method -> (description, backbone arguments, whitening hook)
IMAGENET_METHODS = {
    'vpt-shallow':
    ('VPT-shallow: 100 prompts before layer 0',
     dict(num_prompts=100, prompt_mode='shallow',
          prompt_init='uniform'), False),
    'bpt-shallow-bilinear':
    ('BPT-bilinear: 100 shallow prompts P = A B of width 25, B from the '
     'whitening matrix (MAE, the official code\'s draw)',
     dict(
         type='mmprompt.BilinearPromptViT',
         variant='bilinear',
         width=25,
         bilinear_init='whitening',
         bilinear_whitening_subset='per_column',
         num_prompts=100,
         prompt_mode='shallow'), True),
    'bpt-shallow-fwhiten':
    ('BPT-fWhiten: 100 shallow prompts P = A W, W fixed',
     dict(
         type='mmprompt.BilinearPromptViT',
         variant='fwhiten',
         num_prompts=100,
         prompt_mode='shallow'), True),
    'bpt-shallow-twhiten':
    ('BPT-tWhiten: 100 shallow prompts P = A W, W tuned',
     dict(
         type='mmprompt.BilinearPromptViT',
         variant='twhiten',
         num_prompts=100,
         prompt_mode='shallow'), True),
}


def imagenet_recipe(method) -> Tuple[List[str], Piece]:
    desc, backbone, whitening = IMAGENET_METHODS[method]
    values = dict(model=dict(backbone=backbone, head=dict(num_classes=1000)))
    if whitening:
        values['custom_hooks'] = [BPT_WHITENING_HOOK]
    values.update(
        optim_wrapper=dict(optimizer=dict(lr=0.1, weight_decay=1e-3)),
        auto_scale_lr=dict(base_batch_size=1024),
        default_hooks=dict(
            logger=dict(interval=100),
            checkpoint=dict(interval=10, max_keep_ckpts=1)))
    return [
        '../models/vit-b16_mae.py', '../datasets/imagenet1k_subset.py',
        '../schedules/adamw_100e.py', '../default_runtime.py'
    ], Piece(values, dict(custom_hooks=BPT_WHITENING_NOTE),
             (f'{desc}; ViT-B/16 MAE, ImageNet-1k (official BPT IN1K '
              'script).', ))


def imagenet_leaf(method, fraction) -> Tuple[List[str], Piece]:
    pct = round(fraction * 100)
    return [f'../_base_/recipes/{method}_vit-b16-mae_in1k.py'], Piece(
        dict(
            train_dataloader=dict(dataset=dict(fraction=fraction)),
            optim_wrapper=head_weight_decay(IMAGENET_FRACTIONS[fraction])),
        comments=(f'{IMAGENET_METHODS[method][0].split(":")[0]}, ViT-B/16 '
                  f'MAE, {pct} % of the ImageNet-1k training set '
                  '(class-balanced, seed 0).', ))


METHODS = {
    'bpt-shallow':
    Method(
        'bpt', 'BPT-shallow: bilinear prompts P = A B before layer 0, '
        'backbone frozen', bpt_recipe('shallow'), ('fgvc', ),
        bpt_leaf('shallow')),
    'bpt-deep':
    Method(
        'bpt', 'BPT-deep: bilinear prompts P = A B in every layer, '
        'backbone frozen', bpt_recipe('deep'), ('fgvc', ), bpt_leaf('deep')),
}
COLLECTIONS = {
    'bpt': ('BPT', 'Attention to the Burstiness in Visual Prompt Tuning', None,
            'https://github.com/WangYZ1608/BPT'),
    'imagenet': ('BPT-ImageNet', 'Attention to the Burstiness in Visual '
                 'Prompt Tuning (ImageNet-1k with data fractions)', None,
                 'https://github.com/WangYZ1608/BPT'),
}


def extra_files():
    """The ImageNet-1k recipes and their data-fraction leaves."""
    files = {}
    for method in IMAGENET_METHODS:
        files[f'configs/_base_/recipes/{method}_vit-b16-mae_in1k.py'] = \
            render(*imagenet_recipe(method))
        for fraction in IMAGENET_FRACTIONS:
            files[f'configs/imagenet/{method}_vit-b16-mae_in1k-'
                  f'{round(fraction * 100)}pct.py'] = render(
                      *imagenet_leaf(method, fraction))
    return files
