# Offline table: BPT-Shallow bilinear of width 10 (the width ablation; 25 in
# bpt-shallow-bilinear).
_base_ = './bpt-shallow-bilinear_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(width=10))
