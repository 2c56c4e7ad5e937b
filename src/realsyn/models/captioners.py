"""Image captioners: one short literal caption per image.

- `TagsLLMCaptioner` (offline default): no captioning model ships on the package registries,
  so the offline classifier's top labels are turned into a caption by the LLM
  (prompts/caption.txt).
- `LabelsCaptioner`: the same labels joined into a caption by a fixed pattern, without the LLM
  ("A golden retriever with a tennis ball."), the form the caption prompt's examples ask for.
- `HFCaptioner`: a Hugging Face image-to-text model (BLIP, GIT, ...) for users who have its
  weights; transformers is imported only when it is built.
- `VisionLLMCaptioner`: an OpenAI-compatible vision-language endpoint (vLLM or SGLang serving
  e.g. Qwen2-VL); the image travels as a JPEG data URL.
A caption that cannot be had comes back with an error reason instead of raising.
The two LLM captioners also offer their halves, `caption_requests` and `parse`, so the stage can
send captions in the same LLM round as the previous batch's fusions (no idle slot between).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from PIL import Image

from realsyn.generate.fusion import caption_template, clean_output
from realsyn.models.llm import ChatRequest, Completion, LLMClient
from realsyn.models.taggers import Tags, labels_per_image

VISION_PROMPT = ("Write one short literal caption of this photo (at most 20 words). "
                 "Reply with the caption only.")


class Caption(NamedTuple):
    text: str | None
    error: str | None = None  # reason when text is None


class Captioner(Protocol):
    def caption(self, images: Sequence[Image.Image],
                labels: Sequence[Tags] | None = None) -> list[Caption]: ...


def check_caption(raw: str | None) -> Caption:
    """Cleaned caption, or the reason it is unusable."""
    text = clean_output(raw or "")
    if not text:
        return Caption(None, "caption_empty")
    if len(re.findall(r"\w+", text)) < 2:
        return Caption(None, "caption_too_short")
    if re.search(r"```|[{}<>]|\bdef |\bimport ", text):
        return Caption(None, "caption_code")
    return Caption(text)


def parse_answers(results: Sequence[Completion]) -> list[Caption]:
    return [check_caption(r.text) if r.ok else Caption(None, f"caption_{r.error}")
            for r in results]


def format_labels(labels: Tags) -> str:
    return ", ".join(f"{name} ({probability:.2f})" for name, probability in labels)


def likely_labels(labels: Tags, n_labels: int, min_label_score: float) -> Tags:
    """The top label, and the next ones (of the `n_labels` best) that are likely enough."""
    ranked = sorted(labels, key=lambda pair: -pair[1])[:n_labels]
    return ranked[:1] + [pair for pair in ranked[1:] if pair[1] >= min_label_score]


class TagsLLMCaptioner:
    """Needs `labels` (the classifier's top labels, computed by the stage)."""

    def __init__(self, client: LLMClient, *, max_tokens: int = 32, temperature: float = 0.0,
                 seed: int = 0, n_labels: int = 5, min_label_score: float = 0.1):
        self.client = client
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.n_labels = n_labels
        self.min_label_score = min_label_score

    def prompt_labels(self, labels: Tags) -> Tags:
        """The labels the LLM sees (`likely_labels`)."""
        return likely_labels(labels, self.n_labels, self.min_label_score)

    def requests(self, labels: Sequence[Tags]) -> list[ChatRequest]:
        template = caption_template()
        return [ChatRequest.of(template.render(labels=format_labels(self.prompt_labels(row))),
                               max_tokens=self.max_tokens, temperature=self.temperature,
                               seed=self.seed) for row in labels]

    def caption_requests(self, images: Sequence[Image.Image],
                         labels: Sequence[Tags] | None = None) -> list[ChatRequest]:
        return self.requests(labels_per_image("TagsLLMCaptioner", images, labels))

    parse = staticmethod(parse_answers)

    def caption(self, images: Sequence[Image.Image],
                labels: Sequence[Tags] | None = None) -> list[Caption]:
        return self.parse(self.client.complete_many(self.caption_requests(images, labels)))


def with_article(noun: str) -> str:
    # A spelling rule, not a phonetic one: "an hour" and "a unicorn" come out wrong, as rare
    # among ImageNet's class names as they are harmless to a caption.
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def labels_caption(labels: Tags) -> Caption:
    """'A <first> with a <second> and a <third>.': the labels in the classifier's order."""
    nouns = [with_article(name) for name, _ in labels]
    if not nouns:
        return Caption(None, "caption_no_labels")
    text = nouns[0] + (" with " + " and ".join(nouns[1:]) if nouns[1:] else "")
    return Caption(text[0].upper() + text[1:] + ".")


class LabelsCaptioner:
    """The labels the caption LLM would see (`likely_labels`), joined by `labels_caption`:
    no LLM request per image."""

    def __init__(self, *, n_labels: int = 5, min_label_score: float = 0.1):
        self.n_labels = n_labels
        self.min_label_score = min_label_score

    def caption(self, images: Sequence[Image.Image],
                labels: Sequence[Tags] | None = None) -> list[Caption]:
        return [labels_caption(likely_labels(row, self.n_labels, self.min_label_score))
                for row in labels_per_image("LabelsCaptioner", images, labels)]


def image_data_url(image: Image.Image, max_side: int = 768, quality: int = 90) -> str:
    """The image as a JPEG data URL, downscaled so requests stay small (deterministic)."""
    image = image.convert("RGB")
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class VisionLLMCaptioner:
    def __init__(self, client: LLMClient, *, max_tokens: int = 32, temperature: float = 0.0,
                 seed: int = 0, prompt: str = VISION_PROMPT):
        self.client = client
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.prompt = prompt

    def requests(self, images: Sequence[Image.Image]) -> list[ChatRequest]:
        return [ChatRequest.of([{"role": "user", "content": [
            {"type": "text", "text": self.prompt},
            {"type": "image_url", "image_url": {"url": image_data_url(image)}}]}],
            max_tokens=self.max_tokens, temperature=self.temperature, seed=self.seed)
            for image in images]

    def caption_requests(self, images: Sequence[Image.Image],
                         labels: Sequence[Tags] | None = None) -> list[ChatRequest]:
        return self.requests(images)

    parse = staticmethod(parse_answers)

    def caption(self, images: Sequence[Image.Image],
                labels: Sequence[Tags] | None = None) -> list[Caption]:
        return self.parse(self.client.complete_many(self.requests(images)))


class HFCaptioner:
    """A Hugging Face image-to-text model (BLIP, GIT, ViT-GPT2, Florence-2 with a `prompt`,
    ...) through AutoModelForImageTextToText; the weights must be available locally or on a
    hub the user can reach (the tests run with HF_HUB_OFFLINE=1)."""

    def __init__(self, model: str, *, device: str = "auto", max_new_tokens: int = 32,
                 batch_size: int = 8, prompt: str | None = None):
        try:
            import transformers
        except ImportError:
            raise ImportError("the 'hf' captioner needs the transformers package") from None
        import torch

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model = transformers.AutoModelForImageTextToText.from_pretrained(model)
        self.model = self.model.to(device).eval()
        processor = transformers.AutoProcessor.from_pretrained(model)
        if hasattr(processor, "image_processor"):  # a full processor (BLIP, GIT, ...)
            self.inputs, self.decoder = processor, processor
        else:  # encoder-decoder checkpoints that save an image processor and a tokenizer
            self.inputs = transformers.AutoImageProcessor.from_pretrained(model)
            self.decoder = transformers.AutoTokenizer.from_pretrained(model)
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.prompt = prompt

    def _generate(self, images: list[Image.Image]) -> list[str]:
        import torch

        if self.prompt:
            batch = self.inputs(images=images, text=[self.prompt] * len(images),
                                return_tensors="pt")
        else:
            batch = self.inputs(images=images, return_tensors="pt")
        batch = batch.to(self.device)
        with torch.inference_mode():
            tokens = self.model.generate(**batch, max_new_tokens=self.max_new_tokens)
        if "input_ids" in batch and not self.model.config.is_encoder_decoder:
            tokens = tokens[:, batch["input_ids"].shape[1]:]  # decoder-only: drop the prompt
        return self.decoder.batch_decode(tokens, skip_special_tokens=True)

    def caption(self, images: Sequence[Image.Image],
                labels: Sequence[Tags] | None = None) -> list[Caption]:
        results: list[Caption] = []
        rgb = [image.convert("RGB") for image in images]
        for start in range(0, len(rgb), self.batch_size):
            chunk = rgb[start:start + self.batch_size]
            try:
                texts = self._generate(chunk)
            except Exception as error:  # a model failure flags the batch, not the run
                results += [Caption(None, f"caption_hf_{type(error).__name__}")] * len(chunk)
            else:
                results += [check_caption(text) for text in texts]
        return results
