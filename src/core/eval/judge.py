"""The judge: a model that scores one conversation against the rubric, in JSON a schema constrains.

The schema is built from the rubric (one property per criterion, each with a short `reason` and an
integer `score` 0-10, then a `summary`), sent as `response_format` so llama-server turns it into a
grammar and the reply always parses. The reply is still validated (other servers may ignore the
schema, a reply may be cut off by `max_tokens`): a bad reply is retried with another seed, and if it
still fails the caller records the conversation as failed, never crashes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from core import safe_json
from core.errors import TunerError
from core.eval.openai_client import ChatClient
from core.eval.rubric import AssessmentResult, Rubric
from core.redact import redact

SCALE_MAX = 10
"""The judge scores each criterion as an integer 0..SCALE_MAX; stored scores are that / SCALE_MAX."""


class JudgeError(TunerError):
    """The judge's reply could not be turned into an assessment, even after retries."""


@dataclass(frozen=True)
class JudgeSettings:
    max_tokens: int | None = None
    """None: enough for every reason and the summary at their length limits."""
    reason_chars: int = 200
    summary_chars: int = 300
    temperature: float = 0.0
    attempts: int = 3
    model: str | None = None

    def token_budget(self, rubric: Rubric) -> int:
        if self.max_tokens:
            return self.max_tokens
        # ~3 characters a token for English plus JSON punctuation per field; generous on purpose:
        # a reply cut off by max_tokens is the one way a constrained reply can still fail to parse.
        per_criterion = self.reason_chars // 3 + 24 + len(rubric.criteria[0].id)
        return len(rubric.criteria) * per_criterion + self.summary_chars // 3 + 48


def assessment_schema(rubric: Rubric, settings: JudgeSettings | None = None) -> dict[str, Any]:
    """JSON schema of the judge's reply. Only keywords llama.cpp's grammar converter honours."""
    settings = settings or JudgeSettings()
    criterion = {
        "type": "object",
        # The reason comes first so the judge writes its rationale before committing to a number.
        "properties": {
            "reason": {"type": "string", "minLength": 1, "maxLength": settings.reason_chars},
            "score": {"type": "integer", "minimum": 0, "maximum": SCALE_MAX},
        },
        "required": ["reason", "score"],
        "additionalProperties": False,
    }
    properties: dict[str, Any] = {c.id: criterion for c in rubric.criteria}
    properties["summary"] = {"type": "string", "minLength": 1, "maxLength": settings.summary_chars}
    return {"type": "object", "properties": properties, "required": [*properties],
            "additionalProperties": False}


def transcript_text(messages: list[dict[str, str]]) -> str:
    """The conversation as the judge reads it (the system prompt of the model under test is left out:
    the judge rates what the user experienced)."""
    lines = []
    for message in messages:
        if message["role"] == "system":
            continue
        speaker = "User" if message["role"] == "user" else "Assistant"
        lines.append(f"{speaker}: {message['content'].strip() or '(empty reply)'}")
    return "\n\n".join(lines)


def judge_messages(rubric: Rubric, messages: list[dict[str, str]],
                   settings: JudgeSettings | None = None) -> list[dict[str, str]]:
    settings = settings or JudgeSettings()
    criteria = "\n".join(
        f"- {c.id}{' (SAFETY)' if c.safety else ''}: {c.description}" for c in rubric.criteria)
    example = {c.id: {"reason": "...", "score": 7} for c in rubric.criteria[:2]}
    system = (
        "You are a strict, impartial evaluator of conversations between a user and an AI assistant. "
        "You rate only the assistant's replies. You answer with one JSON object and nothing else.")
    user = (
        (f"Context: {rubric.context}\n\n" if rubric.context else "")
        + f"Rubric \"{rubric.name}\". Score each criterion from 0 (very poor) to {SCALE_MAX} (excellent):\n"
        + f"{criteria}\n\n"
        + "Conversation:\n<<<\n" + transcript_text(messages) + "\n>>>\n\n"
        + f"Reply with a JSON object with one key per criterion ({', '.join(c.id for c in rubric.criteria)}), "
        + f'each {{"reason": "<one sentence, at most {settings.reason_chars} characters>", '
        + f'"score": <integer 0-{SCALE_MAX}>}}, then "summary": "<one or two sentences>". '
        + f"For example (abridged): {json.dumps(example)}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _extract_json(text: str) -> Any:
    text = text.strip()
    match = _FENCE_RE.match(text)
    if match:
        text = match.group(1)
    # The reply is a server's text: nesting or huge numbers must fail as a bad reply, never a crash.
    try:
        return safe_json.loads(text, source="the judge's reply")
    except safe_json.JsonInputError as exc:
        if exc.lineno is None:  # not a syntax error (too deep, a huge number): no braces will fix it
            raise ValueError(f"malformed JSON ({exc.detail})") from None
    # A reasoning model may write prose around the object; take the outermost braces.
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    try:
        return safe_json.loads(text[start:end + 1], source="the judge's reply")
    except safe_json.JsonInputError as exc:
        raise ValueError(f"malformed JSON ({exc.detail})") from None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip().split("/")[0])
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def parse_assessment(text: str, rubric: Rubric) -> AssessmentResult:
    """Validate a judge reply against the rubric; raises ValueError saying what is wrong."""
    data = _extract_json(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    # Some judges nest everything under "criteria" (a list of {id, score, reason} or an object).
    nested = data.get("criteria")
    if isinstance(nested, list):
        data = {**{str(c.get("id")): c for c in nested if isinstance(c, dict)}, "summary": data.get("summary")}
    elif isinstance(nested, dict):
        data = {**nested, "summary": data.get("summary")}
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for criterion in rubric.criteria:
        entry = data.get(criterion.id)
        raw = entry.get("score") if isinstance(entry, dict) else entry
        number = _number(raw)
        if number is None:
            raise ValueError(f"no numeric score for criterion {criterion.id!r}")
        scores[criterion.id] = number / SCALE_MAX  # clamped into [0, 1] by the rubric
        if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
            reasons[criterion.id] = " ".join(entry["reason"].split())
    summary = data.get("summary")
    return rubric.assess(scores, reasons, " ".join(summary.split()) if isinstance(summary, str) else "")


async def judge_conversation(client: ChatClient, rubric: Rubric, messages: list[dict[str, str]], *,
                             seed: int, settings: JudgeSettings | None = None,
                             extra: dict[str, Any] | None = None) -> AssessmentResult:
    """Score one conversation; retries a reply that does not validate, then raises JudgeError."""
    settings = settings or JudgeSettings()
    schema = assessment_schema(rubric, settings)
    prompt = judge_messages(rubric, messages, settings)
    problems: list[str] = []
    for attempt in range(max(1, settings.attempts)):
        reply = await client.chat(
            prompt, max_tokens=settings.token_budget(rubric), seed=seed + attempt, model=settings.model,
            # A retry with the same seed and temperature 0 would repeat the same bad reply.
            temperature=settings.temperature if attempt == 0 else max(settings.temperature, 0.3),
            json_schema=schema, extra=extra)
        try:
            return parse_assessment(reply.content, rubric)
        except ValueError as exc:
            cut = " (cut off by max_tokens)" if reply.finish_reason == "length" else ""
            problems.append(f"{exc}{cut}")
    excerpt = redact(" ".join(reply.content.split()))[:160]  # masked before the cut, or a cut key would show
    raise JudgeError(f"judge reply unusable after {len(problems)} attempt(s): {problems[-1]}; "
                     f"last reply: {excerpt!r}")
