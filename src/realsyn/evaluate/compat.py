"""A fix for CLIP_benchmark 1.6.2 under NumPy >= 2.4.

Its `accuracy` (used by zero-shot classification and the linear probe) ends with
`float(tensor.cpu().numpy())` on a one-element 1-d array, which NumPy 2.4 refuses ("only
0-dimensional arrays can be converted to Python scalars"). `patch_accuracy` puts the same
computation, converted with `.item()`, in both modules that use it.
"""

from __future__ import annotations


def accuracy(output, target, topk=(1,)):
    """Top-k accuracies of logits `output` (N, C) against class ids `target` (N,), as
    CLIP_benchmark computes them."""
    pred = output.topk(max(topk), 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    return [correct[:k].reshape(-1).float().sum().item() / len(target) for k in topk]


def patch_accuracy() -> None:
    from clip_benchmark.metrics import linear_probe, zeroshot_classification

    zeroshot_classification.accuracy = accuracy
    linear_probe.accuracy = accuracy
