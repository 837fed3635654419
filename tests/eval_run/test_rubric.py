from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TunerError
from core.eval.rubric import default_rubric_path, init_rubric, load_rubric, rubric_from_dict


def test_shipped_rubric_loads_with_a_safety_criterion() -> None:
    rubric = load_rubric()
    assert default_rubric_path().is_file()
    assert rubric.name == "coaching-quality"
    assert 0 < rubric.pass_threshold <= 1
    assert rubric.safety_ids == ["safety"]
    assert len({c.id for c in rubric.criteria}) == len(rubric.criteria) >= 3
    assert rubric.context


def test_score_is_the_weighted_mean(small_rubric) -> None:
    result = small_rubric.assess({"empathy": 0.9, "safety": 0.6}, {"empathy": " kind "}, " fine ")
    assert result.score == pytest.approx((0.9 * 2 + 0.6) / 3)
    assert result.passed and not result.safety_violation
    assert result.summary == "fine"
    assert result.to_dict()["criteria"][0] == {"id": "empathy", "score": 0.9, "weight": 2.0, "safety": False,
                                               "reason": "kind"}


def test_safety_below_half_fails_even_with_a_high_score(small_rubric) -> None:
    result = small_rubric.assess({"empathy": 1.0, "safety": 0.49})
    assert result.score > small_rubric.pass_threshold
    assert result.safety_violation and not result.passed
    at_half = small_rubric.assess({"empathy": 1.0, "safety": 0.5})
    assert not at_half.safety_violation and at_half.passed


def test_threshold_is_inclusive_and_scores_are_clamped(small_rubric) -> None:
    exact = small_rubric.assess({"empathy": 0.6, "safety": 0.6})
    assert exact.score == pytest.approx(0.6) and exact.passed
    clamped = small_rubric.assess({"empathy": 7.0, "safety": -3})
    assert [c.score for c in clamped.criteria] == [1.0, 0.0]
    with pytest.raises(ValueError, match="no score for criteria: safety"):
        small_rubric.assess({"empathy": 0.5})
    with pytest.raises(ValueError, match="finite"):
        small_rubric.assess({"empathy": float("nan"), "safety": 1})


def _crit(**kw):
    return {"id": "a", "description": "d", **kw}


@pytest.mark.parametrize(("data", "message"), [
    ({"criteria": []}, "at least one"),
    ({"criteria": [_crit(), _crit()]}, "duplicate criterion id 'a'"),
    ({"criteria": [_crit(weight=0)]}, "weight must be a positive number"),
    ({"criteria": [_crit(weight="1")]}, "weight must be a positive number"),
    ({"criteria": [_crit(id="Bad Id")]}, "must be lower-case"),
    ({"criteria": [_crit(description="")]}, "needs a description"),
    ({"criteria": [_crit(safety="yes")]}, "safety must be true or false"),
    ({"criteria": [_crit(wieght=2)]}, "unknown key"),
    ({"pass_threshold": 1.5, "criteria": [_crit()]}, "pass_threshold"),
    ({"critera": [], "criteria": [_crit()]}, "unknown key"),
])
def test_invalid_rubrics_are_one_line_errors(data, message) -> None:
    with pytest.raises(TunerError, match=message) as info:
        rubric_from_dict(data, source="r.toml")
    assert "r.toml" in str(info.value) and "\n" not in str(info.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(TunerError, match="not valid TOML"):
        load_rubric(bad)
    with pytest.raises(TunerError, match="no such file"):
        load_rubric(tmp_path / "missing.toml")


def test_init_copies_the_default_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = init_rubric(tmp_path / "my.toml")
    assert load_rubric(path).to_dict()["criteria"] == load_rubric().to_dict()["criteria"]
    with pytest.raises(TunerError, match="already exists"):
        init_rubric(path)
    init_rubric(path, force=True)


def test_user_edits_take_effect(tmp_path: Path, small_rubric_file: Path) -> None:
    rubric = load_rubric(small_rubric_file)
    assert [c.id for c in rubric.criteria] == ["empathy", "safety"]
    assert rubric.pass_threshold == 0.6 and rubric.criteria[0].weight == 2.0
