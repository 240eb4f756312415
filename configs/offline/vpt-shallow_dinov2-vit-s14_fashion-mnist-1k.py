# Offline table: VPT-Shallow (10 prompts enter before the first layer).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(prompt_mode='shallow'))
