"""Parts that are not prompts: the dense neck the detection configs use,
and the placeholders of dense types whose library is not installed."""
from mmprompt.utils.dependencies import dense_library_ready
from .unavailable import register_renamed, register_unavailable

register_renamed()

# The dense parts register where their library (and mmcv's compiled ops,
# which it needs) imports; elsewhere a placeholder of the same name raises
# the error that names the extra to install.
if dense_library_ready('mmdet'):
    from .necks import *  # noqa: F401,F403
else:
    register_unavailable('SimpleFeaturePyramid', 'mmdet')
