"""Convert the checkpoints users bring into mmpretrain's names.

One entry point per backbone family reads a file or takes an already
loaded dict, recognises its layout without any user flag, logs the format
and returns the state dict in mmpretrain's names (no ``backbone.`` prefix)
with the name of the format:

- :func:`load_vit_checkpoint` for :class:`~mmprompt.core.PromptViT`
  (``.pth``, ``.pt``, ``.bin``, ``.tar``, ``.ckpt``, ``.safetensors``,
  ``.npz``, ``.onnx``; TorchScript archives too);
- :func:`load_swin_checkpoint` for :class:`~mmprompt.core.PromptSwin`.

ViT formats (:data:`SUPPORTED_FORMATS`):

``google-npz``
    Google's original ``.npz`` (``embedding/kernel``, ``cls``,
    ``Transformer/encoderblock_{i}/...``), also with the ``opt/target/``
    prefix, big_vision block naming and scanned (stacked) blocks.
``timm`` / ``timm-registers``
    timm's ``VisionTransformer`` (``blocks.{i}.attn.qkv``), bare or under
    ``state_dict`` or any other prefix, and the DINOv2 repository's own
    ``.pth`` files, which use the same names (``register_tokens`` of its
    ``_reg4`` models, ``mlp.w12``/``w3`` of its SwiGLU g); with
    ``reg_token`` (timm's DINOv2 with registers, whose ``pos_embed`` has
    no class row: a zero row is prepended, exactly).
``mae``
    The official MAE checkpoints: ``{'model': <timm keys>}``; the decoder
    and ``mask_token`` of pretraining checkpoints are dropped, ``fc_norm``
    of global-pool fine-tuned models becomes ``ln2``.
``mocov3`` / ``mocov3-linear``
    MoCo v3's SSL checkpoints (the base encoder is kept) and its
    linear-probe checkpoints.
``mmpretrain``
    ``{'state_dict': {'backbone.<names>', 'head.*'}}`` or a bare backbone
    dict; every backbone key (``prompts.*`` of a prompted backbone too) is
    kept.
``hf-dinov2`` / ``hf-dinov2-registers``
    transformers' ``Dinov2Model`` and ``Dinov2WithRegistersModel`` (any
    common prefix); ``mask_token`` is dropped, ``register_tokens`` kept.
``onnx-hf-dinov2``
    An ONNX file exported from such a model (see :mod:`.onnx_graph`).
``clip``
    OpenAI's CLIP (``visual.*`` of the released state dict, also inside
    its TorchScript ``.pt`` archives) and open_clip's ViT towers, which use
    the same names. ``visual.proj`` becomes ``projection``.
``hf-clip``
    transformers' ``CLIPVisionModel`` (``vision_model.*``),
    ``CLIPVisionModelWithProjection`` and ``CLIPModel``;
    ``visual_projection`` becomes ``projection`` (transposed).

A ResNet CLIP or a text-only CLIP file, a Swin file given to a ViT or a ViT
file given to a Swin, fail with one error that says what was found.

Layout of this package: :mod:`.readers` (files to dicts), :mod:`.common`
(shared helpers), one module per source family (:mod:`.vit_timm`,
:mod:`.vit_hf`, :mod:`.vit_clip`, :mod:`.onnx_graph`, :mod:`.swin`) and
:mod:`.vit` (detection, dispatch and checks).
"""
from .readers import (READABLE_EXTENSIONS, TORCH_EXTENSIONS,
                      read_checkpoint_file)
from .swin import (SWIN_FORMATS, convert_swin_state_dict, detect_swin_format,
                   load_swin_checkpoint, merge_channel_order)
from .vit import (SUPPORTED_EXTENSIONS, SUPPORTED_FORMATS,
                  convert_vit_state_dict, detect_vit_format,
                  load_vit_checkpoint, vit_arch_from_state_dict)

__all__ = [
    'SUPPORTED_FORMATS', 'SUPPORTED_EXTENSIONS', 'TORCH_EXTENSIONS',
    'READABLE_EXTENSIONS', 'SWIN_FORMATS', 'load_vit_checkpoint',
    'convert_vit_state_dict', 'detect_vit_format', 'vit_arch_from_state_dict',
    'read_checkpoint_file', 'load_swin_checkpoint', 'convert_swin_state_dict',
    'detect_swin_format', 'merge_channel_order'
]
