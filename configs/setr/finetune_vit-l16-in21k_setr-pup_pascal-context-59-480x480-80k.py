# SETR-PUP, full fine-tuning baseline: every ViT-L/16 parameter trains.
_base_ = ['./_base_vit-l16-in21k_setr-pup_pascal-context-59-480x480-80k.py']
model = dict(backbone=dict(frozen=False))
