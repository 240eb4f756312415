# Offline table: Prompt Condensation: VPT-Deep for 2 epochs, then every
# prompt token is scored (taylor, 10 batches), the best 30 % across all
# layers are kept and fine-tuned for the last 2 epochs; the final model runs
# with 36 of the 120 prompt tokens.
_base_ = './vpt-deep_dinov2-vit-s14_fashion-mnist-1k.py'
custom_hooks = [
    dict(type='mmprompt.PromptCondensationHook', keep_ratio=0.3,
         score='taylor', num_batches=10, at_epoch=2),
]
