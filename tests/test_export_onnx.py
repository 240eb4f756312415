"""tools/deployment/export_onnx.py: prompted, BPT, condensed and
prompt-only classifiers to ONNX, checked against PyTorch with onnxruntime;
bad inputs fail with one clear error and leave no file behind."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import mmprompt  # noqa: F401
from mmprompt.methods.pc import condense_prompts
from mmprompt.utils import export_onnx_file as export_onnx
from mmprompt.utils.checkpoint_files import CheckpointFileError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXPORT = osp.join(REPO, 'tools', 'deployment', 'export_onnx.py')
EXPORT_PROMPTS = osp.join(REPO, 'tools', 'export_prompts.py')

CONFIG = '''
custom_imports = dict(imports=['mmprompt'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type={backbone_type!r},
        arch=dict(embed_dims=32, num_layers=3, num_heads=4,
                  feedforward_channels=64),
        img_size=32, patch_size=8, num_prompts=4, prompt_mode='deep',
        {extra}),
    neck=None,
    head=dict(type={head_type!r}, num_classes=5, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))
'''


def write_config(tmp_path,
                 name,
                 backbone_type='mmprompt.PromptViT',
                 extra='',
                 head_type='LinearClsHead'):
    path = tmp_path / f'{name}.py'
    path.write_text(
        CONFIG.format(
            backbone_type=backbone_type, extra=extra, head_type=head_type))
    return str(path)


def build(config, seed=0):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # a "trained" model: prompts and head not at init
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def save(model, path, meta=None):
    torch.save({'meta': meta or {}, 'state_dict': model.state_dict()}, path)
    return str(path)


def onnx_scores(path, x):
    session = ort.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    return session.run(None, {'inputs': x.numpy()})[0]


def check_file(path, model, batch=3):
    """The written graph against the model, at a batch it was not traced
    with; the prompts are folded: no graph input but the images."""
    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == ['inputs']
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param \
        == 'batch'
    x = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        expected = model(x, mode='tensor').numpy()
    np.testing.assert_allclose(
        onnx_scores(path, x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('kind,backbone_type,extra', [
    ('vpt-deep', 'mmprompt.PromptViT', ''),
    ('vpt-shallow', 'mmprompt.PromptViT', "out_type='avg_all'"),
    ('bpt-bilinear', 'mmprompt.BilinearPromptViT',
     "variant='bilinear', width=8"),
])
def test_export_prompted_classifier(tmp_path, kind, backbone_type, extra):
    config = write_config(tmp_path, kind, backbone_type, extra)
    if kind == 'vpt-shallow':
        text = open(config).read().replace("prompt_mode='deep'",
                                           "prompt_mode='shallow'")
        open(config, 'w').write(text)
    model = build(config)
    ckpt = save(model, tmp_path / 'model.pth')
    out = tmp_path / f'{kind}.onnx'
    diff = export_onnx.main([config, ckpt, str(out), '--batch', '2'])
    assert diff < 1e-4
    check_file(out, model)


def test_export_condensed_checkpoint(tmp_path):
    """A condensed checkpoint exports over the uncondensed config: the
    graph runs with the kept prompts only."""
    config = write_config(tmp_path, 'pc')
    model = build(config)
    condense_prompts(model, [
        torch.tensor([1, 3]),
        torch.tensor([0]),
        torch.tensor([], dtype=torch.long)
    ])
    assert model.backbone.num_prompts == [2, 1, 0]
    ckpt = save(model, tmp_path / 'pc.pth')
    out = tmp_path / 'pc.onnx'
    export_onnx.main([config, ckpt, str(out)])
    check_file(out, model)
    # fewer tokens: smaller attention MatMuls than the uncondensed graph
    full = build(config)
    full_out = tmp_path / 'full.onnx'
    export_onnx.main(
        [config, save(full, tmp_path / 'full.pth'),
         str(full_out)])
    sizes = [osp.getsize(out), osp.getsize(full_out)]
    assert sizes[0] < sizes[1]  # 3 of 12 prompt tokens kept as constants


def optimized_op_counts(path, tmp_path):
    """Node counts by op type of the graph onnxruntime runs (its
    hardware-independent optimisations applied)."""
    import collections
    options = ort.SessionOptions()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / 'optimized.onnx')
    ort.InferenceSession(
        str(path), options, providers=['CPUExecutionProvider'])
    graph = onnx.load(options.optimized_model_filepath).graph
    return collections.Counter(node.op_type for node in graph.node)


def test_exported_prefix_adds_no_layout_work(tmp_path):
    """Against the prompt-free graph, VPT-Deep's adds per layer only the
    concatenation of the constant prompt keys and values (an Expand and a
    Concat each): no more transposes, splits, matmuls or layer norms (the
    prompts' norm and projection are constants), nor a scaling of the
    prompt keys."""
    counts = {}
    for kind, prompts in (('prompt-free', 0), ('vpt-deep', 4)):
        config = write_config(tmp_path, kind)
        text = open(config).read().replace('num_prompts=4',
                                           f'num_prompts={prompts}')
        open(config, 'w').write(text)
        model = build(config)
        out = tmp_path / f'{kind}.onnx'
        export_onnx.main(
            [config, save(model, tmp_path / f'{kind}.pth'),
             str(out)])
        counts[kind] = optimized_op_counts(out, tmp_path)
    free, deep = counts['prompt-free'], counts['vpt-deep']
    for op in ('Transpose', 'Split', 'MatMul', 'Softmax',
               'LayerNormalization'):
        assert deep[op] == free[op], (op, deep[op], free[op])
    assert deep['Mul'] <= free['Mul']
    assert deep['Expand'] - free['Expand'] == 2 * 3  # 3 layers


@pytest.mark.slow
def test_export_prompt_only_checkpoint(tmp_path):
    """A prompt-only file (tools/export_prompts.py) goes over the config's
    pretrained backbone."""
    plain = write_config(tmp_path, 'plain')
    model = build(plain)
    backbone_file = tmp_path / 'backbone.pth'
    torch.save(
        {
            'state_dict': {
                k: v
                for k, v in model.backbone.state_dict().items()
                if not k.startswith('prompts.')
            }
        }, backbone_file)
    config = write_config(
        tmp_path,
        'pretrained',
        extra=f"init_cfg=dict(type='Pretrained', "
        f"checkpoint={str(backbone_file)!r})")
    full = save(model, tmp_path / 'full.pth')
    prompts_only = tmp_path / 'prompts.pth'
    subprocess.run(
        [sys.executable, EXPORT_PROMPTS, config, full,
         str(prompts_only)],
        cwd=REPO,
        check=True,
        capture_output=True)
    assert osp.getsize(prompts_only) < osp.getsize(full) / 2
    out = tmp_path / 'prompt_only.onnx'
    proc = subprocess.run(
        [sys.executable, EXPORT, config,
         str(prompts_only),
         str(out)],
        cwd=REPO,
        capture_output=True,
        text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'max |onnxruntime - PyTorch|' in proc.stdout
    check_file(out, model)


def test_bad_inputs_leave_nothing_behind(tmp_path):
    config = write_config(tmp_path, 'vpt')
    model = build(config)
    ckpt = save(model, tmp_path / 'model.pth')
    out = tmp_path / 'model.onnx'
    # a checkpoint of another config (more prompts)
    other = write_config(tmp_path, 'other')
    text = open(other).read().replace('num_prompts=4', 'num_prompts=6')
    open(other, 'w').write(text)
    with pytest.raises(
            ValueError,
            match=r'Prompt shapes of the checkpoint '
            r'differ from the config'):
        export_onnx.main([other, ckpt, str(out)])
    with pytest.raises(
            CheckpointFileError,
            match=r'checkpoint .*missing\.pth: no such file'):
        export_onnx.main([config, str(tmp_path / 'missing.pth'), str(out)])
    with pytest.raises(
            export_onnx.ExportError,
            match=r'the folder .*nowhere does not exist'):
        export_onnx.main([config, ckpt, str(tmp_path / 'nowhere' / 'x.onnx')])
    # a head the exporter cannot trace: its forward raises inside tracing
    untraceable = write_config(
        tmp_path, 'untraceable', head_type='UntraceableHead')
    with pytest.raises(
            export_onnx.ExportError,
            match=r'cannot trace ImageClassifier \(backbone '
            r'PromptViT, head UntraceableHead\) to ONNX: '
            r'RuntimeError: data-dependent'):
        export_onnx.main([untraceable, ckpt, str(out)])
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['vpt.py', 'model.pth', 'other.py', 'untraceable.py'])


from mmpretrain.models.heads import LinearClsHead  # noqa: E402


@MODELS.register_module(force=True)
class UntraceableHead(LinearClsHead):
    """A head whose output depends on Python control flow over values."""

    def forward(self, feats):
        scores = super().forward(feats)
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            raise RuntimeError('data-dependent branch: cannot be traced')
        return scores
