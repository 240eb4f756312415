# Runtime shared by mmprompt's classification recipes (mmpretrain scope).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmprompt'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # written to a temporary file and renamed: never a partial checkpoint
    checkpoint=dict(
        type='mmprompt.AtomicCheckpointHook', interval=1, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # every rank's RNG states in each checkpoint, so --resume is exact
    random_state=dict(type='mmprompt.RandomStateHook'),
    # `trainable params: N (x.xx% of M)` at the top of the log
    trainable_params=dict(type='mmprompt.TrainableParamsHook'),
)
custom_hooks = []

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
