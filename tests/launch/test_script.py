"""The generated script: valid Python, a correct PEP 723 header, and the guide's rules by construction."""

from __future__ import annotations

import ast
import re
import tomllib

import pytest

from core.launch.config import LaunchConfig
from core.launch.script import render_script, unique_run_name
from tests.conftest import CANARY_TOKEN, assert_no_canary

# The reference regex from PEP 723 ("Inline script metadata").
PEP723 = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def pep723_metadata(script: str) -> dict:
    (match,) = [m for m in PEP723.finditer(script) if m.group("type") == "script"]
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in match.group("content").splitlines(keepends=True))
    return tomllib.loads(content)


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def test_header_and_rules(hub_config: LaunchConfig) -> None:
    text = render_script(hub_config).text
    tree = ast.parse(text)
    meta = pep723_metadata(text)
    deps = meta["dependencies"]
    assert any(d.startswith("trl") for d in deps) and any(d.startswith("trackio") for d in deps)
    assert any(d.startswith("bitsandbytes") for d in deps)  # 4-bit is on
    assert not any("flash" in d for d in deps)
    assert "flash_attention" not in text and "flash-attn" not in text.replace("No flash-attn", "")
    assert not calls(tree, "login"), "never call login(): HF_TOKEN is read from the environment"
    assert not calls(tree, "init"), "never call trackio.init(): TRL's callback owns the one run"
    (sft_config,) = calls(tree, "SFTConfig")
    kwargs = {k.arg: k.value for k in sft_config.keywords}
    assert "model_init_kwargs" in kwargs and ast.unparse(kwargs["report_to"]) == "'trackio'"
    assert ast.unparse(kwargs["project"]) == "TRACKIO_PROJECT" and ast.unparse(kwargs["run_name"]) == "RUN_NAME"
    (trainer,) = calls(tree, "SFTTrainer")
    tkw = {k.arg: k.value for k in trainer.keywords}
    assert ast.unparse(tkw["model"]) == "MODEL_ID", "the model is passed by name"
    assert "model_init_kwargs" not in tkw
    assert "MODEL_ID = 'google/gemma-3-12b-it'" in text
    assert "TRACKIO_SPACE = 'tester/trackio'" in text
    assert "HF_TOKEN" not in text.split('"""', 2)[2].replace("HF_TOKEN from the environment", "")


def test_no_bitsandbytes_when_not_needed(hub_config: LaunchConfig) -> None:
    deps = pep723_metadata(render_script(hub_config.replace(load_in_4bit=False, optimizer="adamw_torch")).text)
    assert not any(d.startswith("bitsandbytes") for d in deps["dependencies"])


def test_values_cannot_break_out_of_their_literals(hub_config: LaunchConfig) -> None:
    nasty = 'x"""\nimport os; os.system("rm -rf /")  # '
    text = render_script(hub_config.replace(dataset=nasty, trackio_project="p")).text
    tree = ast.parse(text)
    assigned = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    assert ast.literal_eval(assigned["DATASET"]) == nasty
    assert not calls(tree, "system")


def test_canary_never_in_script(hub_config: LaunchConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", CANARY_TOKEN)
    assert_no_canary(render_script(hub_config).text)


def test_run_names_are_timestamped_and_unique(hub_config: LaunchConfig) -> None:
    names = {unique_run_name(hub_config) for _ in range(50)}
    assert len(names) == 50
    assert all(re.match(r"^gemma-3-12b-it-sft-\d{8}-\d{6}-[0-9a-f]{4}$", n) for n in names)
    custom = unique_run_name(hub_config.replace(run_name="coach"))
    assert custom.startswith("coach-")


def test_assistant_loss_strategy_for_known_and_unknown_templates(smollm2_hf) -> None:
    """SmolLM2's ChatML template is not one TRL can patch: the script's own masks take over;
    the guide's families (Gemma 3, Qwen3, Llama 3) have TRL training templates."""
    from pathlib import Path

    import trl
    from transformers import AutoTokenizer

    namespace: dict = {}
    config = LaunchConfig(base_model=str(smollm2_hf), dataset="x.jsonl", backend="local", load_in_4bit=False)
    source = render_script(config).text.replace('if __name__ == "__main__":\n    main()', "")
    exec(compile(source, "train.py", "exec"), namespace)
    tokenizer = AutoTokenizer.from_pretrained(smollm2_hf)
    assert namespace["trl_handles_assistant_loss"](tokenizer) is False
    templates = Path(trl.__file__).parent / "chat_templates"
    for name in ("gemma3.jinja", "qwen3.jinja", "llama3.jinja"):
        tokenizer.chat_template = (templates / name).read_text()
        assert namespace["trl_handles_assistant_loss"](tokenizer) is True, name


def test_prefix_masks_cover_assistant_turns_and_end_of_turn(smollm2_hf) -> None:
    from datasets import Dataset
    from transformers import AutoTokenizer

    namespace: dict = {}
    config = LaunchConfig(base_model=str(smollm2_hf), dataset="x.jsonl", backend="local", load_in_4bit=False)
    source = render_script(config).text.replace('if __name__ == "__main__":\n    main()', "")
    exec(compile(source, "train.py", "exec"), namespace)
    tokenizer = AutoTokenizer.from_pretrained(smollm2_hf)
    row = {"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"},
                        {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}
    out = namespace["assistant_masked"](Dataset.from_list([row]), tokenizer)[0]
    kept = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m])
    dropped = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if not m])
    assert kept == "Hello!<|im_end|>\nGoodbye.<|im_end|>\n"
    assert "Hi there" in dropped and "Bye" in dropped and "Hello" not in dropped


def test_requires_python_is_one_every_dependency_accepts(hub_config: LaunchConfig) -> None:
    """uv refuses a header whose requires-python admits Pythons a pinned dependency does not support
    (found with `uv lock --script`: transformers 5.24 needs Python >= 3.11)."""
    from importlib.metadata import PackageNotFoundError, metadata

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    meta = pep723_metadata(render_script(hub_config).text)
    floor = meta["requires-python"].removeprefix(">=")
    assert SpecifierSet(meta["requires-python"]).contains(floor)
    for dep in meta["dependencies"]:
        try:
            needs = metadata(Requirement(dep).name).get("Requires-Python")
        except PackageNotFoundError:
            continue
        if needs:
            assert SpecifierSet(needs).contains(floor), f"{dep} needs Python {needs}, header allows {floor}"
