# Swin-B (window 7, 224 px) pretrained on ImageNet-22k, as a PromptSwin
# (VPT's prompted Swin). Pooling: mean of the last stage's patch tokens
# after its norm (prompts excluded), mmpretrain's GlobalAveragePooling.
# Weights: the official Swin-B ImageNet-22k release (the file VPT uses,
# github.com/microsoft/Swin-Transformer). mmprompt's converter reads it as
# it is; timm's and mmpretrain's checkpoints (`swin-base_3rdparty_in21k`)
# work too: point `pretrained` at them.
pretrained = 'data/pretrained/swin_base_patch4_window7_224_22k.pth'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmprompt.PromptSwin',
        arch='base',
        img_size=224,
        window_size=7,
        drop_path_rate=0.,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        # num_classes: set by each recipe for its dataset
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
)
