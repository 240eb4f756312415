# Offline table: BPT-Shallow bilinear: the 10 prompts before layer 0 made as
# A (10 x 25) @ B (25 x 384), B from whitening rows
# (whitening from 100 training images before training).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='bilinear',
                  prompt_mode='shallow', width=25,
                  bilinear_init='whitening'))
custom_hooks = [
    dict(type='mmprompt.BPTWhiteningHook', num_images=100, eps=1e-5),
]
