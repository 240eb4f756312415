import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.registry import MODELS

POSITIVE_MEANS = ('with_positives', 'all')


@MODELS.register_module()
class DAVPTLoss(nn.Module):
    """Proxy-anchor metric loss between anchors and prompts (DA-VPT, Eq. 4).

    Each prompt k is the proxy of the classes mapped to it; an anchor i
    (an image's feature) is a positive of prompt k when its class maps to k.
    With s the cosine similarity, alpha the scale and delta the margin:

    ``pos = 1/|P+| sum_{k in P+}
    log(1 + sum_{i in X+_k} exp(-alpha (s_ik - delta)))``
    over the prompts P+ with a positive in the batch, and
    ``neg = 1/|P| sum_{k in P}
    log(1 + sum_{j in X-_k} exp(alpha (s_jk + delta)))``
    over all prompts; the loss is ``loss_weight * (pos + neg)``.

    The released code (Noahsark/DA-VPT) differs in two ways, both options
    here: it averages the positive term over all M prompts (a prompt
    without a positive adds 0: ``positive_mean='all'``), and it multiplies
    the normalised proxies by ``loss_vpt_scale_ratio`` (5 in most released
    configs), so that s becomes ``proxy_scale * cos`` (``proxy_scale``).

    Args:
        alpha (float): Scale. Defaults to 32.
        delta (float): Margin. Defaults to 0.1.
        loss_weight (float): Defaults to 1.
        positive_mean (str): ``'with_positives'`` (the paper: over the
            prompts with a positive in the batch) or ``'all'`` (the released
            code: over all prompts). Defaults to ``'with_positives'``.
        proxy_scale (float): Factor on the cosine similarity (the released
            ``loss_vpt_scale_ratio``), >= 0. Defaults to 1.
    """

    def __init__(self,
                 alpha: float = 32.,
                 delta: float = 0.1,
                 loss_weight: float = 1.,
                 positive_mean: str = 'with_positives',
                 proxy_scale: float = 1.):
        super().__init__()
        if positive_mean not in POSITIVE_MEANS:
            raise ValueError(f'Unknown positive_mean {positive_mean!r}; '
                             f'choose from {POSITIVE_MEANS}')
        if not proxy_scale >= 0:
            raise ValueError(f'proxy_scale must be >= 0, got proxy_scale='
                             f'{proxy_scale!r}')
        self.alpha = alpha
        self.delta = delta
        self.loss_weight = loss_weight
        self.positive_mean = positive_mean
        self.proxy_scale = proxy_scale

    def forward(self, anchors: torch.Tensor, proxies: torch.Tensor,
                proxy_of_anchor: torch.Tensor) -> torch.Tensor:
        """
        Args:
            anchors: (B, D) features.
            proxies: (M, D) prompt features.
            proxy_of_anchor: (B,) index in [0, M) of each anchor's prompt.
        """
        if anchors.dim() != 2 or proxies.dim() != 2 or \
                anchors.shape[1] != proxies.shape[1]:
            raise ValueError(f'anchors (B, D) and proxies (M, D) expected, '
                             f'got {tuple(anchors.shape)} and '
                             f'{tuple(proxies.shape)}')
        num_proxies = proxies.shape[0]
        if proxy_of_anchor.shape != anchors.shape[:1]:
            raise ValueError(f'proxy_of_anchor must have shape '
                             f'({anchors.shape[0]},), got '
                             f'{tuple(proxy_of_anchor.shape)}')
        if proxy_of_anchor.numel() and (proxy_of_anchor.min() < 0 or
                                        proxy_of_anchor.max() >= num_proxies):
            raise ValueError(f'proxy_of_anchor values must lie in [0, '
                             f'{num_proxies}), got '
                             f'{proxy_of_anchor.unique().tolist()}')
        sim = F.normalize(
            anchors, dim=-1) @ F.normalize(
                proxies, dim=-1).t() * self.proxy_scale
        positive = F.one_hot(proxy_of_anchor, num_proxies).bool()  # (B, M)
        pos_terms = torch.where(positive, -self.alpha * (sim - self.delta),
                                sim.new_tensor(float('-inf')))
        neg_terms = torch.where(~positive, self.alpha * (sim + self.delta),
                                sim.new_tensor(float('-inf')))
        # log(1 + sum exp(t)) = softplus(logsumexp(t)); -inf sums give 0
        pos_per_proxy = F.softplus(torch.logsumexp(pos_terms, dim=0))
        neg_per_proxy = F.softplus(torch.logsumexp(neg_terms, dim=0))
        has_positive = positive.any(0)
        if not has_positive.any():
            raise ValueError('No anchor has a prompt in this batch; the '
                             'positive term is undefined')
        if self.positive_mean == 'with_positives':
            pos = pos_per_proxy[has_positive].mean()
        else:  # prompts without a positive add 0 (their softplus(-inf))
            pos = pos_per_proxy.mean()
        neg = neg_per_proxy.mean()
        loss = self.loss_weight * (pos + neg)
        if not torch.isfinite(loss):
            raise FloatingPointError(f'DAVPTLoss is {loss.item()}')
        return loss
