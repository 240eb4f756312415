"""DA-VPT's recipes: DA-VPT and DA-VPT+ with the released code's defaults
on the 24 tasks, and the 61 per-dataset configs the released code ships
(:mod:`.released_configs`), each as a leaf of configs/davpt/released/."""
from typing import List, Tuple

from mmprompt.datasets.fgvc import FGVC_DATASETS
from mmprompt.datasets.vtab1k import VTAB1K_TASKS
from mmprompt.recipes import Method, Piece, head_weight_decay, render
from .released_configs import COMMON as DAVPT_RELEASED_COMMON
from .released_configs import RELEASED as DAVPT_RELEASED

# ---------------------------------------------------------------- DA-VPT
# The released code's defaults (Noahsark/DA-VPT params.py; its per-dataset
# configs are not public): 20 prompts per layer, 10 in the guided (last)
# layer, or one per class where a task has fewer classes; AdamW lr 1e-3,
# weight decay 1e-2, head weight decay 3.0, gradient values clipped at 10;
# k = 10 images per class for the first mapping. Loss weights: the released
# classification default is 0 (the loss off); 0.05 for both is the released
# segmentation default, the only non-zero one it ships.
DAVPT = dict(
    prompts=20,
    guided_prompts=10,
    lr=1e-3,
    weight_decay=1e-2,
    head_weight_decay=3.0,
    beta=0.05,
    lam=0.05)
# DA-VPT+: the K and V thirds of every fused qkv bias train too
KV_BIAS_RULE = dict(name=r'layers\.\d+\.attn\.qkv\.bias', rows=(768, None))


def davpt_recipe(plus: bool):

    def recipe(pretrain):
        d = DAVPT
        backbone = dict(
            num_prompts=[d['prompts']] * 11 + [d['guided_prompts']],
            prompt_mode='deep',
            prompt_init='uniform',
            prompt_dropout=0.)
        if plus:
            backbone['trainable_params'] = [KV_BIAS_RULE]
        return Piece(
            dict(
                model=dict(
                    type='mmprompt.DAVPTClassifier',
                    backbone=backbone,
                    guided_layer=-1,
                    anchor_source='paper',
                    beta=d['beta'],
                    lam=d['lam']),
                optim_wrapper=dict(
                    optimizer=dict(lr=d['lr'], weight_decay=d['weight_decay']),
                    clip_grad=dict(type='value', clip_value=10.),
                    **head_weight_decay(d['head_weight_decay'])),
                custom_hooks=[
                    dict(
                        type='mmprompt.DAVPTMappingHook',
                        num_images_per_class=10,
                        start_epoch=1)
                ]),
            dict(model=[
                'DA-VPT+: the K and V thirds of every fused qkv bias train '
                'too.'
            ] if plus else []))

    return recipe


def davpt_leaf(pretrain, benchmark, name, num_classes):
    # Fewer classes than guided prompts: one prompt per class (as the
    # released code does).
    if num_classes >= DAVPT['guided_prompts']:
        return Piece({})
    return Piece(
        dict(
            model=dict(
                backbone=dict(num_prompts=[DAVPT['prompts']] * 11 +
                              [num_classes]))))


# the released model_name -> (pretraining tag, base model file, note)
DAVPT_RELEASED_PRETRAINS = {
    'vit-B': ('vit-b16-augreg-in21k', 'vit-b16_augreg-in21k.py',
              "timm's vit_base_patch16_224.augreg_in21k"),
    'mae-B': ('vit-b16-mae', 'vit-b16_mae.py',
              "MAE's ViT-B/16 (timm's vit_base_patch16_224.mae)"),
    'moco-B': ('vit-b16-mocov3', 'vit-b16_mocov3.py',
               'MoCo v3 ViT-B/16 300 epochs (the released code loads the '
               'linear-probe file linear-vit-b-300ep.pth.tar: the same '
               'frozen encoder)'),
}
# the released dataset names that differ from mmprompt's
DAVPT_RELEASED_TASKS = {'retinopathy': 'diabetic_retinopathy'}
VIT_B_DIMS, VIT_B_DEPTH = 768, 12


def released_task(dataset):
    """``(task_tag, benchmark, name, num_classes)`` of a released dataset."""
    name = DAVPT_RELEASED_TASKS.get(dataset, dataset)
    if name in FGVC_DATASETS:
        return f'fgvc-{name}', 'fgvc', name, FGVC_DATASETS[name][0]
    return f'vtab1k-{name}', 'vtab1k', name, VTAB1K_TASKS[name]


def released_bias_rules(v):
    """``trainable_params`` of a released bias set. The released code
    matches parameter names by their last parts, so ``proj.bias`` also
    unfreezes the patch embedding's bias."""
    rules = []
    q, k, vv = v['bias_q'], v['bias_k'], v['bias_v']
    if q and not k and vv:
        raise ValueError('bias_q and bias_v without bias_k are no row range')
    first = 0 if q else (1 if k else (2 if vv else None))
    last = 3 if vv else (2 if k else (1 if q else None))
    if first is not None:
        rows = (first * VIT_B_DIMS, None if last == 3 else last * VIT_B_DIMS)
        rules.append(dict(name=r'layers\.\d+\.attn\.qkv\.bias', rows=rows))
    if v['bias_proj']:
        rules += [
            r'layers\.\d+\.attn\.proj\.bias', r'patch_embed\.projection\.bias'
        ]
    if v['bias_fc2']:
        rules.append(r'layers\.\d+\.ffn\.layers\.1\.bias')
    if v['bias_norm2']:
        rules.append(r'layers\.\d+\.ln2\.bias')
    if v['norm_norm1']:
        rules.append(r'layers\.\d+\.ln1\.(weight|bias)')
    if v['train_cls']:
        rules.append('cls_token')
    return rules


def released_prompt_layout(v, num_classes):
    """Per-layer prompt counts and uniform init bounds of a released
    config: ``proxy_prompt_len`` prompts (one per class when there are
    fewer classes) in the guided layers ``proxy_prompt_start_idx`` ..
    ``proxy_prompt_end_idx``, ``num_prompts`` elsewhere; each group is
    initialised as the released ``xavier_uniform_`` of a (layers, prompts,
    D) tensor (bound sqrt(6 / ((prompts + layers) D))), divided by 8 with
    ``init_divide_by8``."""
    guided = list(
        range(v['proxy_prompt_start_idx'],
              min(v['proxy_prompt_end_idx'], VIT_B_DEPTH - 1) + 1))
    m = min(v['proxy_prompt_len'], num_classes)
    others = VIT_B_DEPTH - len(guided)
    divider = 8. if v['init_divide_by8'] else 1.

    def bound(prompts, layers):
        return (6. / ((prompts + layers) * VIT_B_DIMS))**0.5 / divider

    return guided, m, bound(m, len(guided)), bound(v['num_prompts'], others)


def davpt_released_recipe(pretrain_tag) -> Tuple[List[str], Piece]:
    model_name = next(k for k, (tag, _, _) in DAVPT_RELEASED_PRETRAINS.items()
                      if tag == pretrain_tag)
    _, model_file, note = DAVPT_RELEASED_PRETRAINS[model_name]
    backbone = dict(prompt_mode='deep', prompt_dropout=0.)
    notes = [
        "cls_type 'query', proxies the raw prompts, patches the block "
        'input.'
    ]
    if model_name == 'mae-B':
        backbone.update(final_norm=True, out_type='avg_all_tokens')
        notes.append('The released MAE pooling: final norm, then the mean of '
                     'prompts and patches.')
    return [f'../models/{model_file}', '../default_runtime.py'], Piece(
        dict(
            model=dict(
                type='mmprompt.DAVPTClassifier',
                backbone=backbone,
                anchor_source='released'),
            optim_wrapper=dict(
                type='OptimWrapper',
                optimizer=dict(type='AdamW', betas=(0.9, 0.999)),
                clip_grad=dict(type='value', clip_value=10.),
                paramwise_cfg=dict(
                    bias_decay_mult=0., norm_decay_mult=0.,
                    flat_decay_mult=0.)),
            train_cfg=dict(by_epoch=True, val_interval=1),
            val_cfg=dict(),
            test_cfg=dict(),
            default_hooks=dict(
                logger=dict(interval=20),
                checkpoint=dict(interval=10, max_keep_ckpts=1))),
        dict(
            model=notes,
            optim_wrapper=[
                'fp16: true in every released config: train with --amp on '
                'a GPU.', 'No weight decay on biases and 1-D tensors '
                '(open_bias_decay and open_weight_decay: false).'
            ]), ('DA-VPT as the released code runs it (what every one of '
                 f'its configs shares); backbone: {note}.', ))


def davpt_released_leaf(name, values) -> Tuple[List[str], Piece]:
    v = dict(DAVPT_RELEASED_COMMON, **values)
    pretrain_tag = DAVPT_RELEASED_PRETRAINS[v['model_name']][0]
    task_tag, benchmark, task, num_classes = released_task(v['dataset'])
    guided, m, guided_bound, other_bound = released_prompt_layout(
        v, num_classes)
    if v['vpt_norm'] not in ('none', 'l2'):
        raise ValueError(f"{name}: vpt_norm={v['vpt_norm']!r}")
    first = guided[0]

    def tokens(bound):
        cfg = dict(
            type='mmprompt.PromptTokens', init='uniform', uniform_bound=bound)
        if v['vpt_norm'] == 'l2':
            cfg['l2_normalize'] = True
        return cfg

    counts = [v['num_prompts']] * first + [m] * len(guided)
    backbone = dict(
        num_prompts=counts if first else m,
        prompt_cfg=[tokens(other_bound)] * first +
        [tokens(guided_bound)] * len(guided))
    if v['drop_path'] > 0:
        backbone.update(drop_path_rate=v['drop_path'], frozen_eval=False)
    if v['mask']:
        backbone['prompts_see_patches_only'] = True
    backbone['trainable_params'] = released_bias_rules(v)
    mapping_hook = dict(
        type='mmprompt.DAVPTMappingHook',
        num_images_per_class=10,
        start_epoch=v['dynamic_kmeans'] + 1,
        feature_norm='layer')
    notes = dict(param_scheduler=[
        "timm's cosine with warm-up, stepped per update "
        '(sched_on_updates: true).'
    ])
    if v['model_name'] == 'mae-B':
        mapping_hook['first_pooling'] = 'norm_of_mean'
        notes['custom_hooks'] = [
            'The released first mapping of MAE pools, then norms',
            '(create_vit with global_pool); its training forward norms, '
            'then pools.'
        ]
    return [
        f'../../_base_/recipes/davpt-released_{pretrain_tag}.py',
        f'../../_base_/datasets/{benchmark}/{task}.py'
    ], Piece(
        dict(
            model=dict(
                backbone=backbone,
                head=dict(num_classes=num_classes),
                guided_layer=guided[0] if len(guided) == 1 else guided,
                beta=v['vpt_loss_weight'],
                lam=v['cls_loss_weight'],
                metric_loss=dict(
                    type='mmprompt.DAVPTLoss',
                    positive_mean='all',
                    proxy_scale=v['loss_vpt_scale_ratio'])),
            optim_wrapper=dict(
                optimizer=dict(lr=v['lr'], weight_decay=v['weight_decay']),
                **head_weight_decay(v['wd_head'])),
            param_scheduler=dict(
                type='mmprompt.WarmupCosineLR',
                warmup=v['warmup_epochs'],
                total=v['epochs'],
                warmup_value=v['warmup_lr'],
                eta_min=v['min_lr'],
                by_epoch=True,
                convert_to_iter_based=True),
            train_cfg=dict(
                max_epochs=v['epochs'], val_begin=v['eval_after'] + 1),
            train_dataloader=dict(
                batch_size=v['batch_size'],
                batch_sampler=dict(
                    type='mmprompt.ClassSampledBatchSampler',
                    samples_per_class=v['samples_per_class'])),
            custom_hooks=[mapping_hook]), notes,
        (f'DA-VPT, the released config {name}.yaml, values only '
         f'({num_classes} classes).', ))


def davpt_released_files():
    files = {}
    tags = sorted({
        DAVPT_RELEASED_PRETRAINS[dict(DAVPT_RELEASED_COMMON,
                                      **v)['model_name']][0]
        for v in DAVPT_RELEASED.values()
    })
    for tag in tags:
        files[f'configs/_base_/recipes/davpt-released_{tag}.py'] = render(
            *davpt_released_recipe(tag))
    for name, values in DAVPT_RELEASED.items():
        v = dict(DAVPT_RELEASED_COMMON, **values)
        task_tag = released_task(v['dataset'])[0]
        tag = DAVPT_RELEASED_PRETRAINS[v['model_name']][0]
        files[f'configs/davpt/released/davpt-released_{tag}_{task_tag}.py'] \
            = render(*davpt_released_leaf(name, values))
    return files


METHODS = {
    'davpt':
    Method(
        'davpt', 'DA-VPT: VPT-deep with metric-guided prompts in the last '
        'layer',
        davpt_recipe(plus=False),
        leaf=davpt_leaf),
    'davpt-plus':
    Method(
        'davpt',
        'DA-VPT+: DA-VPT that also tunes the K and V biases',
        davpt_recipe(plus=True),
        leaf=davpt_leaf),
}
COLLECTIONS = {
    'davpt':
    ('DA-VPT', 'DA-VPT: Semantic-Guided Visual Prompt Tuning for '
     'Vision Transformers', None, 'https://github.com/Noahsark/DA-VPT'),
}


def extra_files():
    """The released per-dataset configs."""
    return davpt_released_files()
