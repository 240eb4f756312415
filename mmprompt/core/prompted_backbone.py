import re
from contextlib import contextmanager
from typing import Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from mmprompt.registry import MODELS
from .parameter_count import count_parameters
from .prompt_tokens import PROMPT_INITS

PROMPT_MODES = ('deep', 'shallow')


class PromptedBackboneMixin:
    """What every prompted backbone shares (PromptViT, PromptSwin).

    - Prompt generators ``prompts[l]``, one per prompted layer (deep: each
      layer or block; shallow: one), each producing (M_l, D_l) tokens, and
      ``prompt_dropout`` on the prompt tokens only.
    - Freezing: every backbone parameter except the prompts and those named
      by ``trainable_params`` is frozen, and frozen submodules stay in eval
      mode while training.
    - Taps: ``request_taps(layer, names)`` asks a prompted layer to record
      internals in ``tap_outputs[layer]`` during the normal forward; every
      backbone has the ``'prompts'`` tap (a layer's tokens as its generator
      produced them), which Prompt Condensation scores.
    - Condensation: :meth:`keep_prompts`; checkpoints whose prompt counts
      differ from the config are refused, naming both.
    - :meth:`without_prompts`: the forward of the prompt-free model.

    - Pretrained weights: ``init_cfg=dict(type='Pretrained',
      checkpoint=...)`` loads through mmprompt's converters
      (:meth:`_load_pretrained`), so every supported checkpoint format
      works; a checkpoint that leaves a backbone parameter other than the
      prompts unset is an error.

    A backbone calls :meth:`_init_prompting` at the end of its
    ``__init__``, defines ``TAP_NAMES``, ``num_tap_layers`` and
    ``_load_pretrained(checkpoint) -> (state_dict, format)``.
    """
    TAP_NAMES = ('prompts', )

    def _init_prompting(self,
                        counts: List[int],
                        dims: List[int],
                        prompt_mode: str,
                        prompt_init: str,
                        prompt_std: float,
                        prompt_dropout: float,
                        prompt_cfg: dict,
                        uniform_bound: float,
                        frozen: bool,
                        trainable_params: Sequence,
                        frozen_eval: bool = True) -> None:
        self.prompt_mode = prompt_mode
        self.num_prompts = list(counts)
        self.prompts = nn.ModuleList()
        if isinstance(prompt_cfg, dict):
            layer_cfgs = [prompt_cfg] * len(counts)
        else:
            layer_cfgs = list(prompt_cfg)
            if len(layer_cfgs) != len(counts) or not all(
                    isinstance(c, dict) for c in layer_cfgs):
                raise ValueError(
                    f'prompt_cfg is one generator config or one per '
                    f'prompted layer ({len(counts)}), got {prompt_cfg!r}')
        for count, width, layer_cfg in zip(counts, dims, layer_cfgs):
            cfg = dict(layer_cfg)
            cfg.update(num_tokens=count, embed_dims=width)
            generator = MODELS.get(cfg['type'])
            if generator is None:
                raise KeyError(f'prompt_cfg type {cfg["type"]!r} is not a '
                               'registered prompt generator')
            # the backbone's prompt_* arguments the generator takes, unless
            # the layer's generator config sets its own
            for key, value in generator.backbone_defaults(
                    prompt_init, uniform_bound, prompt_std).items():
                cfg.setdefault(key, value)
            self.prompts.append(MODELS.build(cfg))
        self.prompt_dropout = nn.Dropout(prompt_dropout)

        self.frozen = frozen
        if not isinstance(frozen_eval, bool):
            raise TypeError(f'frozen_eval must be a bool, got '
                            f'{frozen_eval!r}')
        self.frozen_eval = frozen_eval
        self.trainable_params = tuple(trainable_params)
        self.trainable_rows = {}
        if frozen:
            self._freeze_backbone()
        self._register_load_state_dict_pre_hook(self._check_prompt_shapes)

        self._tap_requests: Dict[int, set] = {}
        self.tap_outputs: Dict[int, Dict[str, torch.Tensor]] = {}
        self._prompts_enabled = True

    @staticmethod
    def _check_prompt_args(prompt_mode: str, prompt_init: str) -> None:
        if prompt_mode not in PROMPT_MODES:
            raise ValueError(f'Unknown prompt_mode {prompt_mode!r}; choose '
                             f'from {PROMPT_MODES}')
        if prompt_init not in PROMPT_INITS:
            raise ValueError(f'Unknown prompt_init {prompt_init!r}; choose '
                             f'from {PROMPT_INITS}')

    def _freeze_backbone(self) -> None:
        rules = []  # (compiled pattern, rows or None)
        for rule in self.trainable_params:
            if isinstance(rule, str):
                rules.append((re.compile(rule), None))
            elif isinstance(rule, dict) and set(rule) == {'name', 'rows'}:
                start, end = rule['rows']
                rules.append((re.compile(rule['name']), (start, end)))
            else:
                raise ValueError(
                    f'trainable_params entries are regular expressions or '
                    f"dict(name=regex, rows=(start, end)), got {rule!r}")
        matched = set()
        self.trainable_rows = {}
        for name, param in self.named_parameters():
            keep = name.startswith('prompts.')
            for pattern, rows in rules:
                if not pattern.fullmatch(name):
                    continue
                keep = True
                matched.add(pattern.pattern)
                if rows is not None:
                    self._train_rows_only(name, param, rows)
            param.requires_grad_(keep)
        unmatched = [p.pattern for p, _ in rules if p.pattern not in matched]
        if unmatched:
            examples = [
                n for n, _ in self.named_parameters()
                if not n.startswith('prompts.')
            ][:3]
            raise ValueError(
                f'trainable_params patterns {unmatched} match no parameter '
                f'of {type(self).__name__} (names look like {examples})')

    def _train_rows_only(self, name, param, rows) -> None:
        """Let only rows [start, end) of ``param`` learn: the gradient of
        the other rows is zeroed. With zero gradient, SGD and Adam(W) leave
        them unchanged as long as the optimizer applies no weight decay to
        this tensor (e.g. ``paramwise_cfg=dict(bias_decay_mult=0.)``)."""
        start, end = slice(*rows).indices(param.shape[0])[:2]
        if not 0 <= start < end <= param.shape[0]:
            raise ValueError(f'rows {rows} select nothing of {name} with '
                             f'{param.shape[0]} rows')
        mask = torch.zeros(param.shape[0], dtype=torch.bool)
        mask[start:end] = True
        mask = mask.view(-1, *([1] * (param.dim() - 1)))
        param.register_hook(lambda grad: grad * mask.to(grad.device))
        self.trainable_rows[name] = (start, end)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.frozen and self.frozen_eval:
            # Frozen parts behave as at inference: no dropout or drop-path
            # inside the pretrained layers, only on the prompts.
            for name, child in self.named_children():
                if name not in ('prompts', 'prompt_dropout'):
                    child.eval()
        return self

    def _pretrained_may_lack(self, name: str) -> bool:
        """Whether a pretrained checkpoint may leave parameter ``name`` at
        its initial value (the prompts; a backbone adds its own)."""
        return name.startswith('prompts.')

    def init_weights(self):
        """Initialise, loading ``init_cfg=dict(type='Pretrained')`` through
        :meth:`_load_pretrained` (``prefix`` keeps one sub-module's weights,
        as in mmengine)."""
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            return super().init_weights()
        # (not super().init_weights(): mmengine would load the file as is;
        # what the checkpoint lacks keeps its construction-time init)
        state_dict, fmt = self._load_pretrained(cfg['checkpoint'])
        prefix = cfg.get('prefix')
        if prefix:
            prefix = prefix.rstrip('.') + '.'
            state_dict = {
                k[len(prefix):]: v
                for k, v in state_dict.items() if k.startswith(prefix)
            }
        self._check_pretrained_fits(state_dict, fmt, cfg['checkpoint'])
        incompatible = self.load_state_dict(state_dict, strict=False)
        params = dict(self.named_parameters())
        # missing buffers (relative position indices ...) are derived from
        # the config at build time
        unset = [k for k in incompatible.missing_keys if k in params]
        missing = [k for k in unset if not self._pretrained_may_lack(k)]
        if missing or incompatible.unexpected_keys:
            raise ValueError(
                f"Pretrained checkpoint {cfg['checkpoint']!r} (format {fmt}) "
                f'does not fit {type(self).__name__}: missing '
                f'{missing[:8]}, unexpected '
                f'{incompatible.unexpected_keys[:8]}')
        fresh = [k for k in unset if not k.startswith('prompts.')]
        MMLogger.get_current_instance().info(
            f"Loaded {fmt} checkpoint {cfg['checkpoint']} into "
            f'{type(self).__name__}' +
            (f'; not in the checkpoint, initialised: {fresh}' if fresh else '')
        )
        self._is_init = True

    def _check_pretrained_fits(self, state_dict, fmt, source) -> None:
        """Raise one error naming both sides where a converted pretrained
        state dict cannot fit this backbone's architecture (a backbone adds
        its checks; by default none)."""

    def _check_prompt_shapes(self, state_dict, prefix, *args, **kwargs):
        """Refuse a checkpoint whose prompt counts differ from the config.

        mmengine loads with ``strict=False`` and would only warn about the
        mismatch, leaving freshly initialised prompts in place.
        """
        mismatched = []
        own_shapes = {
            k: v.shape
            for k, v in self.prompts.state_dict(prefix='prompts.').items()
        }
        for name, tensor in state_dict.items():
            if not name.startswith(prefix + 'prompts.'):
                continue
            own = own_shapes.get(name[len(prefix):])
            if own is not None and tuple(own) != tuple(tensor.shape):
                mismatched.append(
                    f'{name[len(prefix):]}: checkpoint {tuple(tensor.shape)} '
                    f'vs model {tuple(own)}')
        if mismatched:
            counts = self._checkpoint_prompt_counts(state_dict, prefix)
            condensed = any(
                k.startswith(prefix + 'prompts.') and k.endswith('.kept_index')
                for k in state_dict)
            raise ValueError(
                'Prompt shapes of the checkpoint differ from the config '
                f'(num_prompts={self.num_prompts}): ' + '; '.join(mismatched) +
                (f'. To load it, set num_prompts={counts}' if counts else '') +
                ('. It is a condensed checkpoint: a config with '
                 "custom_hooks=[dict(type='mmprompt."
                 "PromptCondensationHook', ...)] condenses the model to it "
                 'when loading' if condensed else ''))

    def _checkpoint_prompt_counts(self, state_dict, prefix):
        counts = []
        for i in range(len(self.prompts)):
            key = f'{prefix}prompts.{i}.tokens'
            if key not in state_dict:
                return None
            counts.append(int(state_dict[key].shape[0]))
        return counts[0] if self.prompt_mode == 'shallow' else counts

    def request_taps(self, layer: int, names: Iterable[str]) -> None:
        """Ask prompted layer ``layer`` (one of ``num_tap_layers``) to
        record internals in ``tap_outputs[layer]`` during the forward.

        Names: the backbone's ``TAP_NAMES``; every backbone has
        ``'prompts'`` (the layer's prompt tokens as its generator produced
        them, (M, D), before dropout). Recorded tensors keep their autograd
        graph so losses can use them.
        """
        names = set(names)
        unknown = names - set(self.TAP_NAMES)
        if unknown:
            raise ValueError(f'Unknown tap names {sorted(unknown)}; choose '
                             f'from {self.TAP_NAMES}')
        n = self.num_tap_layers
        if not -n <= layer < n:
            raise ValueError(f'tap layer {layer} outside the {n} layers')
        layer = layer % n
        self._tap_requests.setdefault(layer, set()).update(names)

    def clear_taps(self) -> None:
        self._tap_requests.clear()
        self.tap_outputs = {}

    def keep_prompts(self, keep: Sequence[Optional[torch.Tensor]]) -> None:
        """Keep, in each prompted layer, only the prompts at ``keep[l]``
        (indices among its current prompts; None keeps them all).

        The forward then runs with fewer tokens. Generators record the kept
        original indices in their ``kept_index`` buffer. Parameters are
        replaced: an optimizer holding the old ones must be updated (see
        :func:`mmprompt.methods.pc.replace_optimizer_params`).
        """
        if len(keep) != len(self.prompts):
            raise ValueError(f'keep has {len(keep)} entries for '
                             f'{len(self.prompts)} prompted layers')
        self._check_kept_counts([
            len(idx) if idx is not None else n
            for idx, n in zip(keep, self.num_prompts)
        ])
        for generator, idx in zip(self.prompts, keep):
            if idx is not None:
                generator.keep_tokens(idx)
        self.num_prompts = [g.num_tokens for g in self.prompts]

    def _check_kept_counts(self, counts: List[int]) -> None:
        """Refuse a condensation that leaves the backbone unusable."""

    def _record_prompts_tap(self, layer: int, prompts: torch.Tensor) -> None:
        if 'prompts' in self._tap_requests.get(layer, ()):
            self.tap_outputs.setdefault(layer, {})['prompts'] = prompts

    @contextmanager
    def without_prompts(self):
        """Run the forward of the prompt-free model inside this context
        (e.g. class representations or token statistics of the pretrained
        ViT); the prompt generators are not called."""
        previous = self._prompts_enabled
        self._prompts_enabled = False
        try:
            yield self
        finally:
            self._prompts_enabled = previous

    def trainable_parameter_count(self) -> int:
        """Parameters that learn (rows of row-restricted ones only)."""
        return count_parameters(self)[0]

    @property
    def prompt_parameter_count(self) -> int:
        return sum(p.numel() for p in self.prompts.parameters())
