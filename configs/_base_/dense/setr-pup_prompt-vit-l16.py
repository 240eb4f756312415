# SETR-PUP on a frozen PromptViT-L/16 (ImageNet-21k): mmseg's SETR-PUP model
# (decode SETRUPHead on layer 23, three auxiliary SETRUPHeads on layers 9,
# 14, 19, as mmseg's setr_vit-l_pup ADE20K config) with the backbone replaced;
# featmap outputs strip the prompt tokens. Prompts: none here; the method
# leaves set them. Heads: 150 classes (ADE20K); other datasets override.
_base_ = 'mmseg::_base_/models/setr_pup.py'
custom_imports = dict(imports=['mmprompt'], allow_failed_imports=False)
# Google's ViT-L/16 ImageNet-21k weights (any format the converter reads):
#   wget https://storage.googleapis.com/vit_models/imagenet21k/ViT-L_16.npz \
#        -O data/pretrained/ViT-L_16_imagenet21k.npz
pretrained = 'data/pretrained/ViT-L_16_imagenet21k.npz'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmprompt.PromptViT',
        arch='l',
        img_size=512,
        patch_size=16,
        num_prompts=0,
        out_indices=(9, 14, 19, 23),
        out_type='featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=150),
    auxiliary_head=[
        dict(
            type='SETRUPHead',
            in_channels=1024,
            channels=256,
            in_index=i,
            num_classes=150,
            dropout_ratio=0,
            norm_cfg=norm_cfg,
            act_cfg=dict(type='ReLU'),
            num_convs=2,
            kernel_size=3,
            align_corners=False,
            loss_decode=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4))
        for i in range(3)
    ],
)
custom_hooks = []
