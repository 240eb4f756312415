# Offline table: BPT-Shallow twhiten: the 10 prompts before layer 0 made as
# A @ W, W the layer's whitening matrix (tuned)
# (whitening from 100 training images before training).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='twhiten',
                  prompt_mode='shallow'))
custom_hooks = [
    dict(type='mmprompt.BPTWhiteningHook', num_images=100, eps=1e-5),
]
