# SPT-shallow: VPT-shallow (ViT-B/16 in21k, FGVC cub) with prompts initialised
# from k-means centres of the patch tokens entering each prompted layer of the
# prompt-free model over 100 training images (SPTInitHook).
_base_ = ['../vpt/vpt-shallow/vpt-shallow_vit-b16-in21k_fgvc-cub.py']
model = dict(backbone=dict(prompt_init='prototype'))
custom_hooks = [
    dict(type='mmprompt.SPTInitHook', method='kmeans',
         num_images=100, max_tokens=20000),
]
