# BPT-tWhiten: as BPT-fWhiten, with W a parameter initialised to the
# whitening matrix (tuned with the prompts).
_base_ = ['./bpt-shallow-fwhiten_vit-b16-in21k_fgvc-cub.py']
model = dict(backbone=dict(variant='twhiten'))
