"""VFPT's recipe: VPT-deep whose prompts are half Fourier prompts, on the
24 tasks for every ViT pretraining.

The released code's defaults (runtsang/VFPT, ``src/configs/config.py``):
FOURIER_PERCENTAGE 0.5, FOURIER_DIMENSION 'all', FOURIER_LOCATION
'prepend', FOURIER_FIRST_LAYER on; its README's runs add DROPOUT 0.1. The
number of prompts and the Fourier share were tuned per task in the paper;
its per-task values are not released, so every task takes VPT's 50.
"""
from mmprompt.recipes import Method, fixed

VFPT_PROMPTS = dict(
    num_prompts=50,
    prompt_mode='deep',
    prompt_init='uniform',
    prompt_dropout=0.1,
    prompt_cfg=dict(
        type='mmprompt.FourierPrompt',
        fourier_ratio=0.5,
        fourier_dims='all',
        location='prepend'))
METHODS = {
    'vfpt-deep':
    Method(
        'vfpt', 'VFPT-deep: 50 prompts in every layer, the first 25 as the '
        'real part of their 2-D Fourier transform, backbone frozen',
        fixed(model=dict(backbone=VFPT_PROMPTS))),
}
# family -> (collection name, paper title, paper URL or None, code URL)
COLLECTIONS = {
    'vfpt':
    ('VFPT', 'Visual Fourier Prompt Tuning',
     'https://arxiv.org/abs/2411.01327', 'https://github.com/runtsang/VFPT'),
}
