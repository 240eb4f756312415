# Offline demo: VPT-Deep (10 prompts per layer) on DINOv2 ViT-S/14,
# Fashion-MNIST subset, 2 CPU cores. Run through tools/run_demo.sh.
_base_ = [
    '../_base_/models/dinov2-vit-s14.py',
    '../_base_/datasets/fashion_mnist.py',
    '../_base_/schedules/adamw_short.py',
    '../_base_/default_runtime.py',
]
