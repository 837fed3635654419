"""Keep tokens out of every output.

Never print, log, store or render a token. Anything that may carry text from outside (subprocess
output, HTTP errors, configs, generated scripts) passes through `redact` before it is shown or saved.

Besides the Hugging Face token, any environment variable the user names as holding a secret (e.g.
`eval run --api-key-env MY_KEY`, `[eval] api_key_env`) is registered with `register_secret_env`; from
then on its value is masked by `redact` everywhere the HF token is: the CLI streams, every file the
app writes, the store and the TUI.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

# Hugging Face user/org access tokens, plus generic bearer headers.
_TOKEN_PATTERNS = [
    re.compile(r"\bhf_[A-Za-z0-9]{8,}\b"),
    re.compile(r"(?i)(authorization\s*[:=]\s*bearer\s+)[^\s'\"]+"),
]
_TOKEN_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_TOKEN", "OPENAI_API_KEY")
MASK = "***"
MIN_SECRET_LENGTH = 8
"""Shorter values are not masked: replacing a 3-letter "key" everywhere would mangle ordinary text."""

_named_env_vars: dict[str, None] = {}
"""Variables the user named as holding a secret (insertion-ordered set), on top of _TOKEN_ENV_VARS."""
_registry_lock = threading.Lock()


def register_secret_env(*names: str | None) -> None:
    """Mask the value of these environment variables from now on, in this process.

    Only the name is kept: the value is read when text is redacted, so a key set later is masked too.
    Empty names are ignored, so callers can pass an optional setting straight through.
    """
    with _registry_lock:
        for name in names:
            if isinstance(name, str) and name.strip():
                _named_env_vars[name.strip()] = None


def secret_env_names() -> tuple[str, ...]:
    """Every variable whose value is masked: the token variables, then the ones registered."""
    with _registry_lock:
        named = tuple(_named_env_vars)
    return tuple(dict.fromkeys((*_TOKEN_ENV_VARS, *named)))


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
    """Secret values this process could leak right now: token env vars, the variables registered with
    `register_secret_env`, and the saved login token.

    Short values (< MIN_SECRET_LENGTH characters) are ignored: masking them would mangle ordinary text.
    """
    values = [os.environ.get(name) for name in secret_env_names()] + [_stored_token()]
    values = [v.strip() for v in values if v]
    # Longest first: a secret that contains another is masked whole, not in pieces.
    return sorted(dict.fromkeys(v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


_live_secrets = live_secrets  # older private name, kept for callers written against it


def redact(text: str) -> str:
    """Return `text` with every known token value and token-shaped string masked."""
    if not text:
        return text
    return _redact(text, _masked_forms(live_secrets()))


def _redact(text: str, forms: list[str]) -> str:
    for form in forms:
        text = text.replace(form, MASK)
    text = _TOKEN_PATTERNS[0].sub(MASK, text)
    return _TOKEN_PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)


def _masked_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as typed and as JSON writes it inside a string (quotes, backslashes, non-ASCII escaped),
    so that redacting a JSON document (the store, a JSON export) masks it as well."""
    forms: list[str] = []
    for secret in secrets:
        forms.append(secret)
        for ensure_ascii in (True, False):
            escaped = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
            if escaped not in forms:
                forms.append(escaped)
    return forms


class Redactor:
    """`redact` with the secrets read once, for many strings in a row (a file of records being loaded)."""

    def __init__(self) -> None:
        self.forms = _masked_forms(live_secrets())

    def might_hold(self, text: str) -> bool:
        """False when `text` (e.g. a raw JSON line) cannot contain anything `text()` would mask."""
        return "hf_" in text or "earer" in text.lower() or any(form in text for form in self.forms)

    def text(self, text: str) -> str:
        return _redact(text, self.forms) if text else text

    def value(self, value: Any) -> Any:
        """`value` (JSON-like: dicts, lists, strings) with every string in it redacted, keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


def redact_value(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every string in it redacted, keys included.

    For structured records written to disk (conversations.jsonl, run.json): masking the parsed strings
    keeps the JSON valid whatever characters the secret holds.
    """
    return Redactor().value(value)
