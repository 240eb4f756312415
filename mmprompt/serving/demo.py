"""Offline demo: three tasks on one frozen DINOv2 ViT-S/14, one bundle,
one mixed batch.

    python tools/demo/serve_tasks.py [--work-dir work_dirs/serve_demo]
        [--epochs 2] [--train-per-class 50] [--test-per-class 40]

1. Trains VPT-Deep (the demo config: 10 prompts per layer) for three tasks
   from Fashion-MNIST: ``fashion`` (its 10 classes), ``garment`` (5 coarse
   classes) and ``footwear`` (sandal, sneaker, ankle boot), short runs.
2. Bundles them (``tools/deployment/bundle_tasks.py``).
3. Serves their test images shuffled together, 32 at a time whatever their
   task, and prints per task the bundle's top-1 beside the task's own
   model's on the same images, how many predictions agree and the largest
   score difference.
"""
import argparse
import os
import os.path as osp
import random
import subprocess
import sys
import time

from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS

from mmprompt.utils.demo import prepare_assets
from mmprompt.utils.model_builder import build_model
from mmprompt.utils.paths import REPO_ROOT
from .bundle import write_bundle
from .inferencer import MultiTaskInferencer, compare_with_task_models

ROOT = REPO_ROOT

BASE = 'configs/demo/vpt-deep_dinov2-vit-s14_fashion-mnist.py'
# task -> (Fashion-MNIST label -> task label, class names); None: all ten
TASKS = {
    'fashion': (None, None),
    'garment': ({
        0: 0,
        2: 0,
        4: 0,
        6: 0,
        1: 1,
        3: 2,
        5: 3,
        7: 3,
        9: 3,
        8: 4
    }, ('top', 'trouser', 'dress', 'shoe', 'bag')),
    'footwear': ({
        5: 0,
        7: 1,
        9: 2
    }, ('Sandal', 'Sneaker', 'Ankle boot')),
}


def task_config(name, args):
    """The demo config for one task: its classes, a short schedule."""
    label_map, classes = TASKS[name]
    cfg = Config.fromfile(osp.join(ROOT, BASE))
    num_classes = len(classes) if classes else 10
    for loader, per_class in (('train_dataloader', args.train_per_class),
                              ('val_dataloader', args.test_per_class),
                              ('test_dataloader', args.test_per_class)):
        dataset = cfg[loader].dataset
        dataset.num_per_class = per_class
        if label_map is not None:
            dataset.label_map = label_map
            dataset.metainfo = dict(classes=classes)
    cfg.model.head.num_classes = num_classes
    cfg.data_preprocessor.num_classes = num_classes
    cfg.train_cfg.max_epochs = args.epochs
    cfg.train_cfg.val_interval = args.epochs
    cfg.param_scheduler[1].T_max = max(args.epochs - 1, 1)
    cfg.param_scheduler[1].end = args.epochs
    cfg.default_hooks.logger.interval = 10
    path = osp.join(args.work_dir, f'{name}.py')
    cfg.dump(path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/serve_demo')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--train-per-class', type=int, default=50)
    parser.add_argument('--test-per-class', type=int, default=40)
    parser.add_argument('--onnx', help='path of vit_s_focus.onnx')
    parser.add_argument(
        '--data-root', default='/usr/share/datasets/fashion-mnist')
    args = parser.parse_args()
    args.work_dir = osp.abspath(args.work_dir)
    prepare_assets(args.onnx, args.data_root)
    os.makedirs(args.work_dir, exist_ok=True)
    # the output is the table: loading's INFO lines stay out of it
    MMLogger.get_instance('serve_tasks', log_level='WARNING')
    specs, start = {}, time.time()
    for name in TASKS:
        config = task_config(name, args)
        work = osp.join(args.work_dir, name)
        last = osp.join(work, 'last_checkpoint')
        if not osp.isfile(last):
            with open(osp.join(args.work_dir, f'{name}.log'), 'w') as log:
                print(f'training {name} (log: {log.name})', flush=True)
                subprocess.run([
                    sys.executable, 'tools/train.py', config, '--work-dir',
                    work
                ],
                               cwd=ROOT,
                               check=True,
                               stdout=log,
                               stderr=subprocess.STDOUT)
        with open(last) as f:
            specs[name] = (config, f.read().strip())
    train_min = (time.time() - start) / 60
    bundle = osp.join(args.work_dir, 'tasks.pth')
    write_bundle(bundle, specs)
    inferencer = MultiTaskInferencer(bundle)

    models, samples = {}, []
    for name, (config, checkpoint) in specs.items():
        cfg = Config.fromfile(config)
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        model = build_model(cfg)
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
        models[name] = model.eval()
        test = DATASETS.build(dict(cfg.test_dataloader.dataset, pipeline=[]))
        for i in range(len(test)):
            info = test.get_data_info(i)
            samples.append((name, info['img'], info['gt_label']))
    random.Random(0).shuffle(samples)
    start = time.time()
    rows = compare_with_task_models(inferencer, models, samples)
    print(f'\n{len(samples)} test images of {len(TASKS)} tasks, served 32 '
          f'at a time in mixed batches ({time.time() - start:.0f} s with '
          f'the per-task reference; training {train_min:.1f} min)')
    print('| task | classes | test images | bundle top-1 | own model top-1 '
          '| same prediction | max score difference |')
    print('|---|---|---|---|---|---|---|')
    for name, r in rows.items():
        print(f"| {name} | {models[name].head.num_classes} | {r['n']} | "
              f"{r['bundle_top1']:.2f} | {r['own_top1']:.2f} | "
              f"{r['agree']}/{r['n']} | {r['max_score_diff']:.1e} |")
    print(f'bundle: {bundle} ({osp.getsize(bundle) / 1024:.0f} KiB)')
    if any(r['agree'] != r['n'] for r in rows.values()):
        sys.exit('error: the bundle and a task model disagree')
