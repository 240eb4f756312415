"""Prompt Condensation: score prompt tokens, keep the best, drop the rest.

Seed: "Do We Really Need a Large Number of Visual Prompts?". The paper's
"gradient-based global scoring" is read as the first-order Taylor estimate of
the loss change when a prompt token is removed,

    s_{l,j} = | sum_batches sum_d p_{l,j,d} * dL/dp_{l,j,d} |

(averaged over batches, so runs with different batch splits agree), with the
token's L2 norm (``magnitude``) as the data-free alternative. The kept tokens
are chosen globally across layers. Scoring works on any prompted backbone
whose prompt generators produce (M, D) tokens (it reads them through the
``prompts`` tap) and whose generators can keep a subset of their tokens.
"""
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce

from mmprompt.core import find_prompted_backbone, unwrap_model

SCORE_METHODS = ('taylor', 'magnitude')


def condensable_backbone(model: nn.Module) -> Tuple[str, nn.Module]:
    """The (name, module) of the prompted backbone inside ``model``, which
    must have prompts to condense."""
    try:
        return find_prompted_backbone(model, require_prompts=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{error}: nothing to condense') from None


def score_prompts(model: nn.Module,
                  batches: Optional[Iterable[dict]] = None,
                  method: str = 'taylor') -> List[torch.Tensor]:
    """Score every prompt token of every prompted layer.

    Args:
        model: a model with ``data_preprocessor``, ``parse_losses`` and
            ``forward(mode='loss')`` (any mmengine ``BaseModel``), possibly
            wrapped; gradients are taken on the unwrapped model and the
            sums are all-reduced across ranks.
        batches: data batches as a dataloader yields them (``taylor``).
        method: ``'taylor'`` or ``'magnitude'``.

    Returns:
        One score tensor (M_l,) per prompted layer, on the CPU.
    """
    if method not in SCORE_METHODS:
        raise ValueError(f'Unknown score method {method!r}; choose from '
                         f'{SCORE_METHODS}')
    model = unwrap_model(model)
    _, backbone = condensable_backbone(model)
    if method == 'magnitude':
        with torch.no_grad():
            return [g().float().norm(dim=-1).cpu() for g in backbone.prompts]

    layers = [i for i, n in enumerate(backbone.num_prompts) if n > 0]
    saved_requests = {k: set(v) for k, v in backbone._tap_requests.items()}
    for layer in layers:
        backbone.request_taps(layer, ['prompts'])
    device = next(backbone.prompts.parameters()).device
    sums = [
        torch.zeros(n, dtype=torch.float64, device=device)
        for n in backbone.num_prompts
    ]
    num_batches = 0
    was_training = model.training
    model.eval()  # no prompt dropout: score the tokens themselves
    try:
        for batch in batches:
            data = model.data_preprocessor(batch, True)
            loss, _ = model.parse_losses(model(**data, mode='loss'))
            prompts = [backbone.tap_outputs[i]['prompts'] for i in layers]
            grads = torch.autograd.grad(loss, prompts)
            for i, p, g in zip(layers, prompts, grads):
                sums[i] += (p.detach() * g).sum(-1).double()
            num_batches += 1
    finally:
        backbone._tap_requests = saved_requests
        backbone.tap_outputs = {}
        model.train(was_training)
    if num_batches == 0:
        raise ValueError('score_prompts got no batches to score on')
    total = torch.tensor([float(num_batches)],
                         dtype=torch.float64,
                         device=device)
    all_reduce(total, 'sum')
    scores = []
    for s in sums:
        all_reduce(s, 'sum')
        scores.append((s / total).abs().float().cpu())
    return scores


def select_prompts(scores: Sequence[torch.Tensor],
                   keep_ratio: float = 0.3,
                   min_per_layer: int = 0,
                   keep_layers: Sequence[int] = ()):
    """Keep the top ``keep_ratio`` of all tokens, chosen globally by score,
    with at least ``min_per_layer`` in every layer. Every token of
    ``keep_layers`` (indices of ``scores``, negative from the end) is kept
    and counts against the budget: a layer other methods index into, e.g.
    DA-VPT's guided layer whose prompts the classes are mapped to. Ties go
    to the earlier layer and token. Returns the sorted kept indices of each
    layer."""
    if not (isinstance(keep_ratio, (int, float)) and 0 < keep_ratio <= 1):
        raise ValueError(f'keep_ratio must be in (0, 1], got {keep_ratio!r}')
    if not isinstance(min_per_layer, int) or min_per_layer < 0:
        raise ValueError(
            f'min_per_layer must be an int >= 0, got {min_per_layer!r}')
    counts = [len(s) for s in scores]
    total = sum(counts)
    if total == 0:
        raise ValueError('There are no prompt tokens to select from')
    num_keep = max(1, int(round(keep_ratio * total)))
    prompted = [n for n in counts if n > 0]
    if any(n < min_per_layer for n in prompted) or \
            min_per_layer * len(prompted) > num_keep:
        raise ValueError(
            f'min_per_layer={min_per_layer} cannot be met: layers hold '
            f'{counts} tokens and keep_ratio={keep_ratio} keeps {num_keep} '
            f'of {total}')
    kept_whole = set()
    for layer in keep_layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or \
                not -len(counts) <= layer < len(counts):
            raise ValueError(f'keep_layers entries must be layer indices in '
                             f'[{-len(counts)}, {len(counts) - 1}], got '
                             f'{list(keep_layers)!r}')
        kept_whole.add(layer % len(counts))
    whole = sum(counts[i] for i in kept_whole)
    if whole > num_keep:
        raise ValueError(
            f'keep_layers={list(keep_layers)} hold {whole} tokens but '
            f'keep_ratio={keep_ratio} keeps {num_keep} of {total}')
    flat = torch.cat([s.float() for s in scores])
    layer_of = torch.cat([torch.full((n, ), i) for i, n in enumerate(counts)])
    # stable sort on -score: equal scores keep layer/token order
    order = torch.sort(-flat, stable=True).indices
    chosen = torch.zeros(total, dtype=torch.bool)
    for i in kept_whole:
        chosen[layer_of == i] = True
    if min_per_layer:
        taken = torch.zeros(len(counts), dtype=torch.long)
        for j in order.tolist():
            if not chosen[j] and taken[layer_of[j]] < min_per_layer:
                chosen[j] = True
                taken[layer_of[j]] += 1
    rest = num_keep - int(chosen.sum())
    chosen[order[~chosen[order]][:rest]] = True
    offsets = [0] + torch.tensor(counts).cumsum(0).tolist()
    return [
        torch.nonzero(chosen[a:b]).flatten()
        for a, b in zip(offsets[:-1], offsets[1:])
    ]


def replace_optimizer_params(
        optimizer: torch.optim.Optimizer,
        replaced: Dict[nn.Parameter, Tuple[nn.Parameter,
                                           torch.Tensor]]) -> None:
    """Point ``optimizer`` at new parameters that keep rows ``index`` of old
    ones: ``replaced[old] = (new, index)``. Per-row optimizer state (e.g.
    Adam's moments, SGD's momentum) is sliced to the kept rows; scalars
    (``step``) are kept as they are."""
    for group in optimizer.param_groups:
        for i, param in enumerate(group['params']):
            if param not in replaced:
                continue
            new, index = replaced[param]
            group['params'][i] = new
            state = optimizer.state.pop(param, None)
            if state:
                optimizer.state[new] = {
                    k: (v[index.to(v.device)].clone() if torch.is_tensor(v)
                        and v.dim() > 0 and v.shape == param.shape else v)
                    for k, v in state.items()
                }


def condense_prompts(
        model: nn.Module,
        keep: Sequence[Optional[torch.Tensor]],
        optimizer: Optional[torch.optim.Optimizer] = None) -> List[int]:
    """Keep ``keep[l]`` of each prompted layer of ``model``'s backbone and
    update ``optimizer`` to optimise exactly the kept prompts. Returns the
    new per-layer counts."""
    _, backbone = condensable_backbone(model)
    before = dict(backbone.prompts.named_parameters())
    backbone.keep_prompts(keep)
    if optimizer is not None:
        replaced = {}
        for name, new in backbone.prompts.named_parameters():
            old = before[name]
            if new is not old:
                replaced[old] = (new,
                                 torch.unique(
                                     torch.as_tensor(keep[int(
                                         name.split('.')[0])])))
        replace_optimizer_params(optimizer, replaced)
    return list(backbone.num_prompts)


def kept_positions(backbone: nn.Module, state_dict: Dict[str, torch.Tensor],
                   prefix: str) -> Optional[List[Optional[torch.Tensor]]]:
    """Which current tokens a condensed checkpoint keeps, per layer, from
    its ``kept_index`` buffers (original token indices); None if the
    checkpoint is not condensed."""
    keep, found = [], False
    for i, generator in enumerate(backbone.prompts):
        saved = state_dict.get(f'{prefix}prompts.{i}.kept_index')
        if saved is None:
            keep.append(None)
            continue
        found = True
        current = generator.kept_index if generator.kept_index is not None \
            else torch.arange(generator.num_tokens)
        current = current.cpu().tolist()
        missing = [int(k) for k in saved.tolist() if int(k) not in current]
        if missing:
            raise ValueError(
                f'The checkpoint keeps prompt tokens {missing} of layer {i} '
                f'that this model does not have (it holds {current})')
        keep.append(
            torch.tensor([current.index(int(k)) for k in saved.tolist()],
                         dtype=torch.long))
    return keep if found else None
