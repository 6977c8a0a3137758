"""Counting functions over a piece of text."""


def line_count(text: str) -> int:
    """Number of lines; a last line without a newline still counts."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def char_count(text: str) -> int:
    """Number of characters, newlines included."""
    return len(text)
