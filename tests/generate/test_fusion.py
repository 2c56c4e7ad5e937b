"""The fusion prompt template, output cleaning and validation."""

from __future__ import annotations

import pytest

from realsyn.generate.fusion import (
    PromptTemplate,
    SentenceValidator,
    clean_output,
    estimate_tokens,
    fusion_messages,
    fusion_template,
)

TEXT1 = "The Summer Palace in Beijing was rebuilt by Empress Dowager Cixi in 1888."


def test_template_file_parses_into_chat_messages_ending_with_the_user_turn():
    template = fusion_template()
    roles = [role for role, _ in template.messages]
    assert roles[0] == "system" and roles[-1] == "user"
    assert all("#" not in content.splitlines()[0] for _, content in template.messages)
    messages = fusion_messages(TEXT1, "a pagoda among trees", [("palace", 0.4), ("tree", 0.1)])
    last = messages[-1]["content"]
    assert TEXT1 in last and "a pagoda among trees" in last and "palace, tree" in last
    assert "{" not in last


def test_template_format_errors_are_reported():
    with pytest.raises(ValueError, match="before the first"):
        PromptTemplate.parse("hello\n[user]\n{x}")
    with pytest.raises(ValueError, match="must end with a \\[user\\]"):
        PromptTemplate.parse("[system]\nbe nice\n[assistant]\nok")
    parsed = PromptTemplate.parse("# doc\n[system]\n\n  rules  \n\n[user]\nsay {what}\n")
    assert parsed.render(what="hi") == [{"role": "system", "content": "rules"},
                                        {"role": "user", "content": "say hi"}]


@pytest.mark.parametrize(("raw", "expected"), [
    ('Sentence: "A cat sleeps on a red sofa."', "A cat sleeps on a red sofa."),
    ("**A cat sleeps on a red sofa.**\n\nNote: I kept the facts.", "A cat sleeps on a red sofa."),
    ("A cat sleeps on a red sofa. It is happy.", "A cat sleeps on a red sofa."),
    ("  Output:   A   cat sleeps.  ", "A cat sleeps."),
    ("", ""),
])
def test_clean_output(raw, expected):
    assert clean_output(raw) == expected


@pytest.mark.parametrize(("sentence", "reason"), [
    ("The Summer Palace in Beijing, rebuilt in 1888, rises among green trees.", None),
    ("", "empty"),
    ("Palace.", "too_short"),
    ("I'm sorry, but I cannot help with that request.", "refusal"),
    ("Use print(x) to show the palace in Beijing.", "code"),
    ("The palace in Beijing was rebuilt in 1888 and", "not_one_sentence"),
    ("Text: the palace in Beijing was rebuilt.", "prompt_echo"),
    # The worked example of the template itself.
    ("The Golden Gate Bridge, opened in 1937 at San Francisco, is a red suspension bridge.",
     "prompt_echo"),
    ("The palace has " + " ".join(f"hall {i} and" for i in range(30)) + " gardens.",
     "too_long"),
    ("The palace has old halls and old halls and old halls and old halls.", "repetition"),
])
def test_validator(sentence, reason):
    validator = SentenceValidator(max_tokens=77)
    assert validator.check(sentence, "a pagoda", [("palace", 0.5)]) == reason


def test_tag_list_verbatim_is_an_echo():
    validator = SentenceValidator()
    tags = [("palace", 0.5), ("pagoda", 0.2), ("tree", 0.1)]
    assert validator.check("It shows palace, pagoda, tree in Beijing.", "", tags) == "prompt_echo"


def test_token_estimate_counts_words_punctuation_and_long_words():
    assert estimate_tokens("A cat.") == 3
    assert estimate_tokens("internationalization") > 1
    assert estimate_tokens(TEXT1) >= len(TEXT1.split())
