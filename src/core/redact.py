"""Keep tokens out of every output.

Never print, log, store or render a token. Anything that may carry text from outside (subprocess
output, HTTP errors, configs, generated scripts) passes through `redact` before it is shown or saved.
"""

from __future__ import annotations

import os
import re

# Hugging Face user/org access tokens, plus generic bearer headers.
_TOKEN_PATTERNS = [
    re.compile(r"\bhf_[A-Za-z0-9]{8,}\b"),
    re.compile(r"(?i)(authorization\s*[:=]\s*bearer\s+)[^\s'\"]+"),
]
_TOKEN_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "OPENAI_API_KEY")
MASK = "***"


def _live_secrets() -> list[str]:
    """Secret values present in this process's environment right now (short values are ignored)."""
    return [v for name in _TOKEN_ENV_VARS if (v := os.environ.get(name)) and len(v) >= 8]


def redact(text: str) -> str:
    """Return `text` with every known token value and token-shaped string masked."""
    if not text:
        return text
    for secret in _live_secrets():
        text = text.replace(secret, MASK)
    text = _TOKEN_PATTERNS[0].sub(MASK, text)
    return _TOKEN_PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)
