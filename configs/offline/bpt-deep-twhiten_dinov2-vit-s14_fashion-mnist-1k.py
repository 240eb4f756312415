# Offline table: BPT-Deep twhiten: prompts A @ W with W initialised to the
# whitening matrix and tuned
# (whitening from 100 training images before training).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='twhiten'))
custom_hooks = [
    dict(type='mmprompt.BPTWhiteningHook', num_images=100, eps=1e-5),
]
