# Offline table: the methods composed in one config: BPT-Deep bilinear
# prompts, DA-VPT's guidance of the last layer (metric losses and the
# class-to-prompt mapping) and Prompt Condensation to 30 % after 2 epochs,
# the guided layer kept whole (its prompts are what the classes map to).
_base_ = './davpt_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='bilinear',
                  width=25, bilinear_init='whitening'))
custom_hooks = [
    dict(type='mmprompt.BPTWhiteningHook', num_images=100, eps=1e-5),
    dict(type='mmprompt.DAVPTMappingHook', num_images_per_class=10,
         start_epoch=1),
    dict(type='mmprompt.PromptCondensationHook', keep_ratio=0.3,
         score='taylor', num_batches=10, at_epoch=2, keep_layers=[-1]),
]
