"""Text helpers for the window: long user text (names, paths) never lays out megabytes of glyphs."""

from __future__ import annotations


def elide(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis in the middle (both ends stay
    readable: a name's start, a path's file name). Only the first ``4 * limit`` characters are looked at,
    so a megabyte of text costs no more than a short one."""
    text = " ".join(text[: 4 * limit + 8].split()) if len(text) > 4 * limit else " ".join(text.split())
    if len(text) <= limit:
        return text
    keep = max(limit - 1, 1)
    return text[: (keep + 1) // 2] + "…" + text[len(text) - keep // 2:] if keep > 1 else text[:1] + "…"
