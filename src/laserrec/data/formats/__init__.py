"""One module per raw format; each exposes ``parse(interactions, item_text) -> RawData``."""
