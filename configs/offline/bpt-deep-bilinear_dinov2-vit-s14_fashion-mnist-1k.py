# Offline table: BPT-Deep bilinear: bilinear prompts A (10 x 25) @ B (25 x
# 384) per layer, B initialised from whitening rows
# (whitening from 100 training images before training).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='bilinear',
                  width=25, bilinear_init='whitening'))
custom_hooks = [
    dict(type='mmprompt.BPTWhiteningHook', num_images=100, eps=1e-5),
]
