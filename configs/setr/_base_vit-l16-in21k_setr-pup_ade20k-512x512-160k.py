# SETR-PUP, frozen PromptViT-L/16, ADE20K 512x512, 160k iterations (mmseg's
# SETR-PUP ADE20K recipe: SGD lr 1e-3, heads at 10x, batch 16 = 8 GPUs x 2).
_base_ = [
    '../_base_/dense/setr-pup_prompt-vit-l16.py',
    'mmseg::_base_/datasets/ade20k.py', 'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py'
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
optim_wrapper = dict(
    optimizer=dict(lr=0.001, weight_decay=0.0),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
# The hooks every mmprompt run needs (mmprompt.engine.RUN_HOOKS), merged
# into the downstream library's default_hooks.
default_hooks = dict(
    checkpoint=dict(type='mmprompt.AtomicCheckpointHook'),
    random_state=dict(type='mmprompt.RandomStateHook'),
    trainable_params=dict(type='mmprompt.TrainableParamsHook'))
