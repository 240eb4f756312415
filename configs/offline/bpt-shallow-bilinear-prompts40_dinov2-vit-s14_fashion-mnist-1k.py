# Offline table: BPT-Shallow bilinear with 40 prompts (the prompt-length
# ablation; 10 in bpt-shallow-bilinear).
_base_ = './bpt-shallow-bilinear_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(num_prompts=40))
