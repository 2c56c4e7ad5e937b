"""The models one generate worker uses, built once from the config (`GenerationModels`).

Model libraries are imported here and in realsyn.models only when the configured roles need
them: a run with a vision-language endpoint and no tagger imports neither torch nor llama.cpp.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from realsyn import datasets
from realsyn.config import RealsynConfig
from realsyn.generate.fusion import DEFAULT_CONTEXT_LENGTH, SentenceValidator
from realsyn.generate.vocabulary import load_vocabulary, mine_nouns
from realsyn.models.llm import LLMClient, make_client
from realsyn.workspace import Workspace

if TYPE_CHECKING:  # the captioners import their model libraries only when built
    from realsyn.models.captioners import Captioner

log = logging.getLogger(__name__)

# The generate stage's caches (its declared `caches`): the LLM answers and the mined tags.
CACHE_FOLDER = "generate"
MINED_TAGS = f"{CACHE_FOLDER}/mined_tags.json"
CACHE_FILE = "llm-cache.sqlite"


@dataclass
class GenerationModels:
    llm: LLMClient
    captioner: object
    tagger: object
    validator: SentenceValidator
    classifier: object | None = None  # the offline classifier, when a role needs its labels
    label_count: int = 5
    clients: list[LLMClient] = field(default_factory=list)
    restore_torch_threads: int | None = None  # set when tagging was narrowed to one thread

    def close(self) -> None:
        for client in self.clients:
            client.close()
        if self.restore_torch_threads is not None:
            import torch

            torch.set_num_threads(self.restore_torch_threads)
            self.restore_torch_threads = None


def llm_cache_path(config: RealsynConfig, workspace: Workspace) -> Path:
    """The request cache: config'd, else inside a local workspace, else the user cache."""
    if config.generate.cache_path:
        return Path(config.generate.cache_path)
    if workspace.is_local:
        return Path(workspace.path(CACHE_FOLDER, CACHE_FILE))
    from realsyn.models.llm.gguf import cache_dir

    return cache_dir() / CACHE_FILE


def build_models(config: RealsynConfig, workspace: Workspace,
                 sentences: str = datasets.SENTENCES_FINAL) -> GenerationModels:
    gen = config.generate
    cache_path = llm_cache_path(config, workspace)
    llm = make_client(gen.llm, cache_path)
    clients = [llm]

    needs_labels = gen.tagger in ("classifier", "combined") or gen.captioner in (
        "tags_llm", "labels")
    classifier = None
    if needs_labels:
        from realsyn.models.encoders import load_offline_classifier

        classifier = load_offline_classifier(config.embed.encoder.device)

    encoder = None
    if gen.tagger in ("zero_shot", "combined"):
        from realsyn.models.encoders import load_encoder

        encoder = load_encoder(config.embed.encoder)

    tagger = _build_tagger(config, workspace, encoder, sentences)
    captioner, extra = _build_captioner(config, llm, cache_path)
    clients += extra

    context = gen.max_syn_tokens or (getattr(encoder, "context_length", None)
                                     if encoder is not None else None) or DEFAULT_CONTEXT_LENGTH
    validator = SentenceValidator(max_tokens=context, min_words=gen.min_syn_words)
    return GenerationModels(llm=llm, captioner=captioner, tagger=tagger, validator=validator,
                            classifier=classifier, clients=clients,
                            label_count=max(gen.caption_labels, gen.max_tags),
                            restore_torch_threads=one_torch_thread_on_cpu(
                                (classifier is not None or encoder is not None)
                                and gen.captioner != "hf"))  # an hf captioner needs them


def one_torch_thread_on_cpu(uses_torch: bool) -> int | None:
    """Tagging runs in a helper thread beside the LLM (stage.py): on CPU, one intra-op
    thread keeps it from taking the LLM's cores (idle OpenMP threads also spin for a while).
    Returns the previous thread count, to restore, or None when nothing changed."""
    if not uses_torch:
        return None
    import torch

    if torch.cuda.is_available() or torch.get_num_threads() == 1:
        return None
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    return previous


def _build_tagger(config: RealsynConfig, workspace: Workspace, encoder, sentences: str):
    from realsyn.models.taggers import ClassifierTagger, CombinedTagger, NoTagger, ZeroShotTagger

    gen = config.generate
    if gen.tagger == "none":
        return NoTagger()
    by_classifier = ClassifierTagger(max_tags=gen.max_tags, min_score=gen.min_tag_score)
    if gen.tagger == "classifier":
        return by_classifier
    from realsyn.models.llm.gguf import cache_dir

    zero_shot = ZeroShotTagger(encoder, tag_vocabulary(config, workspace, sentences),
                               max_tags=gen.max_tags, min_score=gen.min_tag_score,
                               logit_scale=gen.zero_shot_logit_scale, cache_dir=cache_dir())
    if gen.tagger == "zero_shot":
        return zero_shot
    return CombinedTagger([zero_shot, by_classifier], max_tags=gen.max_tags,
                          min_score=gen.min_tag_score)


def _build_captioner(config: RealsynConfig, llm: LLMClient, cache_path: Path) -> Captioner:
    from realsyn.models import captioners

    gen = config.generate
    if gen.captioner == "tags_llm":
        return captioners.TagsLLMCaptioner(
            llm, max_tokens=gen.caption_max_tokens, temperature=gen.llm.temperature,
            seed=gen.llm.seed, n_labels=gen.caption_labels,
            min_label_score=gen.caption_min_label_score), []
    if gen.captioner == "labels":
        return captioners.LabelsCaptioner(n_labels=gen.caption_labels,
                                          min_label_score=gen.caption_min_label_score), []
    if gen.captioner == "openai_vl":
        url = gen.captioner_base_url or gen.llm.base_url
        if not url:
            raise ValueError("captioner 'openai_vl' needs generate.captioner_base_url "
                             "or llm.base_url")
        vision_config = gen.llm.model_copy(update={
            "backend": "openai", "base_url": url, "model": gen.captioner_model or gen.llm.model})
        client = make_client(vision_config, cache_path)
        return captioners.VisionLLMCaptioner(
            client, max_tokens=gen.caption_max_tokens, temperature=gen.llm.temperature,
            seed=gen.llm.seed, prompt=gen.captioner_prompt or captioners.VISION_PROMPT), [client]
    if not gen.captioner_model:
        raise ValueError("captioner 'hf' needs generate.captioner_model")
    return captioners.HFCaptioner(gen.captioner_model, device=config.embed.encoder.device,
                                  max_new_tokens=gen.caption_max_tokens,
                                  prompt=gen.captioner_prompt), []


def mines_tags(config: RealsynConfig) -> bool:
    """Whether the tagger extends its vocabulary with nouns mined from the sentences."""
    gen = config.generate
    return gen.tagger in ("zero_shot", "combined") and gen.mine_tags and gen.mined_tags_max > 0


def tag_vocabulary(config: RealsynConfig, workspace: Workspace,
                   sentences: str = datasets.SENTENCES_FINAL) -> list[str]:
    """The shipped (or configured) vocabulary, extended with nouns mined from the sentence
    database. The mined list is computed once per workspace and stored, so every worker and
    every rerun tags against the same vocabulary."""
    gen = config.generate
    base = load_vocabulary(gen.tag_vocabulary)
    if not mines_tags(config):
        return base
    mined = workspace.read_json(MINED_TAGS)
    if mined is None:
        mined = _mine(config, workspace, set(base), sentences)
        workspace.write_json(MINED_TAGS, mined)
    return sorted(set(base) | set(mined["tags"]))


def _mine(config: RealsynConfig, workspace: Workspace, known: set[str], dataset: str) -> dict:
    gen = config.generate
    sentences: list[str] = []
    for _, table in workspace.iter_tables(dataset, columns=["text"]):
        sentences.extend(t for t in table.column("text").to_pylist() if t)
        if len(sentences) >= gen.mine_max_sentences:
            break
    sentences = sentences[: gen.mine_max_sentences]
    if not sentences:
        return {"tags": [], "sentences": 0}
    import spacy

    nlp = spacy.load(config.extract.sentences.spacy_model, disable=["parser", "ner"])
    tags = mine_nouns(sentences, nlp, min_count=gen.mined_tag_min_count,
                      max_new=gen.mined_tags_max, exclude=known)
    log.info("mined %d tags from %d sentences", len(tags), len(sentences))
    return {"tags": tags, "sentences": len(sentences)}
