# SETR-PUP, linear baseline: frozen ViT-L/16 without prompts; the heads
# train.
_base_ = ['./_base_vit-l16-in21k_setr-pup_ade20k-512x512-160k.py']
