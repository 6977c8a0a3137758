"""textstats: small statistics about text (lines, characters, ...)."""

from textstats.stats import char_count, line_count

__all__ = ["char_count", "line_count"]
