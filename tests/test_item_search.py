"""Title search and field values of the item index, on a hand-made catalog."""

import pytest
import torch

from laserrec.errors import ConfigError
from laserrec.inference.index import ItemIndex

TITLES = [
    "Star Wars (1977)",
    "Lone Star (1996)",
    "Starship Troopers (1997)",
    "Return of the Jedi (1983)",
    "Star Trek: Generations (1994)",
    "Wars of the Roses, The (1989)",
]
CATEGORIES = ["Sci-Fi, War", "Drama", "Sci-Fi, Action", "Sci-Fi", "Sci-Fi, Adventure", "Comedy"]


@pytest.fixture
def index():
    texts = [
        {"title": t, "brand": "Lucas" if "Star" in t else "", "categories": c, "description": ""}
        for t, c in zip(TITLES, CATEGORIES, strict=True)
    ]
    return ItemIndex(torch.zeros(6, 2), None, [str(i) for i in range(1, 7)], texts)


def test_every_query_word_starts_a_title_word_whole_words_and_short_titles_first(index):
    titles = lambda q, limit=10: [TITLES[row] for row in index.search(q, limit)]  # noqa: E731
    # "star" is a whole word of three titles (shortest first) and the start of "Starship"
    assert titles("star") == [TITLES[0], TITLES[1], TITLES[4], TITLES[2]]
    assert titles("STAR wars") == [TITLES[0]]  # every word must match; any case
    assert titles("war") == [TITLES[0], TITLES[5]]  # the start of "Wars"; shorter title first
    assert titles("the jedi") == [TITLES[3]]
    assert titles("star", limit=2) == [TITLES[0], TITLES[1]]
    assert titles("tar") == [] and titles("  ") == [] and titles("!!") == []


def test_field_values_count_items_each_category_on_its_own(index):
    assert index.values("categories", 2) == [("Sci-Fi", 4), ("Action", 1)]
    assert index.values("brand") == [("Lucas", 4)]  # empty brands are left out
    with pytest.raises(ConfigError, match="unknown item field 'colour'"):
        index.values("colour")
