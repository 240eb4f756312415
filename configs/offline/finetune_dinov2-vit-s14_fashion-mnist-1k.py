# Offline table: full fine-tuning (every backbone parameter, no prompts) at
# the lower learning rate full fine-tuning needs.
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(num_prompts=0, frozen=False))
optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=0.05))
