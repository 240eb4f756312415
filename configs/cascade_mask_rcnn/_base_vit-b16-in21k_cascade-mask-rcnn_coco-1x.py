# Cascade Mask R-CNN on COCO instance segmentation (mmdet's 1x schedule, 1333x800)
# with a frozen prompted ViT-B/16 and a simple feature pyramid; the leaves
# choose the prompts.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/dense/prompt-vit-b16_simple-pyramid.py',
]
model = dict(backbone={{_base_.vit_backbone}}, neck={{_base_.vit_neck}})
optim_wrapper = {{_base_.vit_optim_wrapper}}
custom_hooks = []
# The hooks every mmprompt run needs (mmprompt.engine.RUN_HOOKS), merged
# into the downstream library's default_hooks.
default_hooks = dict(
    checkpoint=dict(type='mmprompt.AtomicCheckpointHook'),
    random_state=dict(type='mmprompt.RandomStateHook'),
    trainable_params=dict(type='mmprompt.TrainableParamsHook'))
