# Offline table: SPT: VPT-Deep whose prompts start as k-means centres of the
# patch tokens entering each layer of the prompt-free model over 100 training
# images (SPTInitHook), instead of VPT's uniform init.
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(prompt_init='prototype'))
custom_hooks = [
    dict(type='mmprompt.SPTInitHook', method='kmeans',
         num_images=100),
]
