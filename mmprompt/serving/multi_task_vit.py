"""One frozen ViT, many tasks' prompts, one mixed batch.

A prompt-tuned classifier differs from its pretrained ViT only in its
prompts and its head. :class:`MultiTaskPromptViT` holds the frozen ViT once
and, per task, the task's own classifier whose backbone shares those frozen
modules. A batch may mix images of any tasks in any order:

- patch embedding, every norm, projection and FFN run once, over the
  tokens of all images of the batch (the images of one task have one
  length; tasks may differ, so the tokens are packed, not padded);
- in each layer each task's prompts are made once: where nothing reads
  their outputs (deep prompts, and the last layer) they are a shared
  prefix, their norm, keys and values computed once per task and put
  before the keys and values of that task's images only; where their
  outputs are read (shallow prompts, an ``out_type`` that pools them) they
  are rows of that task's images, as in the task's own model;
- attention runs per task, the only step that sees a task's prompts.

Every image's output is that of its task's own model: the same
operations on the same tokens (float tolerance: GEMMs over more rows may
sum in another order).
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from mmprompt.core import PromptViT, find_prompted_backbone
from mmprompt.core.shared_prefix_attention import shared_prefix_attention


class ServingError(ValueError):
    """A task that cannot join a bundle, or a request a bundle cannot serve;
    the message names the task, the field and the value."""


def frozen_modules(backbone: PromptViT) -> List[str]:
    """The child modules and parameters of ``backbone`` that hold frozen
    pretrained state (all but the prompt generators and their dropout)."""
    names = [
        n for n, _ in backbone.named_children()
        if n not in ('prompts', 'prompt_dropout')
    ]
    names += [n for n, _ in backbone.named_parameters(recurse=False)]
    return names


def check_servable(name: str, model: nn.Module) -> PromptViT:
    """The PromptViT of task ``name``'s classifier, checked to share a
    frozen backbone: it tunes nothing but prompts (and its head), and it
    outputs one pooled feature of its last layer."""
    _, backbone = find_prompted_backbone(model)
    if not isinstance(backbone, PromptViT):
        raise ServingError(
            f'task {name!r}: serving mixes ViT tasks; its backbone is '
            f'{type(backbone).__name__}')
    if getattr(model, 'backbone', None) is not backbone:
        raise ServingError(f'task {name!r}: the prompted backbone must be '
                           'the classifier\'s backbone')
    tuned = [
        n for n, p in backbone.named_parameters()
        if p.requires_grad and not n.startswith('prompts.')
    ]
    if tuned:
        raise ServingError(
            f'task {name!r} tunes backbone weights {tuned[:6]} '
            '(trainable_params): its backbone is no longer the shared '
            'frozen one, so it cannot join a bundle')
    last = backbone.num_layers - 1
    if list(backbone.out_indices) != [last]:
        raise ServingError(
            f'task {name!r}: out_indices={list(backbone.out_indices)}; a '
            f'bundle serves classifiers reading the last layer ([{last}])')
    if backbone.out_type in ('raw', 'featmap'):
        raise ServingError(
            f'task {name!r}: out_type={backbone.out_type!r} gives token '
            'maps; a bundle serves pooled features')
    return backbone


def tie_frozen(name: str, backbone: PromptViT, shared: PromptViT) -> None:
    """Make task ``name``'s ``backbone`` use ``shared``'s frozen modules
    and parameters (the same objects: memory is held once)."""
    if backbone is shared:
        return
    extra = sorted(set(frozen_modules(backbone)) - set(frozen_modules(shared)))
    if extra:
        raise ServingError(
            f'task {name!r}: its backbone has frozen parts {extra} that the '
            f'bundle\'s backbone lacks (out_type={backbone.out_type!r} vs '
            f'{shared.out_type!r}); a bundle holds tasks of one pooling '
            'family')
    for part in frozen_modules(shared):
        setattr(backbone, part, getattr(shared, part))


class MultiTaskPromptViT(nn.Module):
    """A frozen :class:`~mmprompt.core.PromptViT` and tasks' classifiers
    sharing it, run on mixed batches.

    Args:
        backbone (PromptViT): the frozen ViT (its own prompts are unused).
        tasks (dict): task name -> classifier (mmpretrain
            ``ImageClassifier``) whose backbone is a PromptViT of the same
            architecture; its frozen modules are replaced by ``backbone``'s.
    """

    def __init__(self, backbone: PromptViT, tasks: Dict[str, nn.Module]):
        super().__init__()
        if not tasks:
            raise ServingError('a bundle needs at least one task')
        self.backbone = backbone.eval()
        self.task_names = list(tasks)
        # (task, layer) -> its prompt tokens and their keys and values:
        # fixed at inference, so each is made once per bundle, not once per
        # forward (clear_prompt_cache() after changing prompts or weights)
        self._prompt_cache: Dict[tuple, tuple] = {}
        self.tasks = nn.ModuleDict()
        for name, model in tasks.items():
            tie_frozen(name, check_servable(name, model), backbone)
            self.tasks[name] = model.eval()

    def clear_prompt_cache(self) -> None:
        self._prompt_cache.clear()

    def _prompts(self, t: int, i: int, own: PromptViT, layer: nn.Module,
                 like: torch.Tensor):
        """Task ``t``'s prompt tokens at layer ``i`` (M, D) and their keys
        and values (2, heads, M, head_dims), made once."""
        key = (t, i, like.dtype, like.device)
        if key not in self._prompt_cache:
            prompts = own.prompts[i]().to(like.dtype)
            attn = layer.attn
            kv = attn.qkv(layer.ln1(prompts))[:, attn.embed_dims:].reshape(
                -1, 2, attn.num_heads, attn.head_dims).permute(1, 2, 0, 3)
            self._prompt_cache[key] = (prompts, kv)
        return self._prompt_cache[key]

    def task_index(self, names: Sequence[str]) -> torch.Tensor:
        """Task names -> their indices, refusing unknown names."""
        unknown = sorted(set(names) - set(self.task_names))
        if unknown:
            raise ServingError(
                f'task {unknown[0]!r} is not in the bundle (its tasks: '
                f'{self.task_names})')
        return torch.tensor([self.task_names.index(n) for n in names])

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor, task_index: torch.Tensor) -> List:
        """Predictions (mmpretrain ``DataSample`` with ``pred_score`` and
        ``pred_label``) of a mixed batch, in input order.

        Args:
            inputs (Tensor): (B, 3, H, W), each image preprocessed by its
                task's data preprocessor.
            task_index (Tensor): (B, ) index into :attr:`task_names`.
        """
        if inputs.shape[0] != task_index.numel():
            raise ServingError(
                f'inputs has {inputs.shape[0]} images but task_index '
                f'{task_index.numel()} entries')
        shared = self.backbone
        x, hw = shared.embed_tokens(inputs)
        order = torch.unique(task_index).tolist()
        groups = [(t, torch.nonzero(task_index == t).flatten()) for t in order]
        xs = [x[index] for _, index in groups]
        backbones = [
            self.tasks[self.task_names[t]].backbone for t, _ in groups
        ]
        rows = [0] * len(groups)  # prompt rows each group's tokens hold
        n = shared.num_extra_tokens
        packed = None  # the previous layer's output, xs are views of it
        for i, layer in enumerate(shared.layers):
            prefixes: List[Optional[torch.Tensor]] = []
            masks: List[Optional[torch.Tensor]] = []
            for g, own in enumerate(backbones):
                prefix = None
                if i == 0 or own.prompt_mode == 'deep':
                    prompts, kv = self._prompts(groups[g][0], i, own, layer,
                                                xs[g])
                    if rows[g]:  # deep: the previous layer's are replaced
                        xs[g] = torch.cat(
                            [xs[g][:, :n], xs[g][:, n + rows[g]:]], dim=1)
                        rows[g], packed = 0, None
                    if prompts.shape[0] and own._drops_prompt_outputs(i):
                        prefix = kv
                    elif prompts.shape[0]:
                        packed = None
                        B = xs[g].shape[0]
                        xs[g] = torch.cat([
                            xs[g][:, :n],
                            prompts.unsqueeze(0).expand(B, -1, -1), xs[g][:,
                                                                          n:]
                        ],
                                          dim=1)
                        rows[g] = prompts.shape[0]
                masks.append(self._prompt_mask(own, xs[g], rows[g], prefix))
                prefixes.append(prefix)
            xs, packed = grouped_layer(
                layer, xs, prefixes, masks, n,
                [own._reads_cls_only(i) for own in backbones], packed)
        results = [None] * task_index.numel()
        for g, (t, index) in enumerate(groups):
            own, model = backbones[g], self.tasks[self.task_names[t]]
            out = xs[g]
            if own.final_norm:
                out = own.ln1(out)
            feats = (own._format_output(out, hw, rows[g]), )
            if getattr(model, 'with_neck', False):
                feats = model.neck(feats)
            for j, sample in zip(index.tolist(), model.head.predict(feats)):
                sample.set_field(
                    self.task_names[t], 'task', field_type='metainfo')
                results[j] = sample
        return results

    @staticmethod
    def _prompt_mask(own, x, rows, prefix) -> Optional[torch.Tensor]:
        """``prompts_see_patches_only``: prompt rows whose outputs are read
        attend to the patches only (as in the task's own model)."""
        if not (own.prompts_see_patches_only and rows):
            return None
        n, L = own.num_extra_tokens, x.shape[1]
        mask = x.new_zeros(L, L)
        mask[n:n + rows, :n + rows] = float('-inf')
        return mask


def grouped_layer(layer: nn.Module,
                  xs: List[torch.Tensor],
                  prefixes: List[Optional[torch.Tensor]],
                  masks: List[Optional[torch.Tensor]],
                  num_extra: int,
                  cls_only: Optional[List[bool]] = None,
                  packed: Optional[torch.Tensor] = None):
    """mmpretrain's ``TransformerEncoderLayer`` on groups of images: the
    per-token steps (norms, projections, FFN) over the tokens of every
    group at once, attention per group, a group's ``prefix`` (the keys and
    values of its prompts, (2, heads, M, head_dims)) given to its images
    only (after their ``num_extra`` tokens, where the task's own model has
    them). A group
    with ``cls_only`` gets only its CLS row back, (B, 1, D): every token
    gives keys and values, only CLS a query, projection and FFN (the last
    layer of a CLS-pooled model, as the task's own model runs it).

    Returns the groups' outputs as views of one packed (tokens, D) tensor,
    and that tensor: passed on as ``packed`` with those views, the next
    layer reads it without copying the tokens again.
    """
    attn = layer.attn
    D, heads, head_dims = attn.embed_dims, attn.num_heads, attn.head_dims
    cls_only = cls_only or [False] * len(xs)
    shapes = [x.shape[:2] for x in xs]
    if packed is None:
        packed = xs[0].reshape(-1, D) if len(xs) == 1 else torch.cat(
            [x.reshape(-1, D) for x in xs])
    qkv_all = attn.qkv(layer.ln1(packed))
    rows = [(B, 1 if cls else L) for (B, L), cls in zip(shapes, cls_only)]
    out = packed.new_empty(sum(B * R for B, R in rows), D)
    start = end = 0
    for x, (B, L), (_, R), prefix, mask in zip(xs, shapes, rows, prefixes,
                                               masks):
        qkv = qkv_all[start:start + B * L]
        start += B * L
        q, k, v = qkv.reshape(B, L, 3, heads, head_dims).permute(2, 0, 3, 1, 4)
        if R < L:  # (the prompt mask only concerns prompt queries)
            q, mask = q[:, :, :1], None
        if prefix is None:
            o = attn.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:  # the task's prompt keys and values, as its own model has them
            o = shared_prefix_attention(
                q, k, v, prefix[0], prefix[1], num_extra, attn_mask=mask)
        out[end:end + B * R].view(B, R, heads,
                                  head_dims).copy_(o.transpose(1, 2))
        end += B * R
    if any(cls_only):
        residual = torch.cat(
            [x[:, :R].reshape(-1, D) for x, (_, R) in zip(xs, rows)])
    else:
        residual = packed
    x = residual + attn.out_drop(attn.gamma1(attn.proj_drop(attn.proj(out))))
    x = layer.ffn(layer.ln2(x), identity=x)
    return [
        part.view(B, R, D)
        for part, (B, R) in zip(x.split([B * R for B, R in rows]), rows)
    ], x
