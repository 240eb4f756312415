# Offline table: VPT-Deep trained from the start with the token count Prompt
# Condensation keeps (3 per layer, 36 in all: 30 % of 120).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(num_prompts=3))
