"""Planted sentence duplicates with their true groups, shared by the dedup tests and
benchmarks/bench_paraphrase.py (which calibrates the paraphrase threshold of an encoder)."""

from __future__ import annotations

import numpy as np

# Groups of planted duplicates: the first of each is the original; then an exact repeat after
# normalisation, near-exact edits, or paraphrases. Singletons are distinct sentences, several
# on the same topics as the groups (hard negatives).
GROUPS = [
    ["A dog sitting next to a door.", "A dog sitting next to a door.",
     "a dog sitting next to a door", "A dog sitting next to the door."],
    ["It's a vehicular collision.", "It's an automobile incident.", "It is a car crash."],
    ["The children are playing football in the park.", "Kids play soccer in the park.",
     "The children are playing football in the park!"],
    ["A man is riding a horse on the beach.", "A person rides a horse along the beach."],
    ["The woman is cutting vegetables in the kitchen.",
     "In the kitchen, a woman chops vegetables."],
    ["Apply the Gaussian blur filter to smooth the image.",
     "Use the Gaussian blur filter to make the image smoother."],
    ["The Taj Mahal was built by Shah Jahan in memory of his wife.",
     "Shah Jahan built the Taj Mahal in memory of his wife.",
     "The Taj Mahal was built by Shah Jahan in memory of his wife Mumtaz."],
    ["Select the layer you want to move with the Move tool.",
     "Select the layer you want to move with the move tool"],
]
SINGLETONS = [
    "A cat is sleeping on the sofa.", "The children are reading books in the library.",
    "A man is riding a bicycle in the city.", "Apply the sharpen filter to enhance the edges.",
    "It's a sunny day at the beach.", "The woman is painting a portrait in her studio.",
    "A red truck is parked in front of the old barn.", "The layers dialog lists every layer.",
    "Two birds are flying over the lake at sunset.", "The Eiffel Tower was finished in 1889.",
]


def paraphrase_corpus() -> tuple[list[str], np.ndarray]:
    """The texts of GROUPS then SINGLETONS, and the group of each text."""
    texts, truth = [], []
    for group, members in enumerate(GROUPS):
        texts.extend(members)
        truth.extend([group] * len(members))
    texts.extend(SINGLETONS)
    truth.extend(range(len(GROUPS), len(GROUPS) + len(SINGLETONS)))
    return texts, np.array(truth)
