# CLIP ViT-B/16 (OpenAI) as a PromptViT: norm before layer 0 (pre_norm,
# and no patch-embedding bias), QuickGELU, LayerNorm eps 1e-5, the CLS token
# after the final norm (CLIP's ln_post). CLIP's projection into the joint
# image-text space is left out (projection_dims=None), as prompt tuning
# does. Images are normalised with CLIP's mean and std.
# Weights: any CLIP format the converter reads, e.g. OpenAI's TorchScript
# release
#   wget https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt \
#        -O data/pretrained/clip-vit-b16.pt
# or HuggingFace's openai/clip-vit-base-patch16 (model.safetensors), or
# open_clip's ViT-B-16 weights.
pretrained = 'data/pretrained/clip-vit-b16.pt'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        to_rgb=True),
    backbone=dict(
        type='mmprompt.PromptViT',
        arch='clip-b',
        img_size=224,
        patch_size=16,
        pre_norm=True,
        norm_cfg=dict(type='LN', eps=1e-5),
        layer_cfgs=dict(act_cfg=dict(type='mmpretrain.QuickGELU')),
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
