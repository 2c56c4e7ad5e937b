"""Captioners that need no LLM server: the Hugging Face path with a tiny local model (random
weights, built here: no hub), and the caption checks shared by all captioners."""

from __future__ import annotations

import pytest
from PIL import Image

from realsyn.models.captioners import (
    HFCaptioner,
    LabelsCaptioner,
    TagsLLMCaptioner,
    check_caption,
    format_labels,
    image_data_url,
)

WORDS = ["a", "cat", "on", "the", "sofa", "dog", "red", "photo", "of", "with"]


@pytest.fixture(scope="module")
def tiny_captioning_model(tmp_path_factory):
    """A 1-layer ViT encoder + 1-layer GPT-2 decoder over a 10-word vocabulary, saved the
    way image-to-text checkpoints are (model, image processor, tokenizer)."""
    transformers = pytest.importorskip("transformers")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    specials = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
    vocab = {word: i for i, word in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]",
        eos_token="[EOS]")
    encoder = transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=64, image_size=32, patch_size=16)
    decoder = transformers.GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=1, n_head=2,
                                      n_positions=64, bos_token_id=2, eos_token_id=3,
                                      add_cross_attention=True, is_decoder=True)
    config = transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder,
                                                                                  decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 2, 0, 3
    torch.manual_seed(0)
    model = transformers.VisionEncoderDecoderModel(config)
    generation = model.generation_config
    generation.decoder_start_token_id, generation.pad_token_id = 2, 0
    generation.eos_token_id = 3
    generation.min_new_tokens = 3  # random weights: make sure some words come out
    generation.suppress_tokens = [0, 1, 2]
    folder = tmp_path_factory.mktemp("tiny-captioner")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_hf_captioner_runs_a_local_image_to_text_model(tiny_captioning_model):
    captioner = HFCaptioner(str(tiny_captioning_model), device="cpu", max_new_tokens=5,
                            batch_size=2)
    images = [Image.new("RGB", (64, 48), color) for color in ("red", "blue", "green")]
    captions = captioner.caption(images)
    assert len(captions) == 3
    for caption in captions:
        assert caption.error is None
        words = caption.text.lower().split()
        assert len(words) >= 2 and set(words) <= set(WORDS)


def test_hf_captioner_without_weights_fails_clearly(tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(OSError):
        HFCaptioner(str(tmp_path / "nothing-here"), device="cpu")


def test_caption_checks_and_prompt_inputs():
    assert check_caption("Caption: A red bus on a street.").text == "A red bus on a street."
    assert check_caption("").error == "caption_empty"
    assert check_caption("Bus").error == "caption_too_short"
    assert check_caption("def caption(): return 'a cat'").error == "caption_code"
    assert format_labels([("tabby", 0.612), ("tiger cat", 0.2)]) == "tabby (0.61), tiger cat (0.20)"
    captioner = TagsLLMCaptioner(client=None, n_labels=3, min_label_score=0.1)
    assert captioner.prompt_labels([("lynx", 0.05), ("tabby", 0.6), ("tiger cat", 0.3),
                                    ("box", 0.2)]) == [("tabby", 0.6), ("tiger cat", 0.3),
                                                       ("box", 0.2)]
    assert captioner.prompt_labels([("tabby", 0.04), ("lynx", 0.03)]) == [("tabby", 0.04)]
    url = image_data_url(Image.new("RGB", (2000, 1000), "red"))
    assert url.startswith("data:image/jpeg;base64,")


def test_labels_captioner_joins_the_likely_labels_without_an_llm():
    captioner = LabelsCaptioner(n_labels=3, min_label_score=0.1)
    images = [Image.new("RGB", (8, 8))] * 4
    captions = captioner.caption(images, [
        [("lynx", 0.05), ("tabby", 0.6), ("tiger cat", 0.3), ("envelope", 0.2)],
        [("Granny Smith", 0.9), ("orange", 0.05)],
        [("analog clock", 0.5), ("web site", 0.4)],
        []])
    assert captions[0].text == "A tabby with a tiger cat and an envelope."
    assert captions[1].text == "A Granny Smith."  # the unlikely second label is left out
    assert captions[2].text == "An analog clock with a web site."
    assert captions[3].error == "caption_no_labels"
    with pytest.raises(ValueError, match="one label list per image"):
        captioner.caption(images, None)
