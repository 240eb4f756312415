# Offline table: DA-VPT: VPT-Deep plus the two metric losses on the last
# layer's prompts (beta = lambda = 0.05, the released default) and the
# class-to-prompt re-mapping every epoch (k-means, 10 images per class).
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
model = dict(
    type='mmprompt.DAVPTClassifier',
    guided_layer=-1, anchor_source='paper', beta=0.05, lam=0.05)
custom_hooks = [
    dict(type='mmprompt.DAVPTMappingHook', num_images_per_class=10,
         start_epoch=1),
]
