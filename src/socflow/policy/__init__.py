"""Block policy: what may be put on a block list, normalised, and why the rest is refused."""

from .block import BlockPolicy, Decision, EntryType, Refusal, normalise

__all__ = ["BlockPolicy", "Decision", "EntryType", "Refusal", "normalise"]
