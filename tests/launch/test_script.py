"""The generated script: valid Python, a correct PEP 723 header, and the guide's rules by construction."""

from __future__ import annotations

import ast
import io
import re
import sys
import tomllib
import warnings

import pytest

from core.launch.config import LaunchConfig
from core.launch.local_runner import copy_redacted
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


class _SharedPipe:
    """Every rank's stdout is one pipe: each write() call reaches it whole, but another rank's may come between."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, text: str) -> int:
        self.writes.append(text.encode())
        return len(text)

    def flush(self) -> None:
        pass


def test_each_rank_announces_itself_in_one_write_on_a_line_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under PYTHONUNBUFFERED, print() sends the text and its newline in two writes, so two ranks' lines could
    merge (`jobs inspect` then saw one rank of two). One write, led by a newline, stands alone whatever
    another rank left half-written on the pipe."""
    for name, value in (("RANK", "1"), ("LOCAL_RANK", "1"), ("WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    namespace: dict = {}
    config = LaunchConfig(base_model="HuggingFaceTB/SmolLM2-135M-Instruct", dataset="x.jsonl", backend="local",
                          load_in_4bit=False, gpus=2)
    source = render_script(config).text.replace('if __name__ == "__main__":\n    main()', "")
    exec(compile(source, "train.py", "exec"), namespace)
    pipe = _SharedPipe()
    monkeypatch.setattr(sys, "stdout", pipe)
    namespace["announce_rank"]("cpu")
    (announcement,) = pipe.writes
    line = f"tui-tuner: rank=1 local_rank=1 world_size=2 strategy={namespace['STRATEGY']} device=cpu"
    for unfinished in (b"", b"Loaded 16 examples", b"Map:  50%|#####     | 8/16\r", b"UserWarning: half a warn"):
        log = io.BytesIO()
        copy_redacted(io.BufferedReader(io.BytesIO(unfinished + announcement + b"\n")), log)  # type: ignore[arg-type]
        assert line in re.split(r"[\r\n]", log.getvalue().decode()), log.getvalue()

    # Rank 0's own lines go out whole too, so nothing lands between a line and its newline.
    pipe.writes.clear()
    namespace["IS_MAIN"] = True
    namespace["log"]("tui-tuner: expected_steps=8 examples=16 world_size=2")
    assert pipe.writes == [b"tui-tuner: expected_steps=8 examples=16 world_size=2\n"]


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


HOSTILE_TEXT = [
    "/data/back\\xslash.jsonl",  # issue 15 item 3: `\x` in the docstring was a SyntaxError
    'it\'s "quoted"', '"""', "'''", 'end"', "a\\", "line\nbreak\r\n", "\\N{BULLET}", "\\u12", "tab\there",
    "{{MODEL_ID}}", "{}", "ünï©ødé ☃ 𝄞", "\x00\x07\x1b[31m", "# not a comment", "\u2028\u2029",
]


@pytest.mark.parametrize("hostile", HOSTILE_TEXT)
def test_hostile_values_in_every_field_compile_and_round_trip(hub_config: LaunchConfig, hostile: str) -> None:
    config = hub_config.replace(
        base_model=f"m{hostile}", dataset=f"d{hostile}", dataset_split=f"s{hostile}", output_repo=f"o{hostile}",
        scheduler=f"c{hostile}", optimizer=f"p{hostile}", loss_on=f"l{hostile}", lora_targets=[hostile, "q"],
        trackio_project=f"t{hostile}", trackio_space=f"x{hostile}", run_name=f"r{hostile}")
    script = render_script(config, output_dir=f"out{hostile}", filename=f"train{hostile}.py")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an invalid escape is a warning today and an error in later Pythons
        compile(script.text, "train.py", "exec")  # SyntaxError if a value broke out or left a bad escape
    tree = ast.parse(script.text)
    assigned = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    expected = {"MODEL_ID": f"m{hostile}", "DATASET": f"d{hostile}", "DATASET_SPLIT": f"s{hostile}",
                "OUTPUT_REPO": f"o{hostile}", "OUTPUT_DIR": f"out{hostile}", "SCHEDULER": f"c{hostile}",
                "OPTIMIZER": f"p{hostile}", "LOSS_ON": f"l{hostile}", "LORA_TARGETS": [hostile, "q"],
                "TRACKIO_PROJECT": f"t{hostile}", "TRACKIO_SPACE": f"x{hostile}"}
    for name, value in expected.items():
        assert ast.literal_eval(assigned[name]) == value, name
    run_name = assigned["RUN_NAME"]
    assert isinstance(run_name, ast.BoolOp)
    assert ast.literal_eval(run_name.values[1].left) == f"r{hostile}-"  # type: ignore[attr-defined]
    # The docstring names the model, the dataset and the script file, each exactly as given.
    doc = ast.get_docstring(tree, clean=False) or ""
    assert f"LoRA SFT of 'm{hostile}' on 'd{hostile}'" in doc
    assert f"uv run 'train{hostile}.py'" in doc
    # Every line outside string literals is the template's own: no value starts a statement or a comment.
    assert script.text.isascii()
    assert not calls(tree, "system") and len(tree.body) == len(ast.parse(render_script(hub_config).text).body)


def test_the_header_stays_valid_toml_and_other_values_have_literals(hub_config: LaunchConfig) -> None:
    from core.launch.script import py_literal

    meta = pep723_metadata(render_script(hub_config).text)
    assert meta["requires-python"] == ">=3.11" and "pillow" in meta["dependencies"]
    for value in (None, True, False, 0, -3, 2e-4, float("inf"), float("-inf"), ["a", "b\\"], "", "x" * 1000):
        assert eval(py_literal(value)) == value
    nan = eval(py_literal(float("nan")))
    assert nan != nan
