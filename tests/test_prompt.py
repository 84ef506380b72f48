"""The shared prompt (Laser, Lite-LLM4Rec, DARec): text, cached token pieces, truncation, budget, bad text."""

import pytest

from laserrec.data.dataset import ItemText
from laserrec.errors import ConfigError
from laserrec.models.prompt import HEADER, PromptBuilder, attribute_text, item_line, special_tokens
from tiny_backbones import tiny_tokenizer

ITEMS = [
    ItemText(),
    ItemText(title="Digital caliper", brand="Mitutoyo", categories="Industrial, Measuring, Calipers"),
    ItemText(title="Safety glasses", brand="", categories="Safety, Eyewear"),
    ItemText(title="Nitrile gloves", brand="Ammex", categories=""),
    ItemText(title="Plain tape", brand="", categories=""),
]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def test_item_line_text_uses_last_category_and_omits_empty_parts():
    assert item_line(1, ITEMS[1]) == "\n>> 1. Digital caliper (brand: Mitutoyo, category: Calipers)"
    assert item_line(2, ITEMS[2]) == "\n>> 2. Safety glasses (category: Eyewear)"
    assert attribute_text(ITEMS[3]) == " (brand: Ammex)"
    assert attribute_text(ITEMS[4]) == ""


def test_prompt_is_header_plus_renumbered_recent_lines(tok):
    b = PromptBuilder(tok, ITEMS, max_history=2, max_title_tokens=16, max_prompt_tokens=200)
    lead, trail = special_tokens(tok)  # [CLS], [SEP] for this WordPiece tokenizer
    ids = b.build([0, 0, 4, 1, 2])  # padding ignored; the 2 most recent items, numbered 1..2
    text = HEADER + item_line(1, ITEMS[1]) + item_line(2, ITEMS[2])
    assert ids == lead + tok(text, add_special_tokens=False)["input_ids"] + trail
    assert (
        ids
        == b.header_ids + b.number_ids[1] + b.item_line_ids[1] + b.number_ids[2] + b.item_line_ids[2] + trail
    )


def test_titles_are_truncated_in_token_space(tok):
    long = [ItemText(), ItemText(title="alpha beta gamma delta epsilon zeta", brand="Acme")]
    b = PromptBuilder(tok, long, max_history=1, max_title_tokens=2, max_prompt_tokens=200)
    expected = (
        tok(" alpha beta", add_special_tokens=False)["input_ids"]
        + tok(" (brand: Acme)", add_special_tokens=False)["input_ids"]
    )
    assert b.item_line_ids[1] == expected


def test_oldest_items_dropped_until_the_budget_fits(tok):
    full = PromptBuilder(tok, ITEMS, max_history=4, max_title_tokens=16, max_prompt_tokens=500)
    need_two = full.length([3, 4])
    b = PromptBuilder(tok, ITEMS, max_history=4, max_title_tokens=16, max_prompt_tokens=need_two)
    assert b.fit([1, 2, 3, 4]) == [3, 4]
    assert len(b.build([1, 2, 3, 4])) == need_two


def test_budget_smaller_than_header_plus_one_line_is_a_config_error(tok):
    with pytest.raises(ConfigError, match="max_prompt_tokens=20"):
        PromptBuilder(tok, ITEMS, max_history=3, max_title_tokens=16, max_prompt_tokens=20)


def test_an_item_without_a_title_is_named_by_its_description_else_a_placeholder(tok):
    items = [*ITEMS, ItemText(title="  ", brand="Acme", description="a red pipette"), ItemText()]
    b = PromptBuilder(tok, items, max_history=3, max_title_tokens=16, max_prompt_tokens=200)
    assert tok.decode(b.item_line_ids[5]) == "a red pipette ( brand : acme )"  # MiniLM lower-cases
    assert tok.decode(b.item_line_ids[6]) == "untitled item"


def test_end_token_closes_the_prompt(tok):
    b = PromptBuilder(tok, ITEMS, max_history=3, max_title_tokens=16, max_prompt_tokens=200, end_token=True)
    assert b.build([1])[-1] == tok.sep_token_id
