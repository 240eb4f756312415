# SETR-PUP, frozen PromptViT-L/16, PASCAL Context-59 480x480, 80k iterations
# (the ADE20K recipe's model and optimiser on mmseg's Context-59 data).
_base_ = [
    '../_base_/dense/setr-pup_prompt-vit-l16.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py'
]
crop_size = (480, 480)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=480),
    decode_head=dict(num_classes=59),
    auxiliary_head=[
        dict(head, num_classes=59) for head in _base_.model.auxiliary_head
    ],
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(320, 320)))
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
