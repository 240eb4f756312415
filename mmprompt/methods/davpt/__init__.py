"""DA-VPT: "Prompt Distribution Matters: Tuning Visual Prompts Through
Semantic Metric Guidance" (Distribution-Aware VPT): each class is mapped to
one prompt of a guided layer, and a metric loss pulls patch anchors to
their class's prompt and prompts to their class's CLS query."""
from mmprompt.models.unavailable import register_unavailable
from mmprompt.utils.dependencies import dense_library_ready
from .davpt_classifier import DAVPTClassifier
from .davpt_loss import POSITIVE_MEANS, DAVPTLoss
from .davpt_mapping_hook import FIRST_POOLINGS, DAVPTMappingHook
from .guidance import (ANCHOR_SOURCES, GUIDED_TAPS, DAVPTGuidanceMixin,
                       guided_anchors_and_proxies)
from .mapping import (FEATURE_NORMS, initial_mapping, normalise_class_features,
                      update_mapping)

__all__ = [
    'DAVPTClassifier', 'DAVPTLoss', 'POSITIVE_MEANS', 'DAVPTMappingHook',
    'FIRST_POOLINGS', 'ANCHOR_SOURCES', 'GUIDED_TAPS', 'DAVPTGuidanceMixin',
    'guided_anchors_and_proxies', 'FEATURE_NORMS', 'initial_mapping',
    'normalise_class_features', 'update_mapping'
]

# The segmentor registers where mmseg (and mmcv's compiled ops) imports;
# elsewhere a placeholder of the same name raises the error that names the
# extra to install.
if dense_library_ready('mmseg'):
    from .davpt_encoder_decoder import DAVPTEncoderDecoder, dominant_label
    __all__ += ['DAVPTEncoderDecoder', 'dominant_label']
else:
    register_unavailable('DAVPTEncoderDecoder', 'mmseg')
