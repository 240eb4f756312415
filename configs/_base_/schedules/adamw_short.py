# A short AdamW schedule for prompt tuning: linear warm-up, cosine decay.
max_epochs = 5
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-2, weight_decay=1e-4),
    # No weight decay on prompts' bias-like 1-D tensors and norms.
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-6,
         by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
