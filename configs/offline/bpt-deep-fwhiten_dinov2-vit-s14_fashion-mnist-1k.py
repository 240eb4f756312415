# Offline table: BPT-Deep fwhiten: prompts A @ W with W the layer's fixed
# whitening matrix
# (whitening from 100 training images before training).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='fwhiten'))
custom_hooks = [
    dict(type='mmprompt.BPTWhiteningHook', num_images=100, eps=1e-5),
]
