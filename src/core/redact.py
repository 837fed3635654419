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


def _stored_token() -> str | None:
    """The token `hf auth login` saved (HF_TOKEN_PATH, else $HF_HOME/token), read without importing the hub."""
    path = os.environ.get("HF_TOKEN_PATH") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "token")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def live_secrets() -> list[str]:
    """Secret values this process could leak right now: token env vars and the saved login token.

    Short values (< 8 characters) are ignored: masking them would mangle ordinary text.
    """
    values = [os.environ.get(name) for name in _TOKEN_ENV_VARS] + [_stored_token()]
    return list(dict.fromkeys(v for v in values if v and len(v) >= 8))


_live_secrets = live_secrets  # older private name, kept for callers written against it


def redact(text: str) -> str:
    """Return `text` with every known token value and token-shaped string masked."""
    if not text:
        return text
    for secret in live_secrets():
        text = text.replace(secret, MASK)
    text = _TOKEN_PATTERNS[0].sub(MASK, text)
    return _TOKEN_PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)
