"""How good the synthetic sentences are (issue #17.4): counted per shard, reported per run.

For each row of `generated` it counts
- `same`: syn_text equal to text1 once normalised (case, spacing, closing punctuation), which
  includes every fallback row;
- the facts of text1 (spaCy named entities and numbers) and how many of them syn_text keeps,
  over the rows whose syn_text was really rewritten (kept facts are trivial in a copy);
- `visual`: syn_text mentions at least one tag or one noun of the caption (`visual_new`: one
  that text1 did not already mention, i.e. the image added it);
- the words of text1 and syn_text, for the length change.
The counters are plain integers, so the executor sums them over shards (`quality_*` stats) and
`quality_report` turns the sums into the figures of report/generation.json.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "quality_"
# Targets of issue #17.4 on the demo with the offline LLM, shown beside the figures.
TARGETS = {"same_as_text1": ("<=", 0.20), "entity_retention": (">=", 0.90),
           "visual_mention": (">=", 0.70)}


def normalize(text: str | None) -> str:
    """Lower case, one space between words, no surrounding quotes or closing punctuation."""
    text = re.sub(r"\s+", " ", (text or "").lower()).strip()
    return text.strip("\"'`“”‘’ ").rstrip(".!?;:, ")


def words(text: str | None) -> list[str]:
    return re.findall(r"\w+", (text or "").lower())


def mentions(text_words: set[str], phrase: str) -> bool:
    """Every word of `phrase` occurs in the text, a plural 's' aside ("dogs" mentions "dog")."""
    wanted = words(phrase)
    return bool(wanted) and all(w in text_words or w + "s" in text_words
                                or w.rstrip("s") in text_words for w in wanted)


def contains_fact(text: str, fact: str) -> bool:
    """`fact` (an entity or a number) occurs in `text` as whole words, case aside."""
    pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, fact.lower().split())) + r"(?!\w)"
    return re.search(pattern, text.lower()) is not None


@dataclass
class QualityCounter:
    """Counts the quality figures of rows; `nlp` is a spaCy pipeline with NER and a tagger."""

    nlp: Any

    def facts(self, docs: Iterable[Any]) -> list[set[str]]:
        """Names and numbers of each parsed text: every named entity, as its proper-noun and
        number tokens ("the start of the 20th century" is "20th", "Falcon 9" is "Falcon" and
        "9": a rewording around them keeps the fact), or as a whole when it has none; and any
        other token holding a digit."""
        found = []
        for doc in docs:
            facts = set()
            for ent in doc.ents:
                core = [tok.text for tok in ent if tok.pos_ == "PROPN" or _has_digit(tok.text)]
                facts |= set(core) if core else {ent.text}
            facts |= {tok.text for tok in doc if _has_digit(tok.text)}
            found.append({f for f in map(normalize_fact, facts) if f})
        return found

    def facts_of(self, texts: Sequence[str | None]) -> list[set[str]]:
        return self.facts(self.nlp.pipe([t or "" for t in texts]))

    def nouns(self, docs: Iterable[Any]) -> list[set[str]]:
        return [{tok.lemma_.lower() for tok in doc if tok.pos_ in ("NOUN", "PROPN")}
                for doc in docs]

    def count(self, text1: Sequence[str | None], syn_text: Sequence[str | None],
              captions: Sequence[str | None], tags: Sequence[Sequence[str]]) -> Counter[str]:
        counts: Counter[str] = Counter()
        text1 = [t or "" for t in text1]
        facts = self.facts_of(text1)
        nouns = self.nouns(self.nlp.pipe([c or "" for c in captions]))
        for t1, syn, row_facts, caption_nouns, row_tags in zip(
                text1, syn_text, facts, nouns, tags, strict=True):
            syn = syn or ""
            counts["rows"] += 1
            counts["text1_words"] += len(words(t1))
            counts["syn_words"] += len(words(syn))
            same = normalize(syn) == normalize(t1)
            counts["same"] += same
            if not same:
                counts["rewritten"] += 1
                counts["facts"] += len(row_facts)
                counts["facts_kept"] += sum(contains_fact(syn, f) for f in row_facts)
            syn_words, t1_words = set(words(syn)), set(words(t1))
            visual = [v for v in [*row_tags, *caption_nouns] if mentions(syn_words, v)]
            counts["visual"] += bool(visual)
            counts["visual_new"] += any(not mentions(t1_words, v) for v in visual)
        return Counter({PREFIX + k: v for k, v in counts.items()})


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def lost_facts(facts: Iterable[str], sentence: str) -> list[str]:
    """The facts of text1 (from `QualityCounter.facts`) that `sentence` does not contain."""
    return sorted(f for f in facts if not contains_fact(sentence, f))


def load_quality_counter(spacy_model: str) -> QualityCounter:
    import spacy

    return QualityCounter(spacy.load(spacy_model, disable=["parser"]))  # NER, tags, lemmas


def normalize_fact(text: str) -> str:
    # "the GIMP" and "GIMP" are the same fact; a trailing "'s" or punctuation is not part of it.
    text = re.sub(r"^(?:the|a|an)\s+", "", text.strip(), flags=re.IGNORECASE)
    return re.sub(r"(?:'s|’s)$", "", text).strip(" .,;:!?\"'()[]")


def quality_report(stats: dict[str, Any]) -> dict[str, Any]:
    """The figures of report/generation.json from the summed `quality_*` counters."""
    c = {k.removeprefix(PREFIX): v for k, v in stats.items() if k.startswith(PREFIX)}
    rows = c.get("rows", 0)

    def share(part: str, whole: int) -> float | None:
        return round(c.get(part, 0) / whole, 4) if whole else None

    report = {
        "rows": rows,
        "same_as_text1": share("same", rows),
        "entity_retention": share("facts_kept", c.get("facts", 0)),
        "visual_mention": share("visual", rows),
        "visual_mention_new": share("visual_new", rows),
        "mean_text1_words": round(c.get("text1_words", 0) / rows, 2) if rows else None,
        "mean_syn_words": round(c.get("syn_words", 0) / rows, 2) if rows else None,
        "length_ratio": (round(c.get("syn_words", 0) / c["text1_words"], 3)
                         if c.get("text1_words") else None),
        # The LLM's answers before `generate.keep_facts` sends those that lose a fact back to
        # text1 (over valid answers that differ from text1).
        "answer_entity_retention": share("answer_facts_kept", c.get("answer_facts", 0)),
        "answers_rewritten": c.get("answers_rewritten", 0),
        "rewritten_rows": c.get("rewritten", 0),
        "text1_facts_in_rewritten_rows": c.get("facts", 0),
        "facts_kept": c.get("facts_kept", 0),
        "fallback_rows": sum(v for k, v in stats.items() if k.startswith("fallback_")),
    }
    report["targets"] = {name: {"target": f"{op} {bound}", "met": _met(report[name], op, bound)}
                         for name, (op, bound) in TARGETS.items()}
    return report


def _met(value: float | None, op: str, bound: float) -> bool | None:
    if value is None:
        return None
    return value <= bound if op == "<=" else value >= bound


def report_lines(report: dict[str, Any]) -> str:
    """The report in one line for the CLI's summary."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.0f}%"

    return (f"quality: same as text1 {pct(report['same_as_text1'])}, "
            f"entities/numbers kept {pct(report['entity_retention'])} "
            f"({report['facts_kept']}/{report['text1_facts_in_rewritten_rows']}; "
            f"{pct(report.get('answer_entity_retention'))} in the LLM's answers), "
            f"visual mention {pct(report['visual_mention'])} "
            f"(new {pct(report['visual_mention_new'])}), "
            f"length x{report['length_ratio']}")
