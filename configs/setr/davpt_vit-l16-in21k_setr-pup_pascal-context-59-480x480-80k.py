# SETR-PUP, DA-VPT: VPT-deep (20 prompts per layer, 10 in the guided last
# layer, the released defaults) with the metric losses; an image's class is
# the dominant label of its mask (ignore index excluded). Re-mapping every
# 312 iterations: one epoch (4,996 images / batch 16). beta = lambda = 0.05,
# the released segmentation defaults.
_base_ = ['./_base_vit-l16-in21k_setr-pup_pascal-context-59-480x480-80k.py']
model = dict(
    type='mmprompt.DAVPTEncoderDecoder',
    backbone=dict(num_prompts=[20] * 23 + [10], prompt_mode='deep'),
    guided_layer=-1,
    beta=0.05,
    lam=0.05)
custom_hooks = [
    dict(type='mmprompt.DAVPTMappingHook', num_images_per_class=10,
         interval_iters=312),
]
