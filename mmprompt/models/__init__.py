from mmprompt.utils.dependencies import dense_library_ready
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .prompts import *  # noqa: F401,F403
from .unavailable import register_unavailable

# The dense parts register where their library (and mmcv's compiled ops,
# which it needs) imports; elsewhere a placeholder of the same name raises
# the error that names the extra to install.
if dense_library_ready('mmseg'):
    from .segmentors import *  # noqa: F401,F403
else:
    register_unavailable('PromptMetricEncoderDecoder', 'mmseg')
if dense_library_ready('mmdet'):
    from .necks import *  # noqa: F401,F403
else:
    register_unavailable('SimpleFeaturePyramid', 'mmdet')
