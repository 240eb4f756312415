# SETR-PUP, BPT-shallow: 100 bilinear prompts of width 75 (xavier B),
# frozen ViT-L/16.
_base_ = ['./_base_vit-l16-in21k_setr-pup_pascal-context-59-480x480-80k.py']
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='bilinear',
                  width=75, num_prompts=100, prompt_mode='shallow'))
