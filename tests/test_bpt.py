"""BPT: generators, BilinearPromptViT, BPTWhiteningHook,
parameter counts, burstiness analysis."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint, save_checkpoint
from mmpretrain.models import VisionTransformer

import mmprompt  # noqa: F401
from mmprompt.core import PromptViT
from mmprompt.core.data_init import sample_indices
from mmprompt.methods.bpt import (BilinearPrompt, BilinearPromptViT,
                                  BPTWhiteningHook, WhitenedPrompt,
                                  bpt_whitening_hook, burstiness_stats)
from mmprompt.methods.bpt import check as bpt_check
from mmprompt.methods.bpt import (compute_whitening_statistics,
                                  layer_burstiness_values)
from mmprompt.methods.bpt import recipe as bpt_recipe
from mmprompt.methods.bpt import whitening_matrix
from mmprompt.recipes import VIT_PRETRAINS
from mmprompt.registry import HOOKS
from helpers import (TINY_VIT, bad_input_params, call, check_bad_input, text,
                     tiny_bpt)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = dict(TINY_VIT, num_layers=2)
KW = dict(arch=TINY, img_size=32, patch_size=8)
D = 32
NUM_CLASSES, IMGS_PER_CLASS = 4, 6
COLOURS = [(220, 40, 40), (40, 220, 40), (40, 40, 220), (220, 220, 40)]


def tiny(**kwargs):
    torch.manual_seed(0)
    model = BilinearPromptViT(**{**KW, **kwargs})
    model.init_weights()
    return model.eval()


def ln1_inputs_reference(model, x):
    """Attention inputs (after ln1) of each layer, read with forward hooks
    from mmpretrain's own VisionTransformer holding the same weights."""
    vit = VisionTransformer(**KW)
    incompatible = vit.load_state_dict(model.state_dict(), strict=False)
    assert incompatible.unexpected_keys == [] or all(
        k.startswith('prompts.') for k in incompatible.unexpected_keys)
    vit.eval()
    seen = {}
    handles = [
        layer.ln1.register_forward_hook(
            lambda m, i, o, l=l: seen.__setitem__(l, o.detach()))
        for l, layer in enumerate(vit.layers)
    ]
    with torch.no_grad():
        vit(x)
    for h in handles:
        h.remove()
    return {l: v.double().numpy() for l, v in seen.items()}


def numpy_whitening(qkv_weight,
                    xs,
                    eps,
                    convention='row_vector',
                    average=False):
    """Direct numpy ZCA of Sigma from M_i = W_q W_k^T X_i^T."""
    w = qkv_weight.detach().double().numpy()
    wq_lin, wk_lin = w[:D], w[D:2 * D]
    if convention == 'row_vector':  # q = x Wq, Wq = Wq_lin^T
        wq, wk = wq_lin.T, wk_lin.T
        qk = wq @ wk.T
    else:
        qk = wq_lin @ wk_lin.T
    ms = [qk @ x.T for x in xs]  # each D x T
    T = xs[0].shape[0]
    if average:  # the released code: n = Mbar.size(0), the D rows
        mbar = sum(ms) / len(ms)
        sigma = mbar @ mbar.T / mbar.shape[0]
    else:
        sigma = sum(m @ m.T for m in ms) / (len(ms) * T)
    s, u = np.linalg.eigh(sigma)
    s = np.clip(s, 0, None)
    return u @ np.diag((s + eps)**-0.5) @ u.T, sigma


# ------------------------------------------------------- parameter counts
@pytest.mark.parametrize('variant,kwargs,expected', [
    ('fwhiten', {}, 76_800),
    ('twhiten', {}, 666_624),
    ('bilinear', dict(width=25), 21_700),
    ('bilinear', dict(width=50), 43_400),
    ('bilinear', dict(width=75), 65_100),
    ('bilinear', dict(width=100), 86_800),
    ('bilinear', dict(width=75, num_prompts=64), 62_400),
    ('bilinear', dict(width=75, num_prompts=81), 63_675),
    ('bilinear', dict(width=75, num_prompts=144), 68_400),
    ('bilinear', dict(width=75, num_prompts=196), 72_300),
])
def test_parameter_counts_design_section_3(variant, kwargs, expected):
    """The BPT paper's counts, ViT-B, shallow, 100 prompts unless stated
    (x 10^4: 7.68, 66.66, 2.17/4.34/6.51/8.68, 6.24/6.37/6.51/6.84/7.23)."""
    kwargs = dict(kwargs)
    m = kwargs.pop('num_prompts', 100)
    with torch.device('meta'):  # shapes only: no memory, no init time
        model = BilinearPromptViT(
            arch='b',
            num_prompts=m,
            prompt_mode='shallow',
            variant=variant,
            **kwargs)
        vpt = PromptViT(arch='b', num_prompts=100, prompt_mode='shallow')
    assert model.embed_dims == 768 and model.num_layers == 12
    # the count from the definition: A (M x c) + B (c x D), or A (M x D)
    # (+ W (D x D) when tuned); D = 768
    if variant == 'bilinear':
        c = kwargs['width']
        by_definition = m * c + c * 768
    else:
        by_definition = m * 768 + (768 * 768 if variant == 'twhiten' else 0)
    assert model.trainable_parameter_count() == by_definition == expected
    assert round(expected / 1e4, 2) == {
        21_700: 2.17,
        43_400: 4.34,
        65_100: 6.51,
        86_800: 8.68,
        62_400: 6.24,
        63_675: 6.37,
        68_400: 6.84,
        72_300: 7.23,
        76_800: 7.68,
        666_624: 66.66
    }[expected]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(n.startswith('prompts.0.') for n in trainable)
    assert vpt.trainable_parameter_count() == 76_800


# ------------------------------------------------------------- generators
def test_generators_compute_their_products():
    torch.manual_seed(0)
    g = BilinearPrompt(num_tokens=7, embed_dims=D, width=5)
    assert g.a.shape == (7, 5) and g.b.shape == (5, D)
    torch.testing.assert_close(g(), g.a @ g.b)
    assert g.a.std().item() == pytest.approx(0.02, rel=0.5)
    bound = (6 / (5 + D))**0.5
    assert g.b.abs().max() <= bound and g.b.abs().max() > 0.5 * bound

    w = torch.randn(D, D)
    f = WhitenedPrompt(num_tokens=3, embed_dims=D)
    with pytest.raises(RuntimeError, match='BPTWhiteningHook'):
        f()
    f.set_whitening(w)
    torch.testing.assert_close(f(), f.a @ w)
    assert 'whitening' in dict(f.named_buffers())
    assert {n for n, _ in f.named_parameters()} == {'a'}
    t = WhitenedPrompt(num_tokens=3, embed_dims=D, trainable=True)
    t.set_whitening(w)
    assert {n for n, _ in t.named_parameters()} == {'a', 'whitening'}
    t().sum().backward()
    assert t.whitening.grad is not None and t.a.grad is not None

    b = BilinearPrompt(
        num_tokens=4, embed_dims=D, width=6, b_init='whitening', seed=3)
    with pytest.raises(RuntimeError, match='BPTWhiteningHook'):
        b()
    b.set_whitening(w)
    rows = b.whitening_rows()
    assert len(set(rows.tolist())) == 6
    torch.testing.assert_close(b.b.detach(), w[rows])
    torch.testing.assert_close(b(), b.a @ w[rows])


@pytest.mark.parametrize('mode,num_prompts', [('deep', [3, 5]), ('shallow', 7),
                                              ('deep', 0)])
@pytest.mark.parametrize('variant', ['bilinear', 'fwhiten', 'twhiten'])
def test_bpt_backbone_equals_vpt_with_generated_tokens(variant, mode,
                                                       num_prompts):
    """Any (non-square, uneven) count; the backbone is PromptViT with the
    generators' tokens."""
    model = tiny(
        variant=variant,
        width=6,
        prompt_mode=mode,
        num_prompts=num_prompts,
        out_type='raw')
    for g in model.prompts:
        if hasattr(g, 'whitening'):
            g.set_whitening(torch.randn(D, D) * 0.1)
    vpt = PromptViT(
        **KW, prompt_mode=mode, num_prompts=num_prompts, out_type='raw')
    state = {
        k: v
        for k, v in model.state_dict().items() if not k.startswith('prompts.')
    }
    state.update({
        f'prompts.{i}.tokens': g().detach()
        for i, g in enumerate(model.prompts)
    })
    vpt.load_state_dict(state)
    vpt.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x)[0], vpt(x)[0])
    assert type(model).__name__ == 'BilinearPromptViT'
    assert isinstance(model, PromptViT)


# -------------------------------------------------------------- whitening
@pytest.mark.parametrize('qk_product', ['row_vector', 'transposed'])
@pytest.mark.parametrize('average', [False, True])
def test_whitening_matches_numpy(qk_product, average):
    model = tiny(variant='fwhiten', prompt_mode='deep', num_prompts=2)
    torch.manual_seed(1)
    x = torch.randn(6, 3, 32, 32)
    eps = 1e-3
    stats = compute_whitening_statistics(
        model, [x[:4], x[4:]], [0, 1],
        average_images=average,
        qk_product=qk_product)
    ref_x = ln1_inputs_reference(model, x)
    for l in (0, 1):
        expected, sigma_np = numpy_whitening(model.layers[l].attn.qkv.weight,
                                             list(ref_x[l]), eps, qk_product,
                                             average)
        assert stats[l].num_images == 6
        assert stats[l].num_token_vectors == (17 if average else 6 * 17)
        sigma = stats[l].covariance()
        np.testing.assert_allclose(
            sigma.numpy(),
            sigma_np,
            rtol=1e-5,
            atol=1e-7 * abs(sigma_np).max())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            w = whitening_matrix(sigma, eps, stats[l].num_token_vectors)
        # 17 tokens < D=32 when images are averaged first: Sigma singular
        assert bool(caught) == average
        np.testing.assert_allclose(
            w.numpy(), expected, rtol=1e-4, atol=1e-6 * abs(expected).max())


def test_whitened_sigma_is_identity_on_its_range():
    model = tiny(variant='fwhiten', num_prompts=1)
    torch.manual_seed(2)
    x = torch.randn(8, 3, 32, 32)
    for average in (False, True):
        stats = compute_whitening_statistics(model, [x], [0, 1], average)
        for l in (0, 1):
            sigma = stats[l].covariance()
            eps = 1e-6 * float(torch.linalg.eigvalsh(sigma).max())
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                w = whitening_matrix(sigma, eps, stats[l].num_token_vectors)
            s, u = torch.linalg.eigh(sigma)
            rng = u[:, s > 1e3 * eps]  # the range of Sigma
            whitened = rng.t() @ w @ sigma @ w.t() @ rng
            # LayerNorm output is centred (rank <= D - 1 with the default
            # affine); averaging first leaves rank <= T = 17
            assert 10 <= rng.shape[1] <= (17 if average else D - 1)
            torch.testing.assert_close(
                whitened,
                torch.eye(rng.shape[1], dtype=torch.float64),
                rtol=0,
                atol=2e-3)


def test_few_tokens_warn_stating_eps():
    sigma = torch.diag(torch.tensor([4., 1., 0., 0.], dtype=torch.float64))
    with pytest.warns(
            UserWarning, match=r'eps=0\.01 .*rank <= 2|'
            r'rank <= 2.*eps=0\.01'):
        w = whitening_matrix(sigma, 0.01, num_token_vectors=2)
    torch.testing.assert_close(
        torch.diag(w),
        torch.tensor([4.01, 1.01, 0.01, 0.01], dtype=torch.float64)**-0.5)
    with pytest.raises(ValueError, match='eps must be > 0, got eps=0'):
        whitening_matrix(sigma, 0)


# ------------------------------------------------------------ bad inputs
@pytest.mark.parametrize('kwargs,match', [
    (dict(width=0), r'width must be an int in \[1, embed_dims=32\], '
     r'got width=0'),
    (dict(width=33), r'got width=33'),
    (dict(width=2.5), r'got width=2.5'),
    (dict(variant='lowrank'), r"Unknown variant 'lowrank'"),
    (dict(width=4,
          bilinear_init='orthogonal'), r"Unknown bilinear_init 'orthogonal'"),
    (dict(prompt_cfg=dict(type='mmprompt.PromptTokens')),
     r"builds prompt_cfg from variant='bilinear'"),
])
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BilinearPromptViT(**KW, **kwargs)


def test_bad_whitening_inputs(tmp_path):
    g = WhitenedPrompt(num_tokens=2, embed_dims=D)
    with pytest.raises(
            ValueError,
            match=r'whitening matrix must be '
            r'\(32, 32\) for embed_dims=32, got \(16, 16\)'):
        g.set_whitening(torch.eye(16))
    with pytest.raises(RuntimeError, match="b_init='xavier'"):
        BilinearPrompt(2, D, width=4).set_whitening(torch.eye(D))
    # a checkpoint whose whitening matrices have another dimension
    small = BilinearPromptViT(
        arch=dict(TINY, embed_dims=16, num_heads=2),
        img_size=32,
        patch_size=8,
        variant='fwhiten',
        num_prompts=2)
    for g in small.prompts:
        g.set_whitening(torch.eye(16))
    path = str(tmp_path / 'w16.pth')
    save_checkpoint(
        {
            'state_dict': {
                k: v
                for k, v in small.state_dict().items()
                if k.startswith('prompts.')
            }
        }, path)
    model = tiny(variant='fwhiten', num_prompts=2)
    with pytest.raises(
            ValueError,
            match=r'prompts\.0\.whitening: '
            r'checkpoint \(16, 16\) vs model \(32, 32\)'):
        load_checkpoint(model, path)
    with pytest.raises(ValueError, match=r"Unknown qk_product 'qk'"):
        BPTWhiteningHook(qk_product='qk')
    with pytest.raises(
            ValueError, match=r'num_images must be an int >= 1, '
            r'got 0'):
        BPTWhiteningHook(num_images=0)
    with pytest.raises(
            ValueError,
            match=r'num_images=30 but the training '
            r'set has 24 images'):
        sample_indices(24, 30, 0)


# ---------------------------------------------------------- Runner tests
@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from PIL import Image
    root = tmp_path_factory.mktemp('bpt_data')
    rng = np.random.RandomState(0)
    for c, colour in enumerate(COLOURS):
        (root / f'class_{c}').mkdir()
        for i in range(IMGS_PER_CLASS):
            img = np.array(colour, np.float64) + rng.uniform(
                -60, 60, (32, 32, 3))
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
                root / f'class_{c}' / f'{i}.png')
    return str(root)


CONFIG = '''
custom_imports = dict(imports=['mmprompt'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor', num_classes=4,
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True),
    backbone=dict(
        type='mmprompt.BilinearPromptViT',
        arch=dict(embed_dims=32, num_layers=2, num_heads=4,
                  feedforward_channels=64),
        img_size=32, patch_size=8, num_prompts=3, prompt_mode='deep',
        variant='fwhiten'),
    neck=None,
    head=dict(type='LinearClsHead', num_classes=4, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root={data_root!r},
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='PackInputs')]))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
train_cfg = dict(by_epoch=True, max_epochs=1)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='mmprompt.BPTWhiteningHook', num_images=20,
                     eps=1e-4, batch_size=8)]
env_cfg = dict(dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0)
'''


@pytest.fixture(scope='module')
def config_file(data_root, tmp_path_factory):
    path = tmp_path_factory.mktemp('bpt_cfg') / 'tiny_bpt.py'
    path.write_text(CONFIG.format(data_root=data_root))
    return str(path)


def run_runner(config_file, work_dir, name, **options):
    cfg = Config.fromfile(config_file)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def whitenings(state, prefix='backbone.'):
    return {
        k: v
        for k, v in state.items()
        if k.startswith(prefix + 'prompts.') and 'whitening' in k
    }


@pytest.mark.slow
def test_hook_in_runner_resume_keeps_matrix(config_file, tmp_path,
                                            monkeypatch):
    calls = []
    real = bpt_whitening_hook.fit_whitening

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(bpt_whitening_hook, 'fit_whitening', counting)
    work = tmp_path / 'A'
    runner = run_runner(config_file, work, 'bpt_a')
    assert calls == [1]
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu')
    ws = whitenings(ckpt['state_dict'])
    assert set(ws) == {
        'backbone.prompts.0.whitening', 'backbone.prompts.1.whitening',
        'backbone.prompts.0.whitening_ready',
        'backbone.prompts.1.whitening_ready'
    }

    # The matrix is the formula on the hook's 20 images, through the
    # model's preprocessor, against numpy.
    model = runner.model
    dataset = runner.train_dataloader.dataset
    idx = sample_indices(len(dataset), 20, 0)
    from mmengine.dataset import pseudo_collate
    x = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in idx]), False)['inputs']
    ref_x = ln1_inputs_reference(model.backbone, x)
    for l in (0, 1):
        expected, _ = numpy_whitening(model.backbone.layers[l].attn.qkv.weight,
                                      list(ref_x[l]), 1e-4)
        got = ws[f'backbone.prompts.{l}.whitening'].double().numpy()
        np.testing.assert_allclose(
            got, expected, rtol=1e-4, atol=1e-5 * abs(expected).max())
        assert ws[f'backbone.prompts.{l}.whitening_ready'] == 1

    # Resume with another sample size: the checkpoint's matrix is kept, the
    # statistics are not recomputed, and the run continues.
    run_runner(
        config_file,
        work,
        'bpt_a_resume',
        resume=True,
        train_cfg=dict(max_epochs=2),
        custom_hooks=[
            dict(type='mmprompt.BPTWhiteningHook', num_images=5, eps=1e-2)
        ])
    assert calls == [1]
    second = torch.load(work / 'epoch_2.pth', map_location='cpu')
    assert second['meta']['epoch'] == 2
    for k, v in ws.items():
        assert torch.equal(second['state_dict'][k], v), k
    a0 = 'backbone.prompts.0.a'
    assert not torch.equal(second['state_dict'][a0], ckpt['state_dict'][a0])

    # load_from (a new run from the checkpoint) does not recompute either.
    run_runner(
        config_file,
        tmp_path / 'B',
        'bpt_b',
        load_from=str(work / 'epoch_1.pth'))
    assert calls == [1]


def test_hook_refuses_models_without_whitening(config_file, tmp_path):
    with pytest.raises(ValueError, match='no prompt generator'):
        run_runner(
            config_file,
            tmp_path / 'C',
            'bpt_c',
            model=dict(backbone=dict(variant='bilinear', width=4)))


def test_bilinear_whitening_init_in_runner(config_file, tmp_path):
    """bilinear_init='whitening': B = rows of the data's whitening matrix."""
    runner = run_runner(
        config_file,
        tmp_path / 'W',
        'bpt_w',
        model=dict(
            backbone=dict(
                variant='bilinear', width=5, bilinear_init='whitening')),
        optim_wrapper=dict(optimizer=dict(lr=0.)))
    model = runner.model
    dataset = runner.train_dataloader.dataset
    from mmengine.dataset import pseudo_collate
    idx = sample_indices(len(dataset), 20, 0)
    x = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in idx]), False)['inputs']
    ref_x = ln1_inputs_reference(model.backbone, x)
    state = torch.load(
        tmp_path / 'W' / 'epoch_1.pth', map_location='cpu')['state_dict']
    for l in (0, 1):
        gen = model.backbone.prompts[l]
        expected, _ = numpy_whitening(model.backbone.layers[l].attn.qkv.weight,
                                      list(ref_x[l]), 1e-4)
        rows = gen.whitening_rows().numpy()
        np.testing.assert_allclose(
            state[f'backbone.prompts.{l}.b'].double().numpy(),
            expected[rows],
            rtol=1e-4,
            atol=1e-5 * abs(expected).max())
        assert state[f'backbone.prompts.{l}.whitening_ready'] == 1


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_processes_give_the_one_process_matrix(config_file, tmp_path):
    """tWhiten (W a parameter) set from the all-reduced statistics: 2 ranks
    give the matrix of 1 process."""
    opts = [
        'model.backbone.variant=twhiten', 'train_cfg.max_epochs=1',
        'optim_wrapper.optimizer.lr=0.'
    ]
    env = dict(
        os.environ,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1',
        PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join([REPO] +
                                   ([os.environ['PYTHONPATH']] if os.environ.
                                    get('PYTHONPATH') else [])))
    work2 = tmp_path / 'two'
    proc = subprocess.run(
        [
            'bash',
            osp.join(REPO, 'tools', 'dist_train.sh'), config_file, '2',
            '--work-dir',
            str(work2), '--cfg-options'
        ] + opts,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-5000:]
    log = proc.stdout + proc.stderr
    assert 'from 20 images (2 process(es))' in log, log[-3000:]
    two = torch.load(work2 / 'epoch_1.pth', map_location='cpu')
    run_runner(
        config_file,
        tmp_path / 'one',
        'bpt_one',
        model=dict(backbone=dict(variant='twhiten')),
        optim_wrapper=dict(optimizer=dict(lr=0.)))
    one = torch.load(tmp_path / 'one' / 'epoch_1.pth', map_location='cpu')
    w1, w2 = whitenings(one['state_dict']), whitenings(two['state_dict'])
    assert set(w1) == set(w2) and len(w1) == 4
    for k in w1:
        torch.testing.assert_close(
            w2[k], w1[k], rtol=1e-5, atol=1e-6 * w1[k].abs().max().item())
    # the matrices differ between layers and from identity
    assert not torch.allclose(w1['backbone.prompts.0.whitening'],
                              w1['backbone.prompts.1.whitening'])


# ------------------------------------------------------------ burstiness
def test_burstiness_stats_match_direct_formula():
    rng = np.random.RandomState(0)
    v = rng.standard_t(3, size=5000)
    s = burstiness_stats(torch.from_numpy(v))
    mu, sd = v.mean(), v.std()
    assert s['kurtosis'] == pytest.approx(((v - mu)**4).mean() / sd**4)
    assert s['beyond_3sigma'] == pytest.approx((np.abs(v - mu)
                                                > 3 * sd).mean())
    g = burstiness_stats(torch.from_numpy(rng.randn(200_000)))
    assert g['kurtosis'] == pytest.approx(3., abs=0.05)
    assert g['beyond_3sigma'] == pytest.approx(0.0027, abs=0.0005)


def test_layer_burstiness_values_match_direct_computation():
    model = tiny(variant='fwhiten', num_prompts=2)
    torch.manual_seed(3)
    x = torch.randn(5, 3, 32, 32)
    w = {1: torch.randn(D, D, dtype=torch.float64)}
    values = layer_burstiness_values(model, [x[:2], x[2:]], [0, 1], w)
    ref_x = ln1_inputs_reference(model, x)
    for l in (0, 1):
        qkv = model.layers[l].attn.qkv.weight.detach().double().numpy()
        qk = qkv[:D].T @ qkv[D:2 * D]
        ms = np.stack([qk @ xi.T for xi in ref_x[l]])  # (N, D, T)
        np.testing.assert_allclose(values[l]['qk'].numpy(), qk.ravel())
        np.testing.assert_allclose(
            values[l]['x'].numpy(), ref_x[l].ravel(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            values[l]['qkx'].numpy(), ms.ravel(), rtol=1e-5, atol=1e-5)
    wn = w[1].numpy()
    np.testing.assert_allclose(
        values[1]['qk_whitened'].numpy(), (wn @ qk).ravel(), rtol=1e-6)
    np.testing.assert_allclose(
        values[1]['qkx_whitened'].numpy(),
        np.einsum('ed,ndt->net', wn, ms).ravel(),
        rtol=1e-4,
        atol=1e-4)
    assert 'qkx_whitened' not in values[0]


@pytest.mark.slow
def test_burstiness_tool(config_file, tmp_path):
    work = tmp_path / 'run'
    run_runner(config_file, work, 'bpt_tool')
    out = tmp_path / 'out'
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'analysis', 'burstiness.py'), config_file,
        str(work / 'epoch_1.pth'), '--num-images', '6', '--out-dir',
        str(out)
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert sorted(
        os.listdir(out)) == ['burstiness.json', 'layer_0.png', 'layer_1.png']
    for png in ('layer_0.png', 'layer_1.png'):
        with open(out / png, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    table = json.loads((out / 'burstiness.json').read_text())
    assert table['whitening'] == {'0': 'checkpoint', '1': 'checkpoint'}
    lines = [
        l for l in proc.stdout.splitlines()
        if l.endswith('  checkpoint') and l.split()[0].isdigit()
    ]
    assert len(lines) == 2 * 5
    # the printed kurtosis is the library's on the same images
    cfg = Config.fromfile(config_file)
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, MODELS, init_default_scope
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(work / 'epoch_1.pth'))
    model.eval()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    idx = sample_indices(len(dataset), 6, 0)
    x = model.data_preprocessor(
        pseudo_collate([dataset[i] for i in idx]), False)['inputs']
    ws = {l: model.backbone.prompts[l].whitening.detach() for l in (0, 1)}
    values = layer_burstiness_values(model.backbone, [x], [0, 1], ws)
    for l in (0, 1):
        for name, v in values[l].items():
            expected = burstiness_stats(v)
            got = table['layers'][str(l)][name]
            assert got['kurtosis'] == pytest.approx(
                expected['kurtosis'], rel=1e-6)
            assert got['beyond_3sigma'] == pytest.approx(
                expected['beyond_3sigma'])
        assert f'{table["layers"][str(l)]["qkx"]["kurtosis"]:.3f}' in \
            proc.stdout


@pytest.mark.slow
def test_check_whitening_tool(config_file, tmp_path):
    """On the images and pipeline of the fit, the run's matrix is the refit
    one and W Sigma W has the eigenvalues s / (s + eps) of ZCA."""
    work = tmp_path / 'run'
    run_runner(config_file, work, 'bpt_check')
    tool = bpt_check
    cfg = Config.fromfile(config_file)
    report = tool.check(cfg, str(work / 'epoch_1.pth'))
    assert sorted(report) == [0, 1]
    for r in report.values():
        assert r['eps'] == 1e-4 and r['num_images'] == 20
        s = r['sigma_eig_max']
        assert r['eig_max'] == pytest.approx(s / (s + 1e-4), rel=1e-4)
        assert r['eig_max'] == pytest.approx(r['refit_eig_max'], rel=1e-4)
        assert r['eig_median'] == pytest.approx(
            r['refit_eig_median'], rel=1e-3)
        assert 0.99 < r['eig_max'] <= 1. + 1e-6
    # a tuned matrix is no longer the fitted one: nothing to check
    cfg.model.backbone.variant = 'twhiten'
    with pytest.raises(ValueError, match='no layer holds a fixed whitening'):
        tool.check(cfg, str(work / 'epoch_1.pth'))


# ---------------------------------------------------------------- recipes
def _recipe_files(folder):
    root = osp.join(REPO, 'configs', folder)
    return sorted(
        p for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)
        if not osp.basename(p).startswith('_base_'))


@pytest.mark.slow
def test_bpt_recipes_build_with_expected_counts():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    files = _recipe_files('bpt')
    # shallow/deep x the generator's ViT pretrainings x 5 FGVC, 4 prompt
    # counts, 4 widths, fWhiten and tWhiten
    assert len(files) == 2 * len(VIT_PRETRAINS) * 5 + 4 + 4 + 2
    init_default_scope('mmpretrain')
    for path in files:
        cfg = Config.fromfile(path)
        bb = cfg.model.backbone
        hooks = [h.type for h in cfg.custom_hooks]
        whitened = bb.variant != 'bilinear' or \
            bb.bilinear_init == 'whitening'
        assert ('mmprompt.BPTWhiteningHook' in hooks) == whitened, path
        if whitened:
            assert cfg.custom_hooks[0].qk_product == 'row_vector'
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
        m = bb.num_prompts
        layers = 12 if bb.prompt_mode == 'deep' else 1
        # the released deep scripts train B of layers 8-11 only
        assert bb.get('trainable_factor_layers') == ((8, 9, 10,
                                                      11) if bb.prompt_mode
                                                     == 'deep' else None), path
        if bb.get('bilinear_init') == 'whitening':
            assert bb.bilinear_whitening_subset == 'per_column', path
        b_layers = 4 if bb.prompt_mode == 'deep' else layers
        if bb.variant == 'bilinear':
            expected = layers * m * bb.width + b_layers * bb.width * 768
        else:
            expected = layers * (
                m * 768 + (768 * 768 if bb.variant == 'twhiten' else 0))
        head = sum(p.numel() for p in model.head.parameters())
        assert model.backbone.trainable_parameter_count() == expected, path
        assert head == 768 * cfg.model.head.num_classes + \
            cfg.model.head.num_classes
        head_wd = cfg.optim_wrapper.paramwise_cfg.custom_keys[
            'head.fc.weight'].weight_decay
        assert head_wd > 1e-4, f'{path}: the official head weight decay'


def test_bpt_recipes_take_the_official_per_dataset_settings():
    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs/bpt/bpt-shallow/'
            'bpt-shallow_vit-b16-mocov3_fgvc-nabirds.py'))
    # script/MoCo-IN1K/NABirds555.sh: lr 5e-2, wd 1e-3, wd_head 0.05
    assert cfg.optim_wrapper.optimizer.lr == 5e-2
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-3
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys[
        'head.fc.weight'].weight_decay == 0.05
    assert (cfg.model.backbone.num_prompts, cfg.model.backbone.width,
            cfg.model.backbone.bilinear_init) == (100, 75, 'xavier')
    # MAE: B from the whitening matrix; deep: 50 prompts of width 50
    cfg = Config.fromfile(
        osp.join(REPO,
                 'configs/bpt/bpt-deep/bpt-deep_vit-b16-mae_fgvc-cub.py'))
    assert (cfg.model.backbone.num_prompts, cfg.model.backbone.width,
            cfg.model.backbone.bilinear_init) == (50, 50, 'whitening')
    assert cfg.model.backbone.out_type == 'avg_all'
    # a cell without an official script says what stands in for it
    settings, note = bpt_recipe.bpt_settings('vit-b16-mocov3', 'shallow',
                                             'cars')
    assert settings == bpt_recipe.BPT_FGVC[('vit-b16-mocov3',
                                            'shallow')]['dogs']
    assert 'no official script' in note
    with open(
            osp.join(
                REPO, 'configs/bpt/bpt-shallow/'
                'bpt-shallow_vit-b16-mocov3_fgvc-cars.py')) as f:
        assert 'no official script for cars' in f.read()


# ------------------------------------------------------------ bad input
def bpt_whitening_checkpoint_wrong_dim(tmp_path, monkeypatch):
    small = tiny_bpt(
        arch=dict(TINY_VIT, embed_dims=16, num_heads=2),
        variant='fwhiten',
        num_prompts=2)
    for g in small.prompts:
        g.set_whitening(torch.eye(16))
    path = str(tmp_path / 'whitening16.pth')
    save_checkpoint(
        {
            'state_dict': {
                k: v
                for k, v in small.state_dict().items()
                if k.startswith('prompts.')
            }
        }, path)
    load_checkpoint(tiny_bpt(variant='fwhiten', num_prompts=2), path)


def bpt_whitening_few_tokens(tmp_path, monkeypatch):
    sigma = torch.diag(torch.tensor([4., 1., 0., 0.], dtype=torch.float64))
    whitening_matrix(sigma, 0.01, num_token_vectors=2)


# (id, expected exception or warning, pattern of its message, action)
BAD_INPUT = [
    ('bpt-width-zero', ValueError,
     text('width must be an int in [1, embed_dims=32], got width=0'),
     call(tiny_bpt, width=0)),
    ('bpt-width-above-embed-dims', ValueError,
     text('width must be an int in [1, embed_dims=32], got width=33'),
     call(tiny_bpt, width=33)),
    ('bpt-variant-unknown', ValueError,
     text("Unknown variant 'lowrank'; choose from", 'bilinear', 'fwhiten',
          'twhiten'), call(tiny_bpt, variant='lowrank')),
    ('bpt-whitening-eps-not-positive', ValueError,
     text('eps must be > 0, got eps=0'),
     call(HOOKS.build, dict(type='mmprompt.BPTWhiteningHook', eps=0))),
    ('bpt-whitening-num_images-zero', ValueError,
     text('num_images must be an int >= 1, got 0'),
     call(HOOKS.build, dict(type='mmprompt.BPTWhiteningHook', num_images=0))),
    ('bpt-whitening-few-tokens-warns-eps', UserWarning,
     text('from 2 token vectors, fewer than embed_dims=4',
          'eps=0.01'), bpt_whitening_few_tokens),
    ('bpt-whitening-checkpoint-wrong-dim', ValueError,
     text('prompts.0.whitening: checkpoint (16, 16) vs model (32, 32)'),
     bpt_whitening_checkpoint_wrong_dim),
]


@bad_input_params(BAD_INPUT)
def test_bad_input(expected, pattern, action, tmp_path, monkeypatch):
    check_bad_input(expected, pattern, action, tmp_path, monkeypatch)
