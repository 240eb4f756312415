"""VPT's recipes: VPT-shallow, VPT-deep, the linear probe and full
fine-tuning (the VPT paper's four rows) on the 24 tasks, for every
pretraining."""
from mmprompt.recipes import PRETRAINS, Method, fixed

VPT_PROMPTS = dict(num_prompts=50, prompt_init='uniform', prompt_dropout=0.1)
METHODS = {
    'vpt-shallow':
    Method(
        'vpt',
        'VPT-shallow: 50 prompts before layer 0, backbone frozen',
        fixed(model=dict(backbone=dict(VPT_PROMPTS, prompt_mode='shallow'))),
        pretrains=tuple(PRETRAINS)),
    'vpt-deep':
    Method(
        'vpt',
        'VPT-deep: 50 prompts in every layer, backbone frozen',
        fixed(model=dict(backbone=dict(VPT_PROMPTS, prompt_mode='deep'))),
        pretrains=tuple(PRETRAINS)),
    'linear':
    Method(
        'vpt',
        'Linear probe: no prompts, backbone frozen, only the head trains',
        fixed(model=dict(backbone=dict(num_prompts=0, frozen=True))),
        pretrains=tuple(PRETRAINS)),
    'finetune':
    Method(
        'vpt',
        'Full fine-tuning: no prompts, every parameter trains',
        fixed(
            model=dict(
                backbone=dict(num_prompts=0, frozen=False,
                              drop_path_rate=0.1)),
            optim_wrapper=dict(
                optimizer=dict(lr=1e-4, weight_decay=0.05),
                paramwise_cfg=dict(
                    custom_keys={
                        'pos_embed': dict(decay_mult=0.),
                        'cls_token': dict(decay_mult=0.)
                    }))),
        pretrains=tuple(PRETRAINS)),
}
# family -> (collection name, paper title, paper URL or None, code URL)
COLLECTIONS = {
    'vpt': ('VPT', 'Visual Prompt Tuning', 'https://arxiv.org/abs/2203.12119',
            'https://github.com/KMnP/vpt'),
}
