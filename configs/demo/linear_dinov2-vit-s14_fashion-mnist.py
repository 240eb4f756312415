# The linear probe of the demo: the same frozen backbone, data and schedule,
# no prompts; only the head trains.
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist.py'
model = dict(backbone=dict(num_prompts=0))
