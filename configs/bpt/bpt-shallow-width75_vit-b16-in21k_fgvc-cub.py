# Width ablation (BPT poster): BPT-shallow, width 75, 100 prompts,
# ViT-B/16 in21k, CUB-200.
_base_ = ['./bpt-shallow/bpt-shallow_vit-b16-in21k_fgvc-cub.py']
model = dict(backbone=dict(num_prompts=100, width=75))
