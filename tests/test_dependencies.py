"""The light install (classification without mmcv's compiled ops) and the
errors that name the fix: an mmcv outside the supported range, a dense
config or type where mmseg/mmdet or mmcv's ops are missing.

"mmcv without ops" is simulated in a subprocess by an import finder that
refuses ``mmcv._ext``, the compiled extension that ``mmcv.ops`` loads
(``mmcv-lite``, an ``MMCV_WITH_OPS=0`` build, lacks exactly that file), so
the real ``import mmcv.ops`` fails the way it does there.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from mmprompt.utils import dependencies
from mmprompt.utils.dependencies import (MissingDependencyError,
                                         check_config_dependencies,
                                         check_mmcv_version,
                                         config_external_scopes,
                                         dense_library_error)
from helpers import REPO, TRAIN

SETR = osp.join(REPO, 'configs', 'setr',
                'vpt-deep_vit-l16-in21k_setr-pup_ade20k-512x512-160k.py')
MASK_RCNN = osp.join(REPO, 'configs', 'mask_rcnn',
                     'vpt-deep_vit-b16-in21k_mask-rcnn_coco-1x.py')
DEMO = osp.join(REPO, 'configs', 'demo',
                'vpt-deep_dinov2-vit-s14_fashion-mnist.py')

NO_OPS = textwrap.dedent('''
    import importlib.machinery
    import sys

    class _NoCompiledOps:
        """mmcv-lite (no compiled ops): mmcv._ext has nothing to load
        (pkgutil.find_loader gives None, importing it fails)."""
        def find_spec(self, name, path=None, target=None):
            if name == 'mmcv._ext':
                return importlib.machinery.ModuleSpec(name, None)
            return None

    sys.meta_path.insert(0, _NoCompiledOps())
''')


@pytest.mark.parametrize('version,ok', [('2.1.0', True), ('2.0.0', True),
                                        ('2.0.0rc4', True), ('2.2.0', False),
                                        ('1.7.2', False), ('2.3.1', False)])
def test_mmcv_version_range(version, ok):
    if ok:
        assert check_mmcv_version(version) == version
        return
    with pytest.raises(
            MissingDependencyError,
            match=rf'mmcv=={version} is installed, but mmprompt '
            r'needs mmcv >= 2.0.0, < 2.2.0.*mmcv==2\.1\.0'):
        check_mmcv_version(version)


def test_dense_library_errors_name_the_extra(monkeypatch):
    assert dense_library_error('mmseg') is None  # the full install
    real = dependencies.importlib.util.find_spec
    monkeypatch.setattr(dependencies.importlib.util, 'find_spec',
                        lambda name: None if name == 'mmdet' else real(name))
    message = dense_library_error('mmdet', 'config X')
    assert message.startswith('config X needs mmdet (detection), which is '
                              "not installed: pip install 'mmprompt[det]'")
    assert 'MMCV_WITH_OPS=1' in message
    with pytest.raises(MissingDependencyError, match=r"mmprompt\[det\]"):
        check_config_dependencies(MASK_RCNN)
    check_config_dependencies(SETR)  # mmseg is there
    monkeypatch.setattr(dependencies, 'mmcv_ops_import_error',
                        lambda: "ModuleNotFoundError: No module named 'x'")
    with pytest.raises(
            MissingDependencyError,
            match=r"needs mmsegmentation \(segmentation\), and "
            r"mmsegmentation needs mmcv's compiled ops, but mmcv "
            r'2\.1\.0 was built without them'):
        check_config_dependencies(SETR)
    with pytest.raises(ValueError, match="Unknown dense library 'mmpose'"):
        dense_library_error('mmpose')


def test_config_external_scopes():
    assert config_external_scopes(SETR) == {'mmseg'}
    assert config_external_scopes(MASK_RCNN) == {'mmdet'}
    assert config_external_scopes(DEMO) == set()


def run_without_ops(code, *args, cwd=REPO, env=None):
    env = dict(os.environ if env is None else env)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return subprocess.run(
        [sys.executable, '-c', NO_OPS + textwrap.dedent(code), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)


@pytest.mark.slow
def test_classification_imports_and_runs_without_mmcv_ops():
    proc = run_without_ops('''
        import sys
        import torch
        import mmprompt
        from mmprompt.registry import MODELS
        from mmprompt.utils.dependencies import (MissingDependencyError,
                                                 mmcv_ops_import_error)
        assert 'ImportError' in mmcv_ops_import_error()
        # mmprompt imported nothing dense (mmpretrain itself tries mmdet
        # in a guarded import), and the dense types are placeholders
        dense = [m for m in sys.modules if m.split('.')[0] == 'mmseg' or
                 m.startswith(('mmprompt.methods.davpt.davpt_encoder_decoder',
                               'mmprompt.models.necks'))]
        assert not dense, dense
        for name, extra in (('DAVPTEncoderDecoder', 'mmsegmentation'),
                            ('SimpleFeaturePyramid', 'mmdet')):
            try:
                MODELS.build(dict(type='mmprompt.' + name))
            except MissingDependencyError as err:
                assert f'mmprompt.{name} needs {extra}' in str(err), err
                assert "built without them" in str(err), err
            else:
                raise AssertionError(name + ' built without ops')
        # classification builds, trains and predicts
        model = MODELS.build(dict(
            type='mmprompt.PromptViT', arch=dict(
                embed_dims=32, num_layers=2, num_heads=4,
                feedforward_channels=64),
            img_size=32, patch_size=8, num_prompts=3))
        out = model(torch.randn(2, 3, 32, 32))[0]
        out.sum().backward()
        assert model.prompts[0].tokens.grad is not None
        print('classification ok')
    ''')
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert 'classification ok' in proc.stdout


@pytest.mark.slow
def test_train_tool_without_mmcv_ops(setup):  # noqa: F811
    train = f'''
        import runpy, sys
        sys.argv = [{TRAIN!r}] + sys.argv[1:]
        runpy.run_path({TRAIN!r}, run_name='__main__')
    '''
    work_dir = str(setup['root'] / 'no_ops')
    ok = run_without_ops(
        train, setup['cfg'], '--work-dir', work_dir, env=setup['env'])
    assert ok.returncode == 0, ok.stderr[-4000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    dense = run_without_ops(
        train, SETR, '--work-dir', work_dir, env=setup['env'])
    assert dense.returncode != 0
    last = dense.stderr.strip().splitlines()[-1]
    assert last.startswith('mmprompt.utils.dependencies.'
                           'MissingDependencyError: config '), last
    assert 'needs mmsegmentation (segmentation)' in last
    assert 'MMCV_WITH_OPS=1' in last and 'setup_env.sh --profile full' in last
