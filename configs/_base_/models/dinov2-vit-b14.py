# DINOv2 ViT-B/14 as a PromptViT: layer scale, patch 14 (224 px: 16 x 16
# patches; the 518 px position embedding is resized when loading), the CLS
# token after the final norm. ImageNet mean and std, as DINOv2.
# Weights: any DINOv2 format the converter reads, e.g. the DINOv2
# repository's release
#   wget https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth \
#        -O data/pretrained/dinov2_vitb14_pretrain.pth
# or HuggingFace's facebook/dinov2-base (model.safetensors). For the model
# with registers (dinov2_vitb14_reg4_pretrain.pth,
# facebook/dinov2-with-registers-base) add num_registers=4.
pretrained = 'data/pretrained/dinov2_vitb14_pretrain.pth'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmprompt.PromptViT',
        arch='dinov2-b',
        img_size=224,
        patch_size=14,
        layer_scale_init_value=1e-5,
        final_norm=True,
        out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(
        type='LinearClsHead',
        # num_classes: set by each recipe for its dataset
        in_channels=768,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
)
