"""Checkpoint files a run can trust: one-line errors for files that are not
checkpoints, writes that never leave a partial file, resume from the newest
checkpoint that loads, and the run hooks every entry point gets."""
import errno
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

import mmprompt  # noqa: F401
from mmprompt.engine import RUN_HOOKS, add_run_hooks
from mmprompt.utils import checkpoint_files as files
from helpers import CONFIG, REPO, TRAIN, assert_same, load, run

STATE = {'state_dict': {'w': torch.arange(6.).reshape(2, 3)}, 'meta': {}}


def save(path, obj=STATE, **kwargs):
    torch.save(obj, str(path), **kwargs)
    return str(path)


def truncated(path):
    """A checkpoint cut short, as a kill in the middle of writing leaves."""
    save(path)
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    return str(path)


def write(path, data: bytes):
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def zip_without_pickle(path):
    import zipfile
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('notes.txt', 'hello')
    return str(path)


# (id, make(tmp_path) -> path, what the message says)
BAD_FILES = [
    ('missing', lambda d: str(d / 'nope.pth'), 'no such file'),
    ('folder', lambda d: str(d), 'a folder, not a checkpoint file'),
    ('empty', lambda d: write(d / 'e.pth', b''),
     'an empty file (0 bytes), not a checkpoint'),
    ('text', lambda d: write(d / 't.pth', b'epoch_3.pth\nnot weights\n'),
     "a text file, not a checkpoint (it begins 'epoch_3.pth"),
    ('truncated', lambda d: truncated(d / 'cut.pth'),
     'a truncated or damaged checkpoint ('),
    ('zip-not-torch', lambda d: zip_without_pickle(d / 'z.pth'),
     'a zip archive but not a PyTorch checkpoint (no data.pkl inside)'),
    ('hdf5', lambda d: write(d / 'k.pth', b'\x89HDF\r\n\x1a\n' + b'\0' * 64),
     'an HDF5 file (Keras / TensorFlow weights), not a PyTorch checkpoint'),
    ('npy', lambda d: write(d / 'a.pth', b'\x93NUMPY\x01\x00' + b' ' * 60),
     'a NumPy .npy array, not a PyTorch checkpoint'),
    ('safetensors',
     lambda d: write(d / 'w.safetensors',
                     (10).to_bytes(8, 'little') + b'{"a": 1}  '),
     "a safetensors file, not a PyTorch checkpoint (pretrained weights in "
     "this format load through the backbone's init_cfg"),
    ('onnx', lambda d: write(d / 'm.onnx', b'\x08\x07\x12\x07pytorch'),
     'an ONNX model, not a PyTorch checkpoint'),
    ('binary', lambda d: write(d / 'b.pth', bytes([7, 0, 255, 1] * 16)),
     'not a PyTorch checkpoint (unknown format, first bytes 0700ff01'),
]


@pytest.mark.parametrize(
    'make,says', [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_each_kind_of_bad_file_gets_one_line_naming_it(tmp_path, make, says):
    path = make(tmp_path)
    with pytest.raises(files.CheckpointFileError) as info:
        files.load_checkpoint_file(path, what='load_from')
    message = str(info.value)
    assert message.startswith(f'load_from {path}: ')
    assert says in message
    assert '\n' not in message


def test_good_files_load_in_both_torch_formats(tmp_path):
    zipped = save(tmp_path / 'new.pth')
    legacy = save(tmp_path / 'old.pth', _use_new_zipfile_serialization=False)
    assert files.check_checkpoint_file(zipped) == 'zip'
    assert files.check_checkpoint_file(legacy) == 'legacy'
    for path in (zipped, legacy):
        for mmap in (False, True):
            assert_same(files.load_checkpoint_file(path, mmap=mmap), STATE)
    # the legacy format cut short: only the reader finds out
    data = open(legacy, 'rb').read()
    cut = write(tmp_path / 'old_cut.pth', data[:len(data) - 40])
    with pytest.raises(
            files.CheckpointFileError,
            match='old_cut.pth: cannot be read as a PyTorch '
            'checkpoint'):
        files.load_checkpoint_file(cut)


# ------------------------------------------------------------ writes
def test_write_atomically_replaces_whole_or_not_at_all(tmp_path):
    path = save(tmp_path / 'epoch_1.pth')
    before = open(path, 'rb').read()

    def full_disk(tmp):
        with open(tmp, 'wb') as f:
            f.write(b'PK\x03\x04 part of a checkpoint')
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(files.CheckpointWriteError) as info:
        files.write_atomically(full_disk, path)
    assert info.value.errno == errno.ENOSPC
    assert f'cannot write {path}: the disk is full' in str(info.value)
    assert open(path, 'rb').read() == before  # untouched
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temporary left
    files.write_atomically(lambda tmp: save(tmp, {'x': torch.ones(2)}), path)
    assert_same(load(path), {'x': torch.ones(2)})
    assert os.listdir(tmp_path) == ['epoch_1.pth']


# ------------------------------------------------------------ resume
def test_resume_takes_the_newest_checkpoint_that_loads(tmp_path):
    for epoch in (1, 2, 3):
        save(tmp_path / f'epoch_{epoch}.pth',
             dict(STATE, meta={'epoch': epoch}))
    save(tmp_path / 'best_accuracy_top1_epoch_9.pth',
         dict(STATE, meta={'epoch': 9}))
    # a newer file of tensors that is no run's checkpoint: passed over
    save(tmp_path / 'prompts_after_train_rank9.pth', {'x': torch.ones(1)})
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    lines = []
    assert files.find_resumable_checkpoint(str(tmp_path), lines.append) == str(
        tmp_path / 'epoch_3.pth')
    assert lines == []
    truncated(tmp_path / 'epoch_3.pth')
    write(tmp_path / 'epoch_2.pth', b'')
    assert files.find_resumable_checkpoint(str(tmp_path), lines.append) == str(
        tmp_path / 'epoch_1.pth')
    assert len(lines) == 3
    assert lines[0].startswith(f'resume: skipping checkpoint '
                               f'{tmp_path / "epoch_3.pth"}: a truncated')
    assert lines[1] == (f'resume: skipping checkpoint '
                        f'{tmp_path / "epoch_2.pth"}: an empty file (0 '
                        'bytes), not a checkpoint (was its writing '
                        'interrupted?)')
    assert lines[2] == f'resume: resuming from {tmp_path / "epoch_1.pth"}'

    # --resume: a fresh start in a folder without checkpoints (other
    # .pth files there or not), an error where last_checkpoint names one
    # but nothing there loads
    fresh = tmp_path / 'new'
    fresh.mkdir()
    save(fresh / 'prompts_before_train_rank0.pth', {'x': torch.ones(1)})
    cfg = Config(dict(work_dir=str(fresh), load_from=None))
    files.choose_start_checkpoint(cfg, True, lines.append)
    assert cfg.load_from is None and cfg.resume is False
    assert len(lines) == 3
    (fresh / 'last_checkpoint').write_text(
        str(fresh / 'prompts_before_train_rank0.pth'))
    with pytest.raises(files.CheckpointFileError, match='no checkpoint in'):
        files.choose_start_checkpoint(cfg, True, lines.append)
    dump = fresh / 'prompts_before_train_rank0.pth'
    assert lines[-2:] == [
        f'resume: skipping checkpoint {dump}: not the checkpoint of a run (no '
        'meta with its epoch or iteration, or no state_dict)',
        f'resume: no checkpoint of {fresh} loads'
    ]
    cfg = Config(dict(work_dir=str(tmp_path), load_from=None))
    files.choose_start_checkpoint(cfg, True, lines.append)
    assert cfg.load_from == str(tmp_path / 'epoch_1.pth') and cfg.resume
    write(tmp_path / 'epoch_1.pth', b'oops')
    os.remove(tmp_path / 'best_accuracy_top1_epoch_9.pth')
    with pytest.raises(
            files.CheckpointFileError,
            match=f'--resume: no checkpoint in {tmp_path} loads'):
        files.choose_start_checkpoint(cfg, True, lines.append)
    cfg = Config(dict(load_from=str(tmp_path / 'epoch_1.pth'), resume=False))
    with pytest.raises(
            files.CheckpointFileError,
            match='^load_from .*epoch_1.pth: '
            "a text file, not a checkpoint \\(it begins 'oops'"):
        files.choose_start_checkpoint(cfg, False)


# ------------------------------------------------------------ run hooks
def test_add_run_hooks():
    cfg = Config(dict(custom_hooks=[]))
    add_run_hooks(cfg)
    assert {k: v['type'] for k, v in cfg.default_hooks.items()} == RUN_HOOKS
    assert cfg.default_hooks.checkpoint.interval == 1  # mmengine's default
    # a hook already listed is not added twice; mmengine's CheckpointHook
    # keeps its arguments under the atomic type; None stays off
    cfg = Config(
        dict(
            custom_hooks=[dict(type='mmprompt.RandomStateHook')],
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=3, max_keep_ckpts=1),
                params=dict(type='TrainableParamsHook'))))
    add_run_hooks(cfg)
    assert set(cfg.default_hooks) == {'checkpoint', 'params'}
    assert cfg.default_hooks.checkpoint == dict(
        type='mmprompt.AtomicCheckpointHook', interval=3, max_keep_ckpts=1)
    cfg = Config(dict(default_hooks=dict(checkpoint=None)))
    add_run_hooks(cfg)
    assert cfg.default_hooks.checkpoint is None
    # every shipped runtime carries them (Runner.from_cfg gets them)
    for rel in ('configs/demo/vpt-deep_dinov2-vit-s14_fashion-mnist.py',
                'configs/davpt/released/'
                'davpt-released_vit-b16-mae_fgvc-cub.py'):
        hooks = Config.fromfile(osp.join(REPO, rel)).default_hooks
        assert {k: hooks[k]['type'] for k in RUN_HOOKS} == RUN_HOOKS, rel


def runtime_config(setup, path, extra='', hooks='[]'):
    """The tools' tiny config on mmprompt's runtime (its default hooks)."""
    body = CONFIG.format(
        num_classes=4, data_root=str(setup['root'] /
                                     'data')).split('default_hooks = dict(')[0]
    path.write_text(
        FROM_CFG.format(
            runtime=osp.join(REPO, 'configs', '_base_', 'default_runtime.py'),
            body=body + extra,
            extra_hooks=hooks))
    return str(path)


@pytest.mark.slow
def test_checkpoint_hook_in_a_runner_full_disk_and_max_keep(
        setup, tmp_path, monkeypatch):
    """AtomicCheckpointHook in a real Runner with max_keep_ckpts=1: a write
    that fails half-way (ENOSPC at the third checkpoint) raises one message
    and leaves the second checkpoint whole, named by last_checkpoint, and
    no temporary file; the kept count holds after successful writes."""
    from mmengine.fileio.backends import LocalBackend
    from mmengine.runner import Runner

    monkeypatch.syspath_prepend(setup['hooks_dir'])
    cfg = Config.fromfile(runtime_config(setup, tmp_path / 'cfg.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.custom_hooks = []
    cfg.randomness = dict(seed=0)  # not deterministic: process-wide
    cfg.train_cfg.max_epochs = 3
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    runner = Runner.from_cfg(cfg)
    assert {'AtomicCheckpointHook', 'RandomStateHook',
            'TrainableParamsHook'} <= {type(h).__name__
                                       for h in runner.hooks}
    real_put, calls = LocalBackend.put, []

    def put_or_fail(self, obj, filepath):
        calls.append(filepath)
        if len(calls) == 3:  # the disk fills while writing epoch 3
            with open(filepath, 'wb') as f:
                f.write(obj[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', put_or_fail)
    work = tmp_path / 'work'
    with pytest.raises(files.CheckpointWriteError) as info:
        runner.train()
    assert str(info.value) == (f'[Errno {errno.ENOSPC}] cannot write '
                               f'{work / "epoch_3.pth"}: the disk is full')
    assert sorted(p for p in os.listdir(work)
                  if p.endswith('.pth')) == ['epoch_2.pth']
    assert not [p for p in os.listdir(work) if p.startswith('.')]
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_2.pth')
    assert load(work / 'epoch_2.pth')['meta']['epoch'] == 2
    assert files.find_resumable_checkpoint(str(work)) == str(work /
                                                             'epoch_2.pth')


def test_train_time_adds_up_over_a_resume(setup, tmp_path, monkeypatch):
    """TrainTimeHook: the seconds in epoch 1's checkpoint, plus those the
    resumed run took, on a clock the test sets (0 at the first start, 10
    afterwards; 100 at the second start, 130 afterwards)."""
    from mmengine.runner import Runner

    from mmprompt.engine.hooks import train_time_hook

    monkeypatch.syspath_prepend(setup['hooks_dir'])
    cfg = Config.fromfile(runtime_config(setup, tmp_path / 'cfg.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.custom_hooks = [
        dict(type='ToolsTestHook', stop_after=1),
        dict(type='mmprompt.TrainTimeHook')
    ]

    def clock(start, then):
        ticks = iter([start])
        return lambda: next(ticks, then)

    monkeypatch.setattr(train_time_hook.time, 'perf_counter', clock(0., 10.))
    cfg.experiment_name = 'first'  # a message hub of its own
    Runner.from_cfg(cfg.copy()).train()
    first = load(tmp_path / 'work' / 'epoch_1.pth')
    assert first['message_hub']['runtime_info']['train_seconds'] == 10.

    monkeypatch.setattr(train_time_hook.time, 'perf_counter',
                        clock(100., 130.))
    cfg.custom_hooks[0]['stop_after'] = None
    cfg.experiment_name, cfg.resume = 'second', True
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.message_hub.get_info('train_seconds') == 40.
    second = load(tmp_path / 'work' / 'epoch_2.pth')
    assert second['message_hub']['runtime_info']['train_seconds'] == 40.


def test_training_does_not_depend_on_how_often_it_validates(
        setup, tmp_path, monkeypatch):
    """With prompt dropout (torch's RNG in every step), validating after
    every epoch or only at the end trains the same weights: RandomStateHook
    puts the RNG streams back after each validation. Without it, the
    validation's DataLoader seed draw would shift epoch 2's masks."""
    from mmengine.runner import Runner
    monkeypatch.syspath_prepend(setup['hooks_dir'])
    finals = []
    for every in (1, 2):
        cfg = Config.fromfile(
            runtime_config(setup, tmp_path / f'cfg{every}.py',
                           "model['backbone']['prompt_dropout'] = 0.5"))
        cfg.work_dir = str(tmp_path / f'val_every_{every}')
        cfg.experiment_name = f'val_every_{every}'
        cfg.train_cfg.val_interval = every
        runner = Runner.from_cfg(cfg)
        runner.train()
        finals.append(load(tmp_path / f'val_every_{every}' / 'epoch_2.pth'))
    assert_same(finals[0]['state_dict'], finals[1]['state_dict'], 'state_dict')


# ------------------------------------------------------------ entry points
def tool_error(args, env):
    proc = subprocess.run(
        [sys.executable] + args,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_every_entry_point_names_the_unreadable_file(setup, tmp_path):
    env, cfg = setup['env'], setup['cfg']
    empty = write(tmp_path / 'empty.pth', b'')
    text = write(tmp_path / 'notes.pth', b'not a checkpoint\n')
    cut = truncated(tmp_path / 'cut.pth')
    hdf5 = write(tmp_path / 'keras.pth', b'\x89HDF\r\n\x1a\n' + b'\0' * 64)
    legacy = save(tmp_path / 'old.pth', _use_new_zipfile_serialization=False)
    legacy_cut = write(tmp_path / 'old_cut.pth',
                       open(legacy, 'rb').read()[:-40])
    work = str(tmp_path / 'w')
    cases = [
        ([
            TRAIN, cfg, '--work-dir', work, '--cfg-options',
            f'load_from={empty}'
        ], f'error: load_from {empty}: an empty file'),
        ([TRAIN, cfg, '--work-dir', work, '--resume',
          text], f'error: --resume {text}: a text file, not a checkpoint'),
        (['tools/test.py', cfg, cut, '--work-dir', work],
         f'error: checkpoint {cut}: a truncated or damaged checkpoint'),
        (['tools/export_prompts.py', cfg, hdf5,
          str(tmp_path / 'p.pth')], f'error: checkpoint {hdf5}: an HDF5 file'),
        ([
            'tools/deployment/export_onnx.py', cfg, legacy_cut,
            str(tmp_path / 'm.onnx')
        ], f'error: checkpoint {legacy_cut}: cannot be read as a PyTorch '
         'checkpoint'),
    ]
    for args, expected in cases:
        line = tool_error(args, env)
        assert line.startswith(expected), (args, line)
    assert not osp.exists(tmp_path / 'p.pth')


@pytest.mark.slow
def test_resume_skips_a_truncated_last_checkpoint(setup, trained, tmp_path):
    """The newest checkpoint truncated, last_checkpoint pointing to it:
    tools/train.py --resume says in one line that it skips it, resumes from
    the one before, and ends equal to the uninterrupted run."""
    import shutil
    work = tmp_path / 'B'
    work.mkdir()
    shutil.copy(trained / 'epoch_1.pth', work / 'epoch_1.pth')
    truncated(work / 'epoch_2.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    proc = run([
        sys.executable, TRAIN, setup['cfg'], '--work-dir',
        str(work), '--resume'
    ], setup['env'])
    log = proc.stdout + proc.stderr
    assert (f'resume: skipping checkpoint {work / "epoch_2.pth"}: a '
            'truncated or damaged checkpoint') in log
    assert 'resumed epoch: 1' in log
    final, resumed = load(trained / 'epoch_2.pth'), load(work / 'epoch_2.pth')
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same(final[part], resumed[part], part)


# ----------------------------------------- Runner.from_cfg, killed, resumed
FROM_CFG = '''
_base_ = [{runtime!r}]
{body}
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
custom_hooks = [dict(type='ToolsTestHook')] + {extra_hooks}
log_processor = dict(by_epoch=True)
randomness = dict(seed=0, deterministic=True)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
'''
DRIVER = '''
import json
import sys
from mmengine.config import Config
from mmengine.runner import Runner
cfg = Config.fromfile(sys.argv[1])
cfg.work_dir = sys.argv[2]
cfg.resume = sys.argv[3] == 'resume'
for hook in cfg.custom_hooks:
    if hook['type'] == 'ToolsTestHook' and len(sys.argv) > 4:
        hook.update(json.loads(sys.argv[4]))  # where to die
Runner.from_cfg(cfg).train()
'''
METHODS = {
    'vpt-deep': ('', '[]'),
    'davpt': ("model.update(type='mmprompt.DAVPTClassifier', "
              'guided_layer=-1, beta=0.5, lam=0.5)\n'
              "model['backbone']['num_prompts'] = [4, 2]",
              "[dict(type='mmprompt.DAVPTMappingHook', "
              'num_images_per_class=3)]'),
}


def driver_runs(setup, tmp_path, cfg):
    """``start(work_dir, 'fresh' | 'resume'[, where_to_die_json])``: the
    DRIVER script on ``cfg`` in a process of its own."""
    driver = tmp_path / 'driver.py'
    driver.write_text(DRIVER)

    def start(work, mode, *kill):
        return subprocess.run([
            sys.executable,
            str(driver), cfg,
            str(tmp_path / work), mode, *kill
        ],
                              cwd=REPO,
                              env=setup['env'],
                              capture_output=True,
                              text=True,
                              timeout=300)

    return start


@pytest.mark.slow
@pytest.mark.parametrize('method', list(METHODS))
def test_runner_from_cfg_killed_mid_epoch_resumes_exactly(
        setup, tmp_path, method):
    """A user's own script, Runner.from_cfg(cfg) on a config inheriting
    mmprompt's runtime: killed (SIGKILL) in the middle of epoch 2 and run
    again with resume=True, it ends equal to the uninterrupted run (the RNG
    states come from the runtime's RandomStateHook)."""
    extra, hooks = METHODS[method]
    cfg = runtime_config(setup, tmp_path / 'cfg.py', extra, hooks)
    start = driver_runs(setup, tmp_path, cfg)

    full = start('full', 'fresh')
    assert full.returncode == 0, full.stderr[-3000:]
    killed = start('killed', 'fresh', '{"kill_at": [1, 1]}')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (tmp_path / 'killed' / 'epoch_2.pth').exists()
    resumed = start('killed', 'resume')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'RNG states of the checkpoint restored' in resumed.stdout + \
        resumed.stderr
    a = load(tmp_path / 'full' / 'epoch_2.pth')
    b = load(tmp_path / 'killed' / 'epoch_2.pth')
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same(a[part], b[part], part)
    if method == 'davpt':
        assert 'class_to_prompt' in b['state_dict']


@pytest.mark.slow
def test_killed_during_validation_resumes_exactly(setup, tmp_path):
    """Killed (SIGKILL) in the validation after epoch 2 of 2: no checkpoint
    of epoch 2 exists, since it waits for its validation; resumed, the run
    trains epoch 2 again from epoch 1's checkpoint, validates it, and ends
    equal to the uninterrupted run, validation curve included. Training
    draws random numbers (prompt dropout) and the validation's DataLoader
    draws its seed from torch's RNG, so this also needs the RNG states
    that epoch 2 starts from to be the same in both runs."""
    from mmprompt.evaluation.run_results import metric_curve
    cfg = runtime_config(setup, tmp_path / 'cfg.py',
                         "model['backbone']['prompt_dropout'] = 0.5")
    start = driver_runs(setup, tmp_path, cfg)

    full = start('full', 'fresh')
    assert full.returncode == 0, full.stderr[-3000:]
    killed = start('killed', 'fresh', '{"kill_in_val": 2}')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (tmp_path / 'killed' / 'epoch_1.pth').exists()
    assert not (tmp_path / 'killed' / 'epoch_2.pth').exists()
    resumed = start('killed', 'resume')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 1' in resumed.stdout + resumed.stderr
    a = load(tmp_path / 'full' / 'epoch_2.pth')
    b = load(tmp_path / 'killed' / 'epoch_2.pth')
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same(a[part], b[part], part)
    curve = metric_curve(str(tmp_path / 'full'))
    assert [e for e, _ in curve] == [1, 2]
    assert metric_curve(str(tmp_path / 'killed')) == curve
