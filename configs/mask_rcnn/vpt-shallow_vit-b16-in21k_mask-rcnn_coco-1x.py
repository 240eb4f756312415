# mask-rcnn, VPT-shallow: 50 prompts before layer 0, frozen ViT-B/16.
_base_ = ['./_base_vit-b16-in21k_mask-rcnn_coco-1x.py']
model = dict(backbone=dict(num_prompts=50, prompt_mode='shallow'))
