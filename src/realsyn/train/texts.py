"""One of each image's texts per training step, chosen inside open_clip's own data pipeline.

RealSyn trains with four texts per image (text1..text3, the retrieved real sentences, and
syn_text), one used at each step; the paper does not spell out the rule, and a uniform random
choice per sample is the natural reading (`random4`). The shards carry every text in `KEY.json`
while `KEY.txt` holds text1, so the choice is a step placed in front of open_clip's WebDataset
pipeline: it reads the sample's json and puts the chosen text where open_clip reads the caption.
open_clip itself is not forked: `choosing_texts` wraps `open_clip_train.main.get_data` for the
duration of one run, so that the training pipeline's tar reader goes through `TextChooser`
(the validation pipeline uses another reader and keeps text1, so every epoch is evaluated on
the same pairs).

The choice is a hash of (seed, epoch, sample key): reruns, resumed runs and any number of
loader workers draw the same text for the same sample in the same epoch, and a sample gets a
new draw every epoch. Counts of the texts drawn are kept in shared memory, so the ones made in
loader worker processes are seen by the caller.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from realsyn.dataflow.digest import stable_hash

# The texts each mode draws from, uniformly; KEY.json names them as the release parquet does.
TEXT_MODES: dict[str, tuple[str, ...]] = {
    "random4": ("text1", "text2", "text3", "syn_text"),
    "real3": ("text1", "text2", "text3"),
    "text1": ("text1",),
    "syn": ("syn_text",),
}
TEXT_FIELDS = ("text1", "text2", "text3", "syn_text")
# A sample whose json has none of its mode's texts keeps KEY.txt; counted under this name.
KEPT_CAPTION = "caption"
COUNTED = (*TEXT_FIELDS, KEPT_CAPTION)


def draw(candidates: list[str], seed: int, epoch: int, key: str) -> str:
    """The candidate for this sample in this epoch: uniform, and a pure function of its inputs."""
    return candidates[stable_hash(f"{seed}:{epoch}:{key}") % len(candidates)]


class TextChooser:
    """A WebDataset stage that wraps open_clip's tar reader and replaces each sample's `txt`
    with one of its texts. Picklable (a DataLoader may spawn its workers)."""

    def __init__(self, mode: str, seed: int, read_samples: Callable[..., Iterable[dict]]):
        if mode not in TEXT_MODES:
            raise ValueError(f"--texts {mode}: choose one of {', '.join(TEXT_MODES)}")
        self.mode, self.fields, self.seed = mode, TEXT_MODES[mode], seed
        self.read_samples = read_samples
        self.epoch: Any = None  # open_clip's SharedEpoch, set once its pipeline exists
        self.counts = multiprocessing.Array("q", len(COUNTED))

    def __call__(self, src: Iterable[Any], **kwargs: Any) -> Iterator[dict]:
        epoch = self.epoch.get_value() if self.epoch is not None else 0
        for sample in self.read_samples(src, **kwargs):
            name = self.choose(sample, epoch)
            with self.counts.get_lock():
                self.counts[COUNTED.index(name)] += 1
            yield sample

    def choose(self, sample: dict, epoch: int) -> str:
        """Sets sample["txt"] to the chosen text; returns the name of what it chose."""
        try:
            meta = json.loads(sample["json"])
        except (KeyError, TypeError, ValueError):
            meta = {}
        present = [field for field in self.fields
                   if isinstance(meta.get(field), str) and meta[field].strip()]
        if not present:
            return KEPT_CAPTION
        field = draw(present, self.seed, epoch, str(sample.get("__key__", "")))
        sample["txt"] = meta[field].encode("utf-8")
        return field

    def counted(self) -> dict[str, int]:
        return dict(zip(COUNTED, self.counts[:], strict=True))


@contextlib.contextmanager
def choosing_texts(mode: str, seed: int) -> Iterator[TextChooser]:
    """While active, open_clip_train's training pipeline draws its captions with a
    `TextChooser`; yields the chooser (its `counted()` says what was drawn)."""
    import open_clip_train.data as data
    import open_clip_train.main as main

    chooser = TextChooser(mode, seed, data.tarfile_to_samples_nothrow)
    original_get_data, original_reader = main.get_data, data.tarfile_to_samples_nothrow

    def get_data(*args: Any, **kwargs: Any) -> dict[str, Any]:
        # Only the training pipeline reads through tarfile_to_samples_nothrow; it looks the
        # name up in its module when get_data builds it.
        data.tarfile_to_samples_nothrow = chooser
        try:
            result = original_get_data(*args, **kwargs)
        finally:
            data.tarfile_to_samples_nothrow = original_reader
        if "train" in result:
            chooser.epoch = result["train"].shared_epoch
        return result

    main.get_data = get_data
    try:
        yield chooser
    finally:
        main.get_data = original_get_data
