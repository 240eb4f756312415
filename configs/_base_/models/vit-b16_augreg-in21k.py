# ViT-B/16 pretrained supervised on ImageNet-21k with AugReg ("How to train
# your ViT"), timm's vit_base_patch16_224.augreg_in21k: the backbone of the
# released DA-VPT code's vit-B configs (not VPT's original Google weights).
# Pooling: CLS token after the final norm. Get the file (timm layout,
# safetensors) from the timm/vit_base_patch16_224.augreg_in21k model card
# and save it as the path below (any format the converter reads works).
_base_ = './vit-b16_in21k.py'
pretrained = 'data/pretrained/vit_base_patch16_224.augreg_in21k.safetensors'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
