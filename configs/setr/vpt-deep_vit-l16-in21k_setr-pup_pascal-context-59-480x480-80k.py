# SETR-PUP, VPT-deep: 50 prompts in every layer of the frozen ViT-L/16.
_base_ = ['./_base_vit-l16-in21k_setr-pup_pascal-context-59-480x480-80k.py']
model = dict(backbone=dict(num_prompts=50, prompt_mode='deep'))
