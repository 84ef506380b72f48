"""The prompt template of the LLM models (Laser, Lite-LLM4Rec, DARec): one for users and items alike.

Every piece is tokenized once: the header, the numbering ``"\\n>> k."`` for k = 1..max_history, and
each item's line body ``" <title> (brand: <brand>, category: <category>)"`` for the whole catalog
(an item without a title is named by its description, else as "untitled item": ``item_name``).
A prompt is then a concatenation of cached token ids — no text is tokenized per batch. (Token
boundaries therefore sit at the piece edges; a BPE merge across an edge is lost, which is harmless.)
"""

from __future__ import annotations

from collections.abc import Sequence

from laserrec.data.dataset import ItemText
from laserrec.errors import ConfigError

HEADER = (
    "You are an intelligent recommendation assistant. Please summarize the user's characteristics into a "
    "single token based on the interaction history. In chronological order, the user has interacted with "
    "the following items:"
)


def last_category(categories: str) -> str:
    """The most specific category: the last element of a comma-separated path."""
    parts = [p.strip() for p in categories.split(",") if p.strip()]
    return parts[-1] if parts else ""


def attribute_text(item: ItemText) -> str:
    """``" (brand: B, category: C)"``, dropping empty parts (and the brackets when both are empty)."""
    parts = []
    if item.brand.strip():
        parts.append(f"brand: {item.brand.strip()}")
    category = last_category(item.categories)
    if category:
        parts.append(f"category: {category}")
    return f" ({', '.join(parts)})" if parts else ""


UNTITLED = "untitled item"


def item_name(item: ItemText) -> str:
    """What names an item in a prompt: its title; else its description (cut to the title's token budget,
    as a title is); else ``UNTITLED``. Real catalogs have items without a title; brand and category
    still follow in the attributes."""
    return item.title.strip() or item.description.strip() or UNTITLED


def item_line(k: int, item: ItemText) -> str:
    """The full text of one history line (for reading and tests; building uses cached ids)."""
    return f"\n>> {k}. {item_name(item)}{attribute_text(item)}"


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """Ids the tokenizer wraps every text in: ([CLS], [SEP]) for BERT, ([], []) for SmolLM2."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    wrapped = tokenizer("x", add_special_tokens=True)["input_ids"]
    start = next(i for i in range(len(wrapped)) if wrapped[i : i + len(plain)] == plain)
    return wrapped[:start], wrapped[start + len(plain) :]


def item_list(item_texts: list[ItemText], n_items: int) -> list[ItemText]:
    """Accept ``PreparedData.items`` (n_items + 1, index 0 = padding) or one text per item (n_items)."""
    if len(item_texts) == n_items + 1:
        return list(item_texts)
    if len(item_texts) == n_items:
        return [ItemText(), *item_texts]
    raise ConfigError(
        f"{len(item_texts)} item texts for {n_items} items (expected {n_items} or {n_items + 1})"
    )


class PromptBuilder:
    """Token ids of prompts from cached pieces.

    ``items`` holds one ItemText per internal id, index 0 being the padding item (as
    ``PreparedData.items``). ``max_prompt_tokens`` counts the text tokens only (not prefix/suffix).
    With ``end_token`` the prompt ends with an end-of-text token (the tokenizer's own closing special
    token, else its EOS), whose hidden state the "eos" pooling ablation reads.
    """

    def __init__(
        self,
        tokenizer,
        items: Sequence[ItemText],
        max_history: int,
        max_title_tokens: int,
        max_prompt_tokens: int,
        end_token: bool = False,
    ) -> None:
        self.max_history = max_history
        self.max_prompt_tokens = max_prompt_tokens
        self.tokenizer, self.max_title_tokens = tokenizer, max_title_tokens
        lead, trail = special_tokens(tokenizer)
        if end_token and not trail:
            if tokenizer.eos_token_id is None:
                raise ConfigError("pooling 'eos' needs a tokenizer with an EOS token; this one has none")
            trail = [tokenizer.eos_token_id]
        self.header_ids = lead + self._ids(tokenizer, HEADER)
        self.trail_ids = trail
        self.number_ids = [[]] + [self._ids(tokenizer, f"\n>> {k}.") for k in range(1, max_history + 1)]
        self.item_line_ids = self._item_lines(tokenizer, items, max_title_tokens)
        self._check_budget()

    @staticmethod
    def _ids(tokenizer, text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    @staticmethod
    def _item_lines(tokenizer, items: Sequence[ItemText], max_title_tokens: int) -> list[list[int]]:
        """Line body ids per item id (index 0 = padding = []); names cut to ``max_title_tokens``."""
        titles = tokenizer([" " + item_name(t) for t in items[1:]], add_special_tokens=False)["input_ids"]
        attrs = tokenizer([attribute_text(t) for t in items[1:]], add_special_tokens=False)["input_ids"]
        return [[]] + [t[:max_title_tokens] + a for t, a in zip(titles, attrs, strict=True)]

    def _fixed_length(self) -> int:
        return len(self.header_ids) + len(self.trail_ids)

    def _check_budget(self) -> None:
        longest = max((len(ids) for ids in self.item_line_ids), default=0)
        need = self._fixed_length() + len(self.number_ids[1]) + longest
        if need > self.max_prompt_tokens:
            raise ConfigError(
                f"max_prompt_tokens={self.max_prompt_tokens} is too small: the header and one item line need "
                f"up to {need} tokens (header {self._fixed_length()}); raise it or lower max_title_tokens"
            )

    def extend(self, items: Sequence[ItemText]) -> None:
        """Add line bodies for items after the current last id (items added to a trained catalog)."""
        self.item_line_ids += self._item_lines(self.tokenizer, [ItemText(), *items], self.max_title_tokens)[
            1:
        ]
        self._check_budget()

    def fit(self, history: Sequence[int]) -> list[int]:
        """The most recent items that fit: at most max_history, oldest dropped until under budget."""
        kept = [int(i) for i in history if int(i) > 0][-self.max_history :]
        while len(kept) > 1 and self.length(kept) > self.max_prompt_tokens:
            kept = kept[1:]
        return kept

    def length(self, items: Sequence[int]) -> int:
        """Prompt length in tokens for exactly these items (numbered 1..n)."""
        lines = sum(len(self.number_ids[k]) + len(self.item_line_ids[i]) for k, i in enumerate(items, 1))
        return self._fixed_length() + lines

    def build(self, history: Sequence[int]) -> list[int]:
        """Token ids of the prompt for a history of item ids (0 = padding, ignored), oldest first."""
        ids = list(self.header_ids)
        for k, item in enumerate(self.fit(history), start=1):
            ids += self.number_ids[k]
            ids += self.item_line_ids[item]
        return ids + self.trail_ids
