# mask-rcnn, BPT-shallow: 100 bilinear prompts of width 75 (xavier B), frozen
# ViT-B/16.
_base_ = ['./_base_vit-b16-in21k_mask-rcnn_coco-1x.py']
model = dict(
    backbone=dict(type='mmprompt.BilinearPromptViT', variant='bilinear',
                  width=75, num_prompts=100, prompt_mode='shallow'))
