"""The GGUF perplexity scorer (llama.cpp through xllamacpp) on a handful of sentences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from realsyn.config import SentenceFilterConfig
from realsyn.extract import sentences as S
from realsyn.extract.paper_filters import SentenceFilter
from realsyn.models.perplexity import GGUFScorer, make_scorer, scorer_identity, token_log_probs

CLEAN = ["The cat sat on the mat next to the warm fireplace.",
         "The museum opened its new wing to visitors last spring.",
         "A young woman rides a bicycle along the river in the morning."]
SPAM = ["BUY NOW!!! CHEAP VIAGRA CLICK HERE BEST PRICE FREE SHIPPING!!!",
        "Click here click here click here to win win win free free free."]
GIBBERISH = ["qwz xplor brindle vakt ummo sprack tel fjord zibble.",
             "sdfkj weoiru zxcmvn qpwoeiru lkasjdf."]


@pytest.fixture(scope="module")
def scorer():
    return GGUFScorer(threads=1)


@pytest.fixture(scope="module")
def scored(scorer):
    """Perplexities of every test sentence, computed once in one batch."""
    texts = CLEAN + SPAM + GIBBERISH
    return dict(zip(texts, scorer.perplexities(texts), strict=True))


@pytest.mark.slow
def test_clean_prose_scores_below_spam_below_gibberish(scorer, scored):
    clean, spam, gibberish = ([scored[t] for t in group] for group in (CLEAN, SPAM, GIBBERISH))
    print("perplexity clean", np.round(clean, 1), "spam", np.round(spam, 1),
          "gibberish", np.round(gibberish, 1))
    assert max(clean) < 100 and np.mean(clean) < np.mean(spam) < min(gibberish)
    assert min(gibberish) > 1000
    assert scorer.identity == "gguf:gemma-3-270m-q4_k_m.gguf" == scorer_identity("gguf")


@pytest.mark.slow
def test_batching_does_not_change_values(scorer, scored):
    alone = [scorer.perplexities([text])[0] for text in (CLEAN[0], GIBBERISH[1])]
    assert np.allclose(alone, [scored[CLEAN[0]], scored[GIBBERISH[1]]], rtol=1e-3)
    assert math.isnan(scorer.perplexities([""])[0])


@pytest.mark.slow
def test_head_matches_llama_cpp_own_log_probs(scorer):
    """Our logits (hidden state x GGUF output matrix) agree with llama.cpp's completion
    log-probabilities for the next token (up to llama.cpp's quantised activations)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(scorer.path)
    params.n_ctx = 256
    params.cpuparams.n_threads = 1
    params.verbosity = -1
    server = xllamacpp.Server(params)
    prompt = "The cat sat on the"
    reply = server.handle_completions({"prompt": prompt, "n_predict": 1, "n_probs": 3,
                                       "temperature": 0})
    top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    tokens = scorer.tokenize(prompt)
    states = scorer._post("/embedding", {"content": [tokens]})[0]["embedding"]
    last = np.asarray(states, dtype=np.float32)[-1:]
    for entry in top[:2]:
        ours = token_log_probs(last, scorer.output, np.array([entry["id"]]))[0]
        assert ours == pytest.approx(entry["logprob"], abs=0.35)


@pytest.mark.slow
def test_filter_drops_gibberish_by_perplexity(scorer):
    config = SentenceFilterConfig(min_perplexity=5, max_perplexity=200)
    candidates, stats = SentenceFilter(config, nlp=None, scorer=scorer).run(
        [CLEAN[0], GIBBERISH[0]])
    assert [c.dropped for c in candidates] == [None, S.HIGH_PERPLEXITY]
    assert 5 < candidates[0].perplexity < 200 and stats["dropped_high_perplexity"] == 1


def test_scorer_factory_refuses_incomplete_configs():
    assert make_scorer("none") is None
    with pytest.raises(ValueError, match="perplexity_model"):
        make_scorer("kenlm")
    with pytest.raises(ValueError, match="perplexity_model"):
        make_scorer("hf")
