"""One place that builds huggingface_hub clients and turns their errors into one-line TunerErrors.

`huggingface_hub` reads HF_ENDPOINT once, at import; tui-tuner reads it at call time and passes it to
every client explicitly, so a config change (or a test's loopback fake Hub) takes effect at once.
Tokens are left to the library's own resolution (HF_TOKEN, then the stored login): we never read,
pass around, or print the value ourselves.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from core.errors import OfflineError, TunerError
from core.redact import redact

if TYPE_CHECKING:
    from huggingface_hub import HfApi

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_api() -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint())


def whoami_name() -> str:
    """The logged-in user's name (the default namespace), resolved once per call site."""
    try:
        return str(hf_api().whoami()["name"])
    except Exception as exc:  # translated to a one-line TunerError below
        raise hub_error(exc, "whoami") from None


def hub_error(exc: BaseException, what: str) -> TunerError:
    """Translate a huggingface_hub / HTTP exception into a one-line, token-free TunerError."""
    name = type(exc).__name__
    text = redact(" ".join(str(exc).split()))[:300]
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if name in {"OfflineModeIsEnabled"}:
        return OfflineError(f"{what}: offline mode is enabled (HF_HUB_OFFLINE=1)")
    if name in {"ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "TimeoutException"} or (
        "Connection refused" in text or "Name or service not known" in text
    ):
        return OfflineError(f"{what}: cannot reach {hub_endpoint()} ({name})", hint="check the network or HF_ENDPOINT")
    if name == "GatedRepoError" or status == 403:
        return TunerError(f"{what}: access denied (403)", hint="accept the model's license on the Hub and check the token's scopes")
    if name in {"RepositoryNotFoundError", "EntryNotFoundError", "RevisionNotFoundError"} or status == 404:
        return TunerError(f"{what}: not found on the Hub (404)", hint="check the repo id and your access")
    if name == "LocalTokenNotFoundError":  # raised before any request: there is no token at all
        return TunerError(f"{what}: no Hugging Face token", hint="run `hf auth login` or set HF_TOKEN")
    if status == 401:
        return TunerError(f"{what}: not logged in (401)", hint="run `hf auth login` or set HF_TOKEN")
    if status == 429:
        return TunerError(f"{what}: rate limited by the Hub (429)", hint="wait and retry")
    return TunerError(f"{what}: {name}: {text}")
