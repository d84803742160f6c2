"""OpenAI chat ``messages`` → one prompt text for featurising and token estimates."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def prompt_from_messages(messages: Iterable[Mapping[str, Any]]) -> str:
    """Join the text of chat messages as ``role: content`` lines.

    ``content`` may be a string or a list of parts; only ``{"type": "text"}`` parts carry
    text (images and audio are ignored for features).
    """
    lines = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = "\n".join(
                str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text"
            )
        else:
            text = ""
        lines.append(f"{m.get('role', 'user')}: {text}")
    return "\n".join(lines)
