"""Does a model's BPT whitening matrix whiten what it was fitted on?

    python tools/analysis/check_whitening.py CONFIG CHECKPOINT
        [--num-images 100] [--split train] [--out JSON] [--cfg-options ...]

For every layer whose prompt generator holds a *fixed* whitening matrix
``W`` (BPT-fWhiten; tWhiten tunes ``W`` and bilinear prompts train ``B``
from it, so neither keeps the fitted matrix), this recomputes the statistics
``Sigma`` of the config's BPTWhiteningHook (same formula, images, eps and
``W_q W_k^T`` product) from the config's training images with the test
pipeline, and reports the spectrum of ``W Sigma W``: all ones when ``W``
whitens ``Sigma`` (up to eps and the hook's random flips, which this check
leaves out). A freshly fitted matrix on the same ``Sigma`` is the reference.
It is one of the checks that tell a failing BPT claim from a defect.
"""
import argparse
import json

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import DATASETS, init_default_scope
from mmengine.runner import load_checkpoint

import mmprompt  # noqa: F401
from mmprompt.core.data_init import (input_batches, prompted_backbone,
                                     sample_indices)
from mmprompt.methods.bpt import compute_whitening_statistics  # noqa
from mmprompt.methods.bpt import WhitenedPrompt, whitening_matrix
from mmprompt.methods.bpt.bpt_whitening_hook import whitening_hook_cfg
from mmprompt.utils import build_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--num-images',
        type=int,
        default=None,
        help="default: the config's BPTWhiteningHook num_images")
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--split', default='train', choices=['train', 'val'])
    parser.add_argument('--out', help='write the report as JSON here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def spectrum(w, sigma):
    """Eigenvalues of ``W Sigma W`` (ascending) and max |W Sigma W - I|."""
    m = w @ sigma @ w
    m = (m + m.t()) / 2
    eye = torch.eye(m.shape[0], dtype=m.dtype)
    return torch.linalg.eigvalsh(m), float((m - eye).abs().max())


def check(cfg, checkpoint, num_images=None, batch_size=16, split='train'):
    """``{layer: report}`` of every fixed whitening matrix of the model."""
    hook = whitening_hook_cfg(cfg)
    if hook is None:
        raise ValueError(f'{cfg.filename}: no BPTWhiteningHook in '
                         'custom_hooks: the model has no fitted whitening')
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = build_model(cfg)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='current')
    model.eval()
    backbone = prompted_backbone(model)
    fixed = {
        i: g.whitening.detach().double()
        for i, g in enumerate(backbone.prompts)
        if isinstance(g, WhitenedPrompt) and not g.trainable
    }
    if not fixed:
        raise ValueError(f'{checkpoint}: no layer holds a fixed whitening '
                         "matrix (variant='fwhiten'); tWhiten and bilinear "
                         'prompts train what the whitening initialised')
    dataset_cfg = cfg[f'{split}_dataloader'].dataset.copy()
    if cfg.get('test_dataloader'):  # no random flips
        dataset_cfg.pipeline = cfg.test_dataloader.dataset.pipeline
    dataset = DATASETS.build(dataset_cfg)
    num_images = num_images or hook.get('num_images', 100)
    indices = sample_indices(len(dataset), num_images, hook.get('seed', 0))
    eps = hook.get('eps', 1e-5)
    with torch.no_grad():
        stats = compute_whitening_statistics(
            backbone, input_batches(model, dataset, indices, batch_size),
            fixed, hook.get('average_images', False),
            hook.get('qk_product', 'row_vector'))
    report = {}
    for layer, w in fixed.items():
        sigma = stats[layer].covariance().double()
        eig, err = spectrum(w, sigma)
        ref_eig, ref_err = spectrum(
            whitening_matrix(sigma, eps, stats[layer].num_token_vectors),
            sigma)
        s = torch.linalg.eigvalsh((sigma + sigma.t()) / 2)
        with torch.no_grad():
            prompts = backbone.prompts[layer]()
        report[layer] = dict(
            # what the prompts became: whitening scales Sigma's near-null
            # directions by up to eps^-1/2
            prompt_norm_median=float(prompts.norm(dim=-1).median()),
            sigma_eig_max=float(s[-1]),
            sigma_eig_median=float(s.median()),
            sigma_eigs_below_eps=int((s < eps).sum()),
            eps=eps,
            eig_min=float(eig[0]),
            eig_median=float(eig.median()),
            eig_max=float(eig[-1]),
            max_abs_minus_identity=err,
            refit_eig_min=float(ref_eig[0]),
            refit_eig_median=float(ref_eig.median()),
            refit_eig_max=float(ref_eig[-1]),
            refit_max_abs_minus_identity=ref_err,
            num_images=num_images,
            num_token_vectors=stats[layer].num_token_vectors)
    return report


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    report = check(cfg, args.checkpoint, args.num_images, args.batch_size,
                   args.split)
    print('layer | eig(Sigma) max / median, # below eps | eig(W Sigma W) '
          'min / median / max | refit: min / median / max | prompt norm')
    for layer, r in report.items():
        print(f"{layer} | {r['sigma_eig_max']:.4g} / "
              f"{r['sigma_eig_median']:.4g}, {r['sigma_eigs_below_eps']} | "
              f"{r['eig_min']:.4f} / {r['eig_median']:.4f} / "
              f"{r['eig_max']:.4f} | {r['refit_eig_min']:.4f} / "
              f"{r['refit_eig_median']:.4f} / {r['refit_eig_max']:.4f} | "
              f"{r['prompt_norm_median']:.4g}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({str(k): v for k, v in report.items()}, f, indent=2)
    return report
