# Fashion-MNIST from Debian's dataset-fashion-mnist, gray -> RGB, resized.
# A fixed, class-balanced subset keeps the offline demo within ~20 minutes on
# 2 CPU cores; the same images for every method (seeded choice).
data_root = '/usr/share/datasets/fashion-mnist'
img_size = 84  # 6 x 6 patches of 14 px (3x the 28 px images)

data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=False,  # the three channels are the same gray image
)
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
    batch_size=32,
    num_workers=0,
    dataset=dict(
        type='mmprompt.FashionMNISTSubset',
        data_root=data_root,
        split='train',
        num_per_class=250,
        seed=0,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(
        type='mmprompt.FashionMNISTSubset',
        data_root=data_root,
        split='test',
        num_per_class=100,
        seed=0,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
