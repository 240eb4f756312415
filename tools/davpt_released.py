"""The 61 configs the released DA-VPT code ships (Noahsark/DA-VPT,
``configs/fgvc/*.yaml`` and ``configs/vtab/*.yaml``), as the values its
training script runs with: ``tools/gen_configs.py`` writes one leaf per entry
under ``configs/davpt/released/`` (``configs/davpt/README.md`` maps every
option to its mmprompt field).

Values only. Each entry holds the options that differ from :data:`COMMON`;
both hold what the released loader (``params.update_args_from_file_colon``)
leaves in ``args``: keys that are no argument of its parser are skipped
(``query_cls_emb``, ``key_vpt_emb``, ``topk``, ``select_type``,
``proxy_prompt_depth``, ``vpt_and_cls_loss_weight`` ...), absent keys keep
the parser's default, and a value is cast to the type of that default, so
``early_stop_thr: 0.85`` (an int default, -1) stays -1: early stopping is
off in every released config, and is not in this table.
"""


COMMON = dict(
    model_name='moco-B',
    num_prompts=5,
    proxy_prompt_len=10,
    proxy_prompt_start_idx=11,
    proxy_prompt_end_idx=11,
    lr=0.005,
    weight_decay=0.05,
    wd_head=0.5,
    min_lr=1e-09,
    warmup_lr=1e-08,
    warmup_epochs=10,
    epochs=100,
    batch_size=32,
    drop_path=0.1,
    vpt_loss_weight=0.01,
    cls_loss_weight=0.01,
    loss_vpt_scale_ratio=5.0,
    kmeans_norm='layer',
    dynamic_kmeans=10,
    vpt_norm='none',
    init_divide_by8=True,
    mask=False,
    train_cls=True,
    bias_q=False,
    bias_k=False,
    bias_v=True,
    bias_proj=True,
    bias_fc2=True,
    bias_norm2=True,
    norm_norm1=True,
    class_sampler=True,
    samples_per_class=2,
    eval_after=80,
    open_bias_decay=False,
    open_weight_decay=False,
    fp16=True,
    initial_mapping='kmeans',
    criterion='proxyanchor',
    sched_on_updates=True,
    cls_type='query',
    vpt_type_for_cls_ml='vpt',
    vpt_type_for_patch_ml='vpt',
    proxy_vpt=True,
)

# released file (configs/<name>.yaml) -> the values that differ from COMMON
RELEASED = {
    'fgvc/mae_birds': dict(
        dataset='nabirds', model_name='mae-B', num_prompts=10,
        proxy_prompt_len=20, proxy_prompt_start_idx=8, weight_decay=0.01,
        drop_path=0.0, vpt_loss_weight=0.05, cls_loss_weight=0.05,
        dynamic_kmeans=1, init_divide_by8=False, mask=True, train_cls=False,
        norm_norm1=False),
    'fgvc/mae_cars': dict(
        dataset='cars', model_name='mae-B', num_prompts=15,
        proxy_prompt_len=15, proxy_prompt_start_idx=4, wd_head=0.1,
        drop_path=0.0, cls_loss_weight=0.5, dynamic_kmeans=1,
        init_divide_by8=False, mask=True, train_cls=False, norm_norm1=False,
        eval_after=60),
    'fgvc/mae_cub200': dict(
        dataset='cub', model_name='mae-B', num_prompts=15, proxy_prompt_len=20,
        proxy_prompt_start_idx=9, weight_decay=0.01, drop_path=0.0,
        vpt_loss_weight=0.05, cls_loss_weight=0.05, dynamic_kmeans=1,
        vpt_norm='l2', init_divide_by8=False, mask=True, train_cls=False,
        norm_norm1=False),
    'fgvc/mae_dogs': dict(
        dataset='dogs', model_name='mae-B', num_prompts=20, lr=0.001,
        weight_decay=0.0001, wd_head=0.05, drop_path=0.0, cls_loss_weight=0.03,
        loss_vpt_scale_ratio=0.0, vpt_norm='l2', norm_norm1=False),
    'fgvc/mae_flowers': dict(
        dataset='flowers', model_name='mae-B', proxy_prompt_len=40,
        proxy_prompt_start_idx=5, weight_decay=0.0001, drop_path=0.0,
        cls_loss_weight=0.1, dynamic_kmeans=1, init_divide_by8=False,
        mask=True, train_cls=False, norm_norm1=False),
    'fgvc/moco_birds': dict(
        dataset='nabirds', num_prompts=20, proxy_prompt_len=20, lr=0.01,
        weight_decay=0.01, wd_head=0.05, drop_path=0.0, cls_loss_weight=0.05,
        bias_k=True),
    'fgvc/moco_cars': dict(
        dataset='cars', num_prompts=10, proxy_prompt_len=20,
        proxy_prompt_start_idx=10, weight_decay=0.5, wd_head=0.0001,
        drop_path=0.0, vpt_loss_weight=0.05, cls_loss_weight=0.05,
        train_cls=False, bias_k=True),
    'fgvc/moco_cub200': dict(
        dataset='cub', num_prompts=40, proxy_prompt_len=20, weight_decay=1.0,
        wd_head=0.1, vpt_loss_weight=0.1, cls_loss_weight=0.02,
        loss_vpt_scale_ratio=1.0, dynamic_kmeans=1, vpt_norm='l2',
        bias_k=True),
    'fgvc/moco_dogs': dict(
        dataset='dogs', weight_decay=0.0001, wd_head=0.05, drop_path=0.0,
        cls_loss_weight=0.03, bias_k=True),
    'fgvc/moco_flowers': dict(
        dataset='flowers', proxy_prompt_start_idx=3, lr=0.01, weight_decay=1.0,
        wd_head=0.05, drop_path=0.0, vpt_loss_weight=0.05,
        cls_loss_weight=0.05, loss_vpt_scale_ratio=10.0, mask=True,
        bias_k=True),
    'fgvc/vitb_bird': dict(
        dataset='nabirds', model_name='vit-B', proxy_prompt_start_idx=9,
        lr=0.001, wd_head=3.0, drop_path=0.0, cls_loss_weight=0.2,
        loss_vpt_scale_ratio=60.0, bias_k=True),
    'fgvc/vitb_cars': dict(
        dataset='cars', model_name='vit-B', num_prompts=80,
        proxy_prompt_len=60, lr=0.001, wd_head=3.0, drop_path=0.0,
        vpt_loss_weight=0.05, cls_loss_weight=0.05, loss_vpt_scale_ratio=60.0,
        bias_k=True),
    'fgvc/vitb_cub200': dict(
        dataset='cub', model_name='vit-B', num_prompts=10,
        proxy_prompt_start_idx=10, lr=0.0005, wd_head=5.0,
        vpt_loss_weight=0.05, cls_loss_weight=0.05, dynamic_kmeans=1,
        vpt_norm='l2', mask=True, bias_k=True),
    'fgvc/vitb_dogs': dict(
        dataset='dogs', model_name='vit-B', num_prompts=20, lr=0.0002,
        wd_head=3.0, batch_size=64, drop_path=0.0, vpt_loss_weight=0.0,
        cls_loss_weight=0.0, loss_vpt_scale_ratio=1.0, bias_k=True,
        samples_per_class=4),
    'fgvc/vitb_flowers': dict(
        dataset='flowers', model_name='vit-B', num_prompts=40, lr=0.001,
        wd_head=3.0, drop_path=0.0, vpt_loss_weight=0.0, cls_loss_weight=0.0,
        loss_vpt_scale_ratio=1.0, bias_k=True, eval_after=60),
    'vtab/mae_caltech101': dict(
        dataset='caltech101', model_name='mae-B', norm_norm1=False),
    'vtab/mae_camelyon': dict(
        dataset='patch_camelyon', model_name='mae-B', lr=0.0001,
        weight_decay=0.5, norm_norm1=False),
    'vtab/mae_cifar100': dict(
        dataset='cifar100', model_name='mae-B', num_prompts=0,
        proxy_prompt_start_idx=5, lr=0.001, weight_decay=5.0,
        cls_loss_weight=0.1, dynamic_kmeans=1),
    'vtab/mae_clerv_count': dict(
        dataset='clevr_count', model_name='mae-B', lr=0.001, weight_decay=0.5,
        wd_head=0.001, norm_norm1=False),
    'vtab/mae_clevr_dist': dict(
        dataset='clevr_dist', model_name='mae-B', lr=0.001, weight_decay=10.0,
        norm_norm1=False),
    'vtab/mae_dmlab': dict(
        dataset='dmlab', model_name='mae-B', lr=0.001, weight_decay=0.5,
        wd_head=0.0001, norm_norm1=False),
    'vtab/mae_dspr_loc': dict(
        dataset='dsprites_loc', model_name='mae-B', lr=0.001,
        weight_decay=10.0, wd_head=10.0, norm_norm1=False),
    'vtab/mae_dspr_ori': dict(
        dataset='dsprites_ori', model_name='mae-B', lr=0.001, weight_decay=1.0,
        wd_head=0.0, norm_norm1=False),
    'vtab/mae_dtd': dict(
        dataset='dtd', model_name='mae-B', lr=0.001, weight_decay=0.5,
        norm_norm1=False),
    'vtab/mae_eurosat': dict(
        dataset='eurosat', model_name='mae-B', lr=0.0005, weight_decay=5.0,
        norm_norm1=False),
    'vtab/mae_flower102': dict(
        dataset='oxford_flowers102', model_name='mae-B', weight_decay=0.5,
        norm_norm1=False),
    'vtab/mae_resisc45': dict(
        dataset='resisc45', model_name='mae-B', wd_head=0.005,
        norm_norm1=False),
    'vtab/mae_retinopathy': dict(
        dataset='retinopathy', num_prompts=0, weight_decay=0.001, wd_head=0.01,
        cls_loss_weight=0.03, dynamic_kmeans=1, eval_after=60),
    'vtab/mae_smallnorb_azi': dict(
        dataset='smallnorb_azi', model_name='mae-B', lr=0.001,
        weight_decay=1.0, wd_head=0.0005, norm_norm1=False),
    'vtab/mae_smallnorb_ele': dict(
        dataset='smallnorb_ele', model_name='mae-B', num_prompts=10, lr=0.0001,
        weight_decay=5.0, wd_head=0.1, vpt_loss_weight=0.05,
        cls_loss_weight=0.5, dynamic_kmeans=1, eval_after=60),
    'vtab/moco_caltech101': dict(
        dataset='caltech101', num_prompts=0, proxy_prompt_len=5, lr=0.01,
        weight_decay=0.0005, wd_head=0.1, dynamic_kmeans=1),
    'vtab/moco_camelyon': dict(
        dataset='patch_camelyon', lr=0.0001, weight_decay=5.0, wd_head=0.0005,
        bias_k=True),
    'vtab/moco_cifar100': dict(
        dataset='cifar100', num_prompts=0, proxy_prompt_len=5,
        proxy_prompt_start_idx=2, weight_decay=5.0, wd_head=0.05,
        dynamic_kmeans=1),
    'vtab/moco_clevr_count': dict(
        dataset='clevr_count', lr=0.001, weight_decay=0.1, wd_head=0.0,
        bias_k=True),
    'vtab/moco_clevr_dist': dict(
        dataset='clevr_dist', lr=0.0001, weight_decay=0.01, wd_head=0.0001,
        bias_k=True),
    'vtab/moco_dmlab': dict(
        dataset='dmlab', weight_decay=0.005, wd_head=0.005, bias_k=True),
    'vtab/moco_dspr_loc': dict(
        dataset='dsprites_loc', lr=0.0005, weight_decay=10.0, wd_head=10.0,
        bias_k=True),
    'vtab/moco_dspr_ori': dict(
        dataset='dsprites_ori', lr=0.001, weight_decay=10.0, wd_head=0.01,
        bias_k=True),
    'vtab/moco_dtd': dict(
        dataset='dtd', num_prompts=0, weight_decay=0.001, wd_head=0.05,
        drop_path=0.2, vpt_loss_weight=0.05, cls_loss_weight=0.03,
        dynamic_kmeans=1),
    'vtab/moco_eurosat': dict(
        dataset='eurosat', lr=0.001, weight_decay=0.5, wd_head=0.0,
        bias_k=True),
    'vtab/moco_flower102': dict(
        dataset='oxford_flowers102', weight_decay=0.0, wd_head=0.0001,
        bias_k=True),
    'vtab/moco_pets': dict(
        dataset='oxford_iiit_pet', weight_decay=0.01, wd_head=0.05,
        bias_k=True),
    'vtab/moco_resisc45': dict(
        dataset='resisc45', weight_decay=0.001, wd_head=0.0001, bias_k=True),
    'vtab/moco_smallnorb_azi': dict(
        dataset='smallnorb_azi', wd_head=0.001, bias_k=True),
    'vtab/moco_smallnorb_ele': dict(
        dataset='smallnorb_ele', lr=0.0005, weight_decay=0.5, wd_head=0.0005,
        bias_k=True),
    'vtab/vitb_caltech101': dict(
        dataset='caltech101', model_name='vit-B', num_prompts=60, wd_head=5.0,
        vpt_loss_weight=0.0, cls_loss_weight=0.0, loss_vpt_scale_ratio=1.0,
        bias_k=True, eval_after=90),
    'vtab/vitb_camelyon': dict(
        dataset='patch_camelyon', model_name='vit-B', num_prompts=0,
        weight_decay=10.0, wd_head=5.0, drop_path=0.0, dynamic_kmeans=1,
        eval_after=60),
    'vtab/vitb_cifar100': dict(
        dataset='cifar100', model_name='vit-B', num_prompts=20,
        proxy_prompt_len=20, proxy_prompt_start_idx=3, weight_decay=1.0,
        wd_head=20.0, vpt_loss_weight=1.0, cls_loss_weight=0.05,
        dynamic_kmeans=1, bias_k=True, eval_after=90),
    'vtab/vitb_clerv_count': dict(
        dataset='clevr_count', model_name='vit-B', num_prompts=10, lr=0.001,
        weight_decay=0.01, wd_head=10.0, vpt_loss_weight=0.5,
        cls_loss_weight=0.5, loss_vpt_scale_ratio=1.0, dynamic_kmeans=1,
        eval_after=60),
    'vtab/vitb_clevr_dist': dict(
        dataset='clevr_dist', model_name='vit-B', num_prompts=10,
        proxy_prompt_len=5, lr=5e-05, weight_decay=0.001, dynamic_kmeans=1,
        eval_after=60),
    'vtab/vitb_dmlab': dict(
        dataset='dmlab', model_name='vit-B', num_prompts=10, weight_decay=0.0,
        wd_head=0.05, dynamic_kmeans=1, eval_after=60),
    'vtab/vitb_dspr_loc': dict(
        dataset='dsprites_loc', model_name='vit-B', num_prompts=10, lr=0.01,
        weight_decay=0.5, wd_head=3.0, min_lr=1e-08, warmup_lr=1e-07,
        drop_path=0.0, vpt_loss_weight=0.1, cls_loss_weight=0.1, bias_k=True,
        eval_after=90),
    'vtab/vitb_dspr_ori': dict(
        dataset='dsprites_ori', model_name='vit-B', num_prompts=20,
        proxy_prompt_start_idx=3, lr=0.01, weight_decay=0.001, wd_head=0.0001,
        drop_path=0.0, dynamic_kmeans=1, eval_after=90),
    'vtab/vitb_dtd': dict(
        dataset='dtd', model_name='vit-B', num_prompts=10, lr=0.001,
        wd_head=5.0, vpt_loss_weight=0.0, cls_loss_weight=0.0, bias_k=True,
        eval_after=90),
    'vtab/vitb_eurosat': dict(
        dataset='eurosat', model_name='vit-B', num_prompts=20,
        proxy_prompt_start_idx=9, lr=0.0005, weight_decay=5.0, wd_head=0.005,
        drop_path=0.0, vpt_loss_weight=0.5, dynamic_kmeans=1, eval_after=90),
    'vtab/vitb_flower102': dict(
        dataset='oxford_flowers102', model_name='vit-B', num_prompts=40,
        lr=0.001, weight_decay=0.5, wd_head=3.0, min_lr=1e-08, warmup_lr=1e-07,
        drop_path=0.0, vpt_loss_weight=0.1, cls_loss_weight=0.1, bias_k=True,
        eval_after=90),
    'vtab/vitb_pet': dict(
        dataset='oxford_iiit_pet', model_name='vit-B', lr=0.001, wd_head=5.0,
        vpt_loss_weight=0.0, cls_loss_weight=0.0, loss_vpt_scale_ratio=10.0,
        bias_k=True, eval_after=90),
    'vtab/vitb_resisc45': dict(
        dataset='resisc45', model_name='vit-B', num_prompts=20,
        proxy_prompt_start_idx=0, weight_decay=0.0001, wd_head=1.0,
        drop_path=0.0, cls_loss_weight=0.05, dynamic_kmeans=1, eval_after=90),
    'vtab/vitb_retinopathy': dict(
        dataset='retinopathy', model_name='vit-B', num_prompts=20, lr=0.001,
        weight_decay=0.1, wd_head=1.0, drop_path=0.0, dynamic_kmeans=1,
        eval_after=60),
    'vtab/vitb_smallnorb_azi': dict(
        dataset='smallnorb_azi', model_name='vit-B', num_prompts=20, lr=0.001,
        weight_decay=1.0, wd_head=1.0, dynamic_kmeans=1, eval_after=60),
    'vtab/vitb_smallnorb_ele': dict(
        dataset='smallnorb_ele', model_name='vit-B', lr=5e-05,
        weight_decay=0.01, wd_head=3.0, min_lr=1e-08, warmup_lr=1e-07,
        drop_path=0.0, vpt_loss_weight=0.0, cls_loss_weight=0.1,
        train_cls=False, bias_k=True, eval_after=90),
}
