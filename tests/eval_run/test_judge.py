from __future__ import annotations

import json

import pytest

from core.eval.judge import (
    SCALE_MAX,
    JudgeError,
    JudgeSettings,
    assessment_schema,
    judge_conversation,
    judge_messages,
    parse_assessment,
    transcript_text,
)
from core.eval.openai_client import ChatClient

CONVERSATION = [
    {"role": "system", "content": "SECRET SYSTEM PROMPT"},
    {"role": "user", "content": "I feel stuck."},
    {"role": "assistant", "content": "That sounds hard. What feels most stuck?"},
    {"role": "user", "content": "Work."},
    {"role": "assistant", "content": ""},
]


def test_schema_has_one_property_per_criterion_and_a_summary(small_rubric) -> None:
    schema = assessment_schema(small_rubric, JudgeSettings(reason_chars=50))
    assert list(schema["properties"]) == ["empathy", "safety", "summary"]
    assert schema["required"] == ["empathy", "safety", "summary"]
    assert schema["additionalProperties"] is False
    score = schema["properties"]["empathy"]["properties"]["score"]
    assert score == {"type": "integer", "minimum": 0, "maximum": SCALE_MAX}
    assert schema["properties"]["empathy"]["properties"]["reason"]["maxLength"] == 50
    # reason before score: the judge writes its rationale first
    assert list(schema["properties"]["empathy"]["properties"]) == ["reason", "score"]


def test_prompt_describes_the_format_and_hides_the_system_prompt(small_rubric) -> None:
    messages = judge_messages(small_rubric, CONVERSATION)
    text = messages[-1]["content"]
    assert "SECRET SYSTEM PROMPT" not in text
    assert "empathy" in text and "safety (SAFETY)" in text and "JSON" in text
    assert transcript_text(CONVERSATION).endswith("Assistant: (empty reply)")


def test_parse_valid_reply(small_rubric) -> None:
    reply = json.dumps({"empathy": {"reason": "warm", "score": 8}, "safety": {"reason": "ok", "score": 10},
                        "summary": "good  job"})
    result = parse_assessment(reply, small_rubric)
    assert result.score == pytest.approx((0.8 * 2 + 1.0) / 3)
    assert result.passed and result.summary == "good job"
    assert result.criteria[0].reason == "warm"


def test_parse_tolerates_fences_prose_and_nested_criteria(small_rubric) -> None:
    fenced = '```json\n{"empathy": {"reason": "r", "score": 5}, "safety": {"reason": "r", "score": 2}, "summary": "s"}\n```'
    result = parse_assessment(fenced, small_rubric)
    assert result.safety_violation and not result.passed
    prose = 'Here you go: {"criteria": [{"id": "empathy", "score": 10}, {"id": "safety", "score": "9/10"}]} done'
    assert parse_assessment(prose, small_rubric).score == pytest.approx((1.0 * 2 + 0.9) / 3)


def test_out_of_range_scores_are_clamped(small_rubric) -> None:
    result = parse_assessment('{"empathy": {"score": 15}, "safety": {"score": -2}, "summary": ""}', small_rubric)
    assert [c.score for c in result.criteria] == [1.0, 0.0]
    assert 0.0 <= result.score <= 1.0


@pytest.mark.parametrize("reply", ['{"empathy": {"score": 5}', '{"empathy": {"score": 5}, "summary": "x"}',
                                   '{"empathy": {"score": "high"}, "safety": {"score": 1}}', "[1, 2]", ""])
def test_unusable_replies_raise_value_error(small_rubric, reply: str) -> None:
    with pytest.raises(ValueError):
        parse_assessment(reply, small_rubric)


async def test_judge_sends_the_schema_and_parses(fake_server, small_rubric) -> None:
    async with ChatClient(fake_server.url) as client:
        result = await judge_conversation(client, small_rubric, CONVERSATION, seed=7)
    body = fake_server.requests[-1].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == assessment_schema(small_rubric)
    assert body["temperature"] == 0.0 and body["seed"] == 7
    assert 0.0 <= result.score <= 1.0


async def test_judge_retries_a_bad_reply_then_succeeds(fake_server, small_rubric) -> None:
    fake_server.judge_replies = ['{"empathy": {"score": 5}, "saf', "nonsense"]
    async with ChatClient(fake_server.url) as client:
        result = await judge_conversation(client, small_rubric, CONVERSATION, seed=7)
    judged = [r.body for r in fake_server.requests if r.role == "judge"]
    assert len(judged) == 3
    assert [b["seed"] for b in judged] == [7, 8, 9]  # a retry is not the same request again
    assert judged[1]["temperature"] > 0
    assert 0.0 <= result.score <= 1.0


async def test_judge_gives_up_with_a_judge_error(fake_server, small_rubric) -> None:
    fake_server.judge_replies = ["bad"] * 3
    async with ChatClient(fake_server.url) as client:
        with pytest.raises(JudgeError, match="unusable after 3 attempt") as info:
            await judge_conversation(client, small_rubric, CONVERSATION, seed=1)
    assert "\n" not in str(info.value)


async def test_json_object_fallback_for_servers_without_json_schema(fake_server, small_rubric) -> None:
    fake_server.reject_json_schema = True
    async with ChatClient(fake_server.url) as client:
        await judge_conversation(client, small_rubric, CONVERSATION, seed=1)
        await judge_conversation(client, small_rubric, CONVERSATION, seed=2)
        assert client.response_format_mode == "json_object"
    formats = [r.body["response_format"]["type"] for r in fake_server.requests if r.role == "judge"]
    # the first call learns the mode, the second goes straight to it
    assert formats == ["json_schema", "json_object", "json_object"]
    assert fake_server.requests[-1].body["response_format"]["schema"] == assessment_schema(small_rubric)


def test_token_budget_grows_with_the_rubric(small_rubric) -> None:
    settings = JudgeSettings()
    assert settings.token_budget(small_rubric) > 100
    assert JudgeSettings(max_tokens=99).token_budget(small_rubric) == 99
