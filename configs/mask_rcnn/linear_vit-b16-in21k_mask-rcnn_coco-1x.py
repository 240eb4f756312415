# mask-rcnn, linear-probe baseline: frozen ViT-B/16 without prompts; the
# pyramid and the heads train.
_base_ = ['./_base_vit-b16-in21k_mask-rcnn_coco-1x.py']
