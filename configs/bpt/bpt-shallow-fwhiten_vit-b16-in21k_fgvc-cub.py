# BPT-fWhiten: P = A W with W the layer's whitening matrix, fixed (a buffer);
# shallow, 100 prompts, ViT-B/16 in21k, CUB-200 (the official CUB script's
# optimiser). W from 100 training images through the frozen backbone,
# M_i = W_q W_k^T X_i^T in row-vector convention, eps 1e-5.
_base_ = ['./bpt-shallow/bpt-shallow_vit-b16-in21k_fgvc-cub.py']
model = dict(backbone=dict(variant='fwhiten', num_prompts=100))
custom_hooks = [
    dict(type='mmprompt.BPTWhiteningHook', num_images=100, eps=1e-5,
         qk_product='row_vector', average_images=False),
]
