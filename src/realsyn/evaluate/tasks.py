"""The three evaluations of RealSyn's section 5, run with CLIP_benchmark's own metric code.

Zero-shot classification and zero-shot retrieval call CLIP_benchmark's `evaluate` functions.
Its linear probe trains the probe with CUDA only (it asserts the device), so on the CPU the probe
is scikit-learn's logistic regression (the original CLIP protocol: L-BFGS, regularisation
chosen by cross-validation) on the same L2-normalised image features; both report lp_acc1,
lp_acc5 and lp_mean_per_class_recall.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from realsyn.evaluate.compat import patch_accuracy
from realsyn.evaluate.datasets import CLASSIFICATION, RETRIEVAL, EvalDataset, EvalError

ZEROSHOT_CLASSIFICATION = "zeroshot_classification"
ZEROSHOT_RETRIEVAL = "zeroshot_retrieval"
LINEAR_PROBE = "linear_probe"
TASKS_OF = {CLASSIFICATION: (ZEROSHOT_CLASSIFICATION, LINEAR_PROBE),
            RETRIEVAL: (ZEROSHOT_RETRIEVAL,)}
RECALL_K = (1, 5, 10)  # the paper's R@1/5/10
# The numbers each task reports (CLIP_benchmark's names); anything else it returns is setup.
METRICS = {
    ZEROSHOT_CLASSIFICATION: ("acc1", "acc5", "mean_per_class_recall",
                              "mean_average_precision"),
    ZEROSHOT_RETRIEVAL: tuple(f"{side}_retrieval_recall@{k}" for side in ("image", "text")
                              for k in RECALL_K),
    LINEAR_PROBE: ("lp_acc1", "lp_acc5", "lp_mean_per_class_recall"),
}


@dataclass
class Scorer:
    """A loaded open_clip model and how to run it."""

    model: Any
    transform: Any
    tokenizer: Any
    device: str
    amp: bool
    batch_size: int = 64
    workers: int = 0
    seed: int = 0

    def loader(self, dataset: EvalDataset, split: str):
        import torch

        data = dataset.build(split, self.transform)
        if hasattr(data, "batched"):  # a WebDataset pipeline batches itself
            return data, torch.utils.data.DataLoader(data.batched(self.batch_size),
                                                     batch_size=None, num_workers=self.workers)
        return data, torch.utils.data.DataLoader(data, batch_size=self.batch_size,
                                                 shuffle=False, num_workers=self.workers,
                                                 collate_fn=dataset.collate_fn())


def tasks_for(dataset: EvalDataset, requested: list[str]) -> list[str]:
    """The requested tasks this dataset supports (all of its kind's when none is requested)."""
    supported = TASKS_OF[dataset.kind]
    tasks = [task for task in requested if task in supported] if requested else list(supported)
    if LINEAR_PROBE in tasks and not dataset.has_split("train"):
        if requested:
            raise EvalError(f"--task linear_probe: {dataset.name} has no train split")
        tasks.remove(LINEAR_PROBE)
    return tasks


def run_task(scorer: Scorer, dataset: EvalDataset, task: str) -> dict[str, float]:
    patch_accuracy()
    if task == ZEROSHOT_CLASSIFICATION:
        from clip_benchmark.metrics import zeroshot_classification

        data, loader = scorer.loader(dataset, "test")
        metrics = zeroshot_classification.evaluate(
            scorer.model, loader, scorer.tokenizer, data.classes, data.templates,
            device=scorer.device, amp=scorer.amp, verbose=False)
    elif task == ZEROSHOT_RETRIEVAL:
        from clip_benchmark.metrics import zeroshot_retrieval

        _, loader = scorer.loader(dataset, "test")
        metrics = zeroshot_retrieval.evaluate(scorer.model, loader, scorer.tokenizer,
                                              device=scorer.device, amp=scorer.amp,
                                              recall_k_list=list(RECALL_K))
    elif task == LINEAR_PROBE:
        metrics = linear_probe(scorer, dataset)
    else:
        raise EvalError(f"--task {task}: choose among {', '.join(METRICS)}")
    return {name: float(metrics[name]) for name in METRICS[task]
            if name in metrics and metrics[name] is not None
            and math.isfinite(float(metrics[name]))}


def linear_probe(scorer: Scorer, dataset: EvalDataset) -> dict[str, float]:
    _, train_loader = scorer.loader(dataset, "train")
    _, test_loader = scorer.loader(dataset, "test")
    if scorer.device.startswith("cuda"):
        from clip_benchmark.metrics import linear_probe as cb_linear_probe

        with tempfile.TemporaryDirectory() as features:
            return cb_linear_probe.evaluate(
                scorer.model, train_loader, test_loader, fewshot_k=-1,
                batch_size=scorer.batch_size, num_workers=scorer.workers, lr=0.1, epochs=10,
                model_id="realsyn", seed=scorer.seed, feature_root=features,
                device="cuda", amp=scorer.amp)
    return _cpu_linear_probe(scorer, train_loader, test_loader)


def image_features(scorer: Scorer, loader) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F

    features, targets = [], []
    with torch.no_grad(), torch.autocast(scorer.device.split(":")[0], enabled=scorer.amp):
        for images, target in loader:
            encoded = scorer.model.encode_image(images.to(scorer.device))
            features.append(F.normalize(encoded.float(), dim=-1).cpu().numpy())
            targets.append(np.asarray(target))
    return np.concatenate(features), np.concatenate(targets)


def _cpu_linear_probe(scorer: Scorer, train_loader, test_loader) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.metrics import balanced_accuracy_score

    x_train, y_train = image_features(scorer, train_loader)
    x_test, y_test = image_features(scorer, test_loader)
    folds = min(3, int(np.bincount(y_train).min(initial=0)) if len(y_train) else 0)
    if folds >= 2:
        probe = LogisticRegressionCV(Cs=np.logspace(-2, 4, 7), cv=folds, max_iter=1000,
                                     random_state=scorer.seed)
    else:  # a class with one training image: no fold to choose C on
        probe = LogisticRegression(C=1.0, max_iter=1000, random_state=scorer.seed)
    probe.fit(x_train, y_train)
    scores = probe.predict_proba(x_test)
    ranked = probe.classes_[np.argsort(-scores, axis=1)]
    metrics = {"lp_acc1": float(np.mean(ranked[:, 0] == y_test)),
               "lp_mean_per_class_recall": float(balanced_accuracy_score(y_test,
                                                                         ranked[:, 0]))}
    if len(probe.classes_) >= 5:  # as CLIP_benchmark: top-5 only with 5 classes or more
        metrics["lp_acc5"] = float(np.mean((ranked[:, :5] == y_test[:, None]).any(axis=1)))
    return metrics
