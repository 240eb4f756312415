import math

import pytest
import torch

import mmprompt  # noqa: F401
from mmprompt.methods.davpt import DAVPTLoss


def reference(anchors, proxies, assign, alpha=32., delta=0.1):
    """The formula with plain loops."""

    def cos(a, b):
        return float(a @ b / (a.norm() * b.norm()))

    M = len(proxies)
    pos_terms, neg_terms = [], []
    for k in range(M):
        positives = [i for i in range(len(anchors)) if assign[i] == k]
        negatives = [i for i in range(len(anchors)) if assign[i] != k]
        if positives:
            pos_terms.append(
                math.log(1 + sum(
                    math.exp(-alpha * (cos(anchors[i], proxies[k]) - delta))
                    for i in positives)))
        neg_terms.append(
            math.log(1 + sum(
                math.exp(alpha * (cos(anchors[j], proxies[k]) + delta))
                for j in negatives)))
    return sum(pos_terms) / len(pos_terms) + sum(neg_terms) / M


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_plain_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randn(9, 16, generator=g, dtype=torch.float64)
    proxies = torch.randn(5, 16, generator=g, dtype=torch.float64)
    # prompts 3 and 4 have no positive in this batch
    assign = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    loss = DAVPTLoss()(anchors, proxies, assign)
    assert loss.item() == pytest.approx(
        reference(anchors, proxies, assign.tolist()), rel=1e-9)
    weighted = DAVPTLoss(alpha=8., delta=0.2, loss_weight=0.5)
    assert weighted(anchors, proxies, assign).item() == pytest.approx(
        0.5 * reference(anchors, proxies, assign.tolist(), 8., 0.2), rel=1e-9)


def test_gradients_pull_positives_together():
    anchors = torch.randn(6, 8, dtype=torch.float64)
    proxies = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    assign = torch.tensor([0, 0, 1, 1, 2, 2])
    loss_fn = DAVPTLoss(alpha=4.)
    loss = loss_fn(anchors, proxies, assign)
    loss.backward()
    with torch.no_grad():
        moved = proxies - 0.1 * proxies.grad
    assert loss_fn(anchors, moved, assign) < loss


def test_bad_inputs_raise():
    loss = DAVPTLoss()
    with pytest.raises(ValueError, match=r'values must lie in \[0, 3\)'):
        loss(torch.randn(2, 4), torch.randn(3, 4), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match='anchors .* and proxies'):
        loss(torch.randn(2, 4), torch.randn(3, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='No anchor has a prompt'):
        loss(
            torch.randn(0, 4), torch.randn(3, 4),
            torch.zeros(0, dtype=torch.long))
    with pytest.raises(FloatingPointError, match='is nan'):
        loss(
            torch.full((2, 4), float('nan')), torch.randn(3, 4),
            torch.tensor([0, 1]))
