# Prompt-length ablation (BPT poster): BPT-shallow, 196 prompts, width 75,
# ViT-B/16 in21k, CUB-200.
_base_ = ['./bpt-shallow/bpt-shallow_vit-b16-in21k_fgvc-cub.py']
model = dict(backbone=dict(num_prompts=196, width=75))
