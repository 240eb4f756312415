"""The models the benchmark times: each method on one backbone, and a
minimal hand-written VPT-Deep as the yardstick."""
import time

import torch
import torch.nn as nn
from mmpretrain.models import VisionTransformer

from mmprompt.core import PromptSwin, PromptViT
from mmprompt.methods.bpt import BilinearPromptViT
from mmprompt.methods.bpt import fit_whitening as fit_bpt_whitening
from mmprompt.methods.davpt import GUIDED_TAPS, update_mapping
from mmprompt.methods.pc import condense_prompts, select_prompts

METHODS = ('linear', 'full', 'vpt-shallow', 'vpt-deep', 'vpt-deep-per-image',
           'vpt-deep-recompute-ffn', 'vpt-deep-recompute-ffn-half',
           'vpt-deep-reference', 'bpt-bilinear', 'bpt-fwhiten', 'bpt-twhiten',
           'davpt', 'davpt-plus', 'pc', 'swin', 'vpt-deep-swin')

DEFAULT_METHODS = tuple(m for m in METHODS if 'swin' not in m)


class ReferenceVPTDeep(nn.Module):
    """The least code that is VPT-Deep on mmpretrain's ViT."""

    def __init__(self, vit: VisionTransformer, num_prompts: int):
        super().__init__()
        vit.requires_grad_(False)
        vit.eval()  # (mmpretrain's BaseBackbone.train returns None)
        self.vit = vit
        self.prompts = nn.Parameter(
            torch.zeros(vit.num_layers, num_prompts, vit.embed_dims))
        nn.init.uniform_(self.prompts, -0.0625, 0.0625)

    def train(self, mode=True):
        self.training = mode  # the ViT stays in eval mode
        return self

    def forward(self, x):
        vit, B = self.vit, x.shape[0]
        x, _ = vit.patch_embed(x)
        x = torch.cat([vit.cls_token.expand(B, -1, -1), x], 1) + \
            vit.pos_embed
        m = self.prompts.shape[1]
        for i, layer in enumerate(vit.layers):
            p = self.prompts[i].expand(B, -1, -1)
            x = torch.cat([x[:, :1], p, x[:, 1 + (m if i else 0):]], 1)
            x = layer(x)
        return (vit.ln1(x)[:, 0], )


def build(method, args):
    kw = dict(
        arch=args.arch, img_size=args.img_size, patch_size=args.patch_size)
    if method == 'linear':
        return PromptViT(**kw, num_prompts=0)
    if method == 'full':
        return PromptViT(**kw, num_prompts=0, frozen=False)
    if method == 'vpt-shallow':
        return PromptViT(
            **kw, num_prompts=args.num_prompts, prompt_mode='shallow')
    if method == 'vpt-deep':
        return PromptViT(**kw, num_prompts=args.num_prompts)
    if method == 'vpt-deep-recompute-ffn':
        return PromptViT(
            **kw, num_prompts=args.num_prompts, recompute_ffn=True)
    if method == 'vpt-deep-recompute-ffn-half':
        depth = (PromptViT.arch_zoo[args.arch]
                 if isinstance(args.arch, str) else args.arch)['num_layers']
        return PromptViT(
            **kw,
            num_prompts=args.num_prompts,
            recompute_ffn=list(range(depth // 2)))
    if method == 'vpt-deep-per-image':
        return PromptViT(
            **kw, num_prompts=args.num_prompts, share_prompt_prefix=False)
    if method in ('swin', 'vpt-deep-swin'):
        # (pad_small_map: only small test images have stages below 7x7)
        return PromptSwin(
            arch=args.swin_arch,
            img_size=args.img_size,
            window_size=7,
            pad_small_map=True,
            num_prompts=args.swin_prompts if method != 'swin' else 0)
    if method.startswith('bpt-'):
        # BPT-Deep: only the prompt generators differ from VPT-Deep; the
        # whitening matrices are fitted once on the batch (Bench), as
        # BPTWhiteningHook does on training images before training
        return BilinearPromptViT(
            **kw,
            num_prompts=args.num_prompts,
            variant=method[4:],
            width=args.bpt_width)
    if method == 'vpt-deep-reference':
        return ReferenceVPTDeep(VisionTransformer(**kw), args.num_prompts)
    if method in ('davpt', 'davpt-plus'):
        # DA-VPT's guided layer is the last; DA-VPT+ also tunes the K and V
        # thirds of every fused qkv bias.
        dims = PromptViT.arch_zoo[args.arch]['embed_dims'] \
            if isinstance(args.arch, str) else args.arch['embed_dims']
        rules = [
            dict(name=r'layers\.\d+\.attn\.qkv\.bias', rows=(dims, None))
        ] if method == 'davpt-plus' else []
        model = PromptViT(
            **kw, num_prompts=args.num_prompts, trainable_params=rules)
        model.request_taps(-1, GUIDED_TAPS['paper'])
        return model
    if method == 'pc':
        model = PromptViT(**kw, num_prompts=args.num_prompts)
        g = torch.Generator().manual_seed(0)
        scores = [
            torch.rand(n, generator=g) * (i + 1)
            for i, n in enumerate(model.num_prompts)
        ]
        condense_prompts(model, select_prompts(scores, args.keep_ratio))
        return model
    raise ValueError(f'Unknown method {method!r}; choose from {METHODS}')


def scores(backbone, head, x):
    """Backbone, global average pooling of a feature map (Swin), head."""
    feats = backbone(x)[0]
    if feats.dim() == 4:
        feats = feats.mean((2, 3))
    return head(feats)


class ScoresModule(nn.Module):
    """What the ONNX export traces: :func:`scores` of a bench."""

    def __init__(self, bench):
        super().__init__()
        self.backbone, self.head = bench.backbone, bench.head

    def forward(self, x):
        return scores(self.backbone, self.head, x)


def output_dims(backbone) -> int:
    """Width of the backbone's (pooled) output."""
    if isinstance(backbone, PromptSwin):
        return backbone.num_features[-1]
    return getattr(backbone, 'vit', backbone).embed_dims


def fit_whitening(backbone, x, eps=1e-5):
    """Set every layer's whitening matrix from the tokens of ``x`` (BPT's
    fit, as its hook runs it); returns the seconds it took."""
    start = time.perf_counter()
    matrices, _ = fit_bpt_whitening(backbone.eval(), [x],
                                    range(len(backbone.prompts)), eps)
    for layer, whitening in matrices.items():
        backbone.prompts[layer].set_whitening(whitening.to(x.dtype))
    return time.perf_counter() - start


def mapping_update_seconds(args):
    """The per-epoch cost of DA-VPT's re-mapping (k-means on class means,
    warm-started), separate from the training step."""
    g = torch.Generator().manual_seed(0)
    dims = PromptViT.arch_zoo[args.arch]['embed_dims']
    means = torch.randn(args.mapping_classes, dims, generator=g)
    mapping = torch.arange(args.mapping_classes) % args.num_prompts
    centroids = torch.randn(args.num_prompts, dims, generator=g)
    seen = torch.ones(args.mapping_classes, dtype=torch.bool)
    start = time.perf_counter()
    update_mapping(means, seen, mapping, centroids)
    return time.perf_counter() - start
