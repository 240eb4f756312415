# Offline table: linear probe (no prompts; only the head trains).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(num_prompts=0))
