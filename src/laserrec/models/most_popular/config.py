"""Settings of the most-popular ranking: none of its own (every user gets the same list)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MostPopularConfig:
    """No fields: the ranking is the training counts, whatever the settings."""
