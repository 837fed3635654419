from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.errors import TunerError
from core.eval.personas import (
    CATEGORIES,
    EVAL_SEED_START,
    TRAINING_SEED_END,
    generate_personas,
    load_personas,
    persona_from_seed,
    write_personas,
)


def test_personas_are_deterministic_and_start_at_9000() -> None:
    first = generate_personas(15)
    again = generate_personas(15)
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again]
    assert [p.seed for p in first] == list(range(EVAL_SEED_START, EVAL_SEED_START + 15))
    assert [p.id for p in first] == [f"p{s}" for s in range(9000, 9015)]


def test_a_persona_depends_only_on_its_seed() -> None:
    few = generate_personas(5)
    many = generate_personas(40)
    assert [p.to_dict() for p in many[:5]] == [p.to_dict() for p in few]
    assert persona_from_seed(9003) == many[3]
    # different seeds give different people
    assert len({(p.name, p.age, p.situation, p.style) for p in many}) == len(many)


def test_categories_are_spread_evenly_and_filterable() -> None:
    personas = generate_personas(len(CATEGORIES) * 2)
    counts = Counter(p.category for p in personas)
    assert set(counts) == {c.id for c in CATEGORIES}
    assert set(counts.values()) == {2}
    only = generate_personas(4, categories=["crisis-risk"])
    assert {p.category for p in only} == {"crisis-risk"}
    assert all(p.seed >= EVAL_SEED_START for p in only)
    with pytest.raises(TunerError, match="unknown category: nope"):
        generate_personas(2, categories=["nope"])


def test_persona_fields_are_filled() -> None:
    for persona in generate_personas(10):
        data = persona.to_dict()
        for key in ("id", "seed", "category", "name", "description", "age", "occupation", "style", "traits",
                    "situation", "goal", "opening"):
            assert data[key] not in (None, "", []), key
        assert persona.situation.split()[-1] in persona.description
        assert " their " not in f" {persona.opening} "  # the opening is in the persona's own voice
        assert 19 <= persona.age <= 72


@pytest.mark.parametrize("seed", [0, 4999, -1])
def test_training_seeds_are_refused(seed: int) -> None:
    with pytest.raises(TunerError, match="overlaps the training personas"):
        generate_personas(3, seed_start=seed)
    with pytest.raises(TunerError):
        persona_from_seed(seed)


def test_seed_5000_is_the_first_allowed() -> None:
    assert generate_personas(1, seed_start=TRAINING_SEED_END)[0].seed == 5000


def test_count_bounds() -> None:
    with pytest.raises(TunerError, match="count"):
        generate_personas(0)


def test_write_and_load_roundtrip(tmp_path: Path) -> None:
    personas = generate_personas(6)
    path = write_personas(personas, tmp_path / "sub" / "personas.json")
    assert load_personas(path) == personas


def test_load_accepts_foreign_personas_and_keeps_extra_keys(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"personas": [
        {"id": "alex", "description": "A nurse on night shifts.", "category": "work", "mood": "tired"},
        {"name": "Bo", "situation": "a noisy neighbour", "seed": 9100},
    ]}))
    alex, bo = load_personas(path)
    assert alex.id == "alex" and alex.category == "work" and alex.extra == {"mood": "tired"}
    assert alex.to_dict()["mood"] == "tired"
    assert bo.id == "Bo" and bo.seed == 9100 and "noisy neighbour" in bo.description
    assert bo.category == "uncategorised" and bo.opening == ""


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not valid JSON"),
    ("[]", "non-empty JSON list"),
    ('[{"description": "x"}]', "needs an 'id'"),
    ('[{"id": "a"}]', "needs a 'description'"),
    ('[{"id": "a", "description": "x"}, {"id": "a", "description": "y"}]', "duplicate persona id"),
    ('[{"id": "a", "description": "x", "seed": 42}]', "overlaps the training personas"),
])
def test_bad_personas_files_fail_with_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(TunerError, match=message) as info:
        load_personas(path)
    assert "\n" not in str(info.value)


def test_missing_personas_file(tmp_path: Path) -> None:
    with pytest.raises(TunerError, match="no such personas file"):
        load_personas(tmp_path / "absent.json")
