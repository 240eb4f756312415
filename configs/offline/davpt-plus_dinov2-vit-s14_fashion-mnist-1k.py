# Offline table: DA-VPT+: DA-VPT plus the K and V thirds of every fused qkv
# bias (384 rows each of the 12 layers).
_base_ = './davpt_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(backbone=dict(trainable_params=[
    dict(name=r'layers\.\d+\.attn\.qkv\.bias', rows=(384, None))]))
