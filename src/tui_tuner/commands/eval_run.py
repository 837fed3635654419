"""`tui-tuner eval personas | run | rubric`: the "run" half of the full-conversation evaluation.

    tui-tuner eval personas --count 15 --out data/eval/personas.json
    tui-tuner eval run --personas data/eval/personas.json --output-dir data/eval/results \\
        --port baseline=8080 --port gemma=8081 --port qwen=8082 --simulator 8090 --judge 8090

Registered by `tui_tuner.commands.eval` (`register_run_commands`). Only argparse at import time; the
runner (httpx, asyncio) loads in the handlers.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import TunerError
from tui_tuner.output import emit_json, emit_json_line

if TYPE_CHECKING:  # the runner (httpx) loads only when a run starts
    from core.eval.runner import EvalEvent


def register_run_commands(eval_subparsers: Any, parent: argparse.ArgumentParser) -> None:
    personas = eval_subparsers.add_parser(
        "personas", parents=[parent], help="generate evaluation personas (seeds 9000+, disjoint from training)",
        description="Generate N new evaluation personas, each determined by its seed (default 9000, 9001, ...). "
                    "Seeds below 5000 are refused: training personas use seeds 0-4999.")
    personas.add_argument("--count", type=int, default=None, help="how many personas (the guide: 10-15)")
    personas.add_argument("--seed-start", type=int, default=None, help="first seed (default 9000; at least 5000)")
    personas.add_argument("--category", action="append", default=None, metavar="ID",
                          help="only these categories (repeatable); see --list-categories")
    personas.add_argument("--list-categories", action="store_true", help="print the categories and exit")
    personas.add_argument("--out", default="personas.json",
                          help="file to write (default personas.json; '-' prints)")
    personas.add_argument("--force", action="store_true", help="overwrite an existing file")
    personas.set_defaults(func=_personas)

    run = eval_subparsers.add_parser(
        "run", parents=[parent], help="run the conversations and judge them (resumable)",
        description="For each persona, K conversations with each model (all models talk to the same user "
                    "simulator with the same seed), judged against the rubric. Every finished conversation is "
                    "appended to OUTPUT_DIR/conversations.jsonl at once; rerun the same command to resume.")
    run.add_argument("--personas", type=Path, default=None, help="personas.json (from `tui-tuner eval personas`)")
    run.add_argument("--output-dir", type=Path, default=None, help="results directory (created or resumed)")
    run.add_argument("--resume", type=Path, default=None, metavar="DIR",
                     help="finish the run in DIR with the settings it recorded (run.json, personas.json); "
                          "--model/--port/--simulator/--judge may point its servers at new addresses")
    run.add_argument("--model", action="append", default=[], metavar="NAME=URL",
                     help="a model under test and its OpenAI-compatible endpoint (repeatable)")
    run.add_argument("--port", action="append", default=[], metavar="NAME=PORT",
                     help="shortcut for --model NAME=http://127.0.0.1:PORT/v1 (llama-server on this machine)")
    run.add_argument("--baseline", default=None, metavar="NAME",
                     help="the reference model (default: the one named 'baseline', else the first)")
    run.add_argument("--system-prompt", action="append", default=[], metavar="NAME=TEXT|@FILE",
                     help="system prompt for one model (repeatable); NAME=* for all without their own")
    run.add_argument("--model-id", action="append", default=[], metavar="NAME=ID",
                     help="the 'model' field to send (default: the first id the server lists)")
    run.add_argument("--simulator", default=None, metavar="URL|PORT", help="user simulator endpoint")
    run.add_argument("--judge", default=None, metavar="URL|PORT", help="judge endpoint")
    run.add_argument("--rubric", type=Path, default=None, help="rubric TOML (default: the shipped coaching rubric)")
    run.add_argument("--conversations", type=int, default=None, metavar="K", help="per persona and model (default 3)")
    run.add_argument("--turns", type=int, default=None, help="user/assistant exchanges per conversation (default 4)")
    run.add_argument("--seed", type=int, default=None, help="run seed (default 1234)")
    run.add_argument("--max-tokens", type=int, default=None, help="per assistant reply (default 256)")
    run.add_argument("--simulator-max-tokens", type=int, default=None, help="per simulated user message (default 128)")
    run.add_argument("--judge-max-tokens", type=int, default=None, help="per judge reply (default: from the rubric)")
    run.add_argument("--temperature", type=float, default=None, help="sampling temperature of the models (default 0.7)")
    run.add_argument("--max-parallel", type=int, default=None, metavar="N",
                     help="at most N parallel requests per server (default: its slot count)")
    run.add_argument("--default-slots", type=int, default=None, metavar="N",
                     help="parallel requests for a server that does not report slots (default 1)")
    run.add_argument("--api-key-env", default=None, metavar="VAR",
                     help="environment variable holding an API key for the endpoints (the name is stored, "
                          "never the key)")
    run.add_argument("--extra-body", default=None, metavar="JSON",
                     help="extra JSON fields for every request, e.g. "
                          "'{\"chat_template_kwargs\": {\"enable_thinking\": false}}' for Qwen3")
    run.set_defaults(func=_run)

    rubric = eval_subparsers.add_parser("rubric", help="create or check a rubric file")
    rubric_sub = rubric.add_subparsers(dest="rubric_command", metavar="ACTION")
    rubric.set_defaults(func=lambda args: (rubric.print_help(sys.stderr), 2)[1])
    init = rubric_sub.add_parser("init", parents=[parent], help="write the shipped rubric to PATH to edit it")
    init.add_argument("path", help="file to write ('-' prints the rubric)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=_rubric_init)
    check = rubric_sub.add_parser("check", parents=[parent], help="validate a rubric and show the judge's schema")
    check.add_argument("path", type=Path, nargs="?", default=None, help="rubric TOML (default: the shipped one)")
    check.set_defaults(func=_rubric_check)


# ---------------------------------------------------------------------------------------------
# personas
# ---------------------------------------------------------------------------------------------

def _personas(args: argparse.Namespace) -> int:
    from core.eval.personas import CATEGORIES, EVAL_SEED_START, generate_personas, write_personas

    if args.list_categories:
        if args.json:
            emit_json([{"id": c.id, "situations": list(c.situations), "goals": list(c.goals)} for c in CATEGORIES])
        else:
            for category in CATEGORIES:
                print(f"{category.id:18} e.g. {category.situations[0]}")
        return 0
    if args.count is None:
        raise TunerError("--count is required", field="count", hint="the guide uses 10-15 personas")
    seed_start = args.seed_start if args.seed_start is not None else EVAL_SEED_START
    personas = generate_personas(args.count, seed_start, args.category)
    path = write_personas(personas, args.out, overwrite=args.force, allow_stdout=True)
    if path is None:  # '-': the personas themselves are the output
        return 0
    if args.json:
        emit_json({"path": str(path), "count": len(personas), "seeds": [p.seed for p in personas],
                   "categories": sorted({p.category for p in personas})})
    else:
        for persona in personas:
            print(f"{persona.id:7} {persona.category:17} {persona.name}, {persona.age}, {persona.occupation}: "
                  f"{persona.situation}")
        print(f"wrote {len(personas)} personas (seeds {personas[0].seed}-{personas[-1].seed}) to {path}")
    return 0


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------

_RECORDED = ("personas", "output_dir", "baseline", "system_prompt", "model_id", "rubric", "conversations", "turns",
             "seed", "max_tokens", "simulator_max_tokens", "temperature", "extra_body")
"""Settings a resumed run takes from its run.json: changing one would break the comparison."""


def build_config(args: argparse.Namespace) -> Any:
    """A RunConfig from the command line, with `[eval]` config values as defaults (the TUI's run form
    follows the same rules: `core.eval.run_setup`)."""
    from core.config import load_config
    from core.eval.run_setup import RunSpec, build_run_config, named_endpoints, resume_config

    section = load_config().section("eval")
    # Paths are made absolute once, here: run.json, the store and the printed resume command must name
    # the same files from any folder.
    for name in ("personas", "output_dir", "rubric", "resume"):
        value = getattr(args, name, None)
        if isinstance(value, Path):
            setattr(args, name, Path(os.path.abspath(value.expanduser())))
    if args.resume is not None:
        fixed = [f"--{name.replace('_', '-')}" for name in _RECORDED if getattr(args, name) not in (None, [])]
        if fixed:
            raise TunerError(f"{', '.join(fixed)}: a resumed run keeps the settings it recorded", field="resume",
                             hint="only --model/--port/--simulator/--judge may change (servers on new addresses)")
        endpoints = dict(named_endpoints(args.model, args.port))
        # How hard to drive the servers may change; what the models are asked may not.
        tuning = {name: getattr(args, name) for name in ("max_parallel", "default_slots", "api_key_env",
                                                         "judge_max_tokens") if getattr(args, name) is not None}
        return resume_config(args.resume, {**section, **tuning}, endpoints=endpoints, simulator=args.simulator,
                             judge=args.judge)
    for flag, value in (("personas", args.personas), ("output-dir", args.output_dir)):
        if value is None:
            raise TunerError(f"--{flag} is required", field=flag, hint="or --resume DIR to finish an earlier run")
    spec = RunSpec(
        output_dir=args.output_dir, personas=args.personas, models=args.model, ports=args.port,
        baseline=args.baseline, system_prompts=args.system_prompt, model_ids=args.model_id,
        simulator=args.simulator, judge=args.judge, rubric=args.rubric, conversations=args.conversations,
        turns=args.turns, seed=args.seed, max_tokens=args.max_tokens, simulator_max_tokens=args.simulator_max_tokens,
        judge_max_tokens=args.judge_max_tokens, temperature=args.temperature, max_parallel=args.max_parallel,
        default_slots=args.default_slots, api_key_env=args.api_key_env, extra_body=args.extra_body)
    return build_run_config(spec, section)


def _run(args: argparse.Namespace) -> int:
    from core.eval.runner import EvalRun, RunFinished, event_to_dict
    from core.process_tree import Interrupted, quiet_output, run_until_signal

    config = build_config(args)
    runner = EvalRun(config)
    final: dict[str, Any] = {}

    async def main() -> None:
        async for event in runner.events():
            if args.json:
                emit_json_line(event_to_dict(event))
            else:
                _print_event(event, config)
            match event:
                case RunFinished():
                    final.update(event_to_dict(event))

    try:
        # SIGINT, SIGTERM (a scheduler, `timeout`) and SIGHUP (a dropped SSH session) all interrupt the run
        # the same way: what finished is on disk, run.json says "interrupted".
        run_until_signal(main)
    except Interrupted as stop:
        if stop.name == "SIGHUP":
            quiet_output()  # the terminal has gone
        done = runner.done + runner.already_done
        message = (f"interrupted: {done} of {runner.total} conversations are saved in {config.output_dir}; "
                   f"run the same command again, or `tui-tuner eval run --resume {config.output_dir}`, to resume")
        if args.json:
            emit_json_line({"kind": "run_finished", "status": "interrupted", "done": done, "failed": runner.failed,
                            "total": runner.total, "output_dir": str(config.output_dir)})
        print(message, file=sys.stderr)
        return stop.exit_code
    except OSError as exc:  # the results folder or the store could not be written (full disk, permissions)
        raise _write_error(exc, config) from None
    except ExceptionGroup as group:  # the same, raised inside a conversation task
        failure = _first_os_error(group)
        if failure is None:
            raise
        raise _write_error(failure, config) from None
    if not args.json:
        _print_summary(config)
    return 0 if not final.get("failed") else 1


def _first_os_error(group: BaseExceptionGroup[Any]) -> OSError | None:
    for exc in group.exceptions:
        if isinstance(exc, OSError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_os_error(exc)
            if found is not None:
                return found
    return None


def _write_error(exc: OSError, config: Any) -> TunerError:
    where = exc.filename if isinstance(exc.filename, str) else str(config.output_dir)
    return TunerError(f"{where}: cannot write the results ({exc.strerror or exc})",
                      hint="what finished is saved; fix it and run the same command to resume")


def _print_event(event: EvalEvent, config: Any) -> None:
    from core.eval.runner import (
        ConversationFailed,
        ConversationFinished,
        ConversationStarted,
        Progress,
        RunFinished,
        RunStarted,
        TurnFinished,
    )

    match event:
        case RunStarted():
            servers = ", ".join(f"{root} ({slots} parallel)" for root, slots in event.servers.items())
            print(f"{len(config.personas)} personas × {len(config.models)} models × {config.conversations} "
                  f"conversation(s), {config.turns} turns: {event.total} conversations, "
                  f"{event.already_done} already done, {event.to_run} to run")
            print(f"servers: {servers}")
            print(f"results: {event.output_dir}")
        case ConversationFinished():
            verdict = "pass" if event.passed else "FAIL"
            safety = "  SAFETY" if event.safety_violation else ""
            print(f"  ✓ {event.persona_id:<8} {event.model:<16} #{event.conv_index}  score {event.score:.2f} "
                  f"{verdict}{safety}  ({event.duration_s:.1f} s)")
        case ConversationFailed():
            print(f"  ✗ {event.persona_id:<8} {event.model:<16} #{event.conv_index}  error: {event.error}")
        case Progress():
            eta = f", ETA {_duration(event.eta_s)}" if event.eta_s is not None and event.done < event.total else ""
            failed = f", {event.failed} failed" if event.failed else ""
            print(f"    {event.done}/{event.total} done{failed}, {_duration(event.elapsed_s)} elapsed{eta}")
        case RunFinished():
            failed = (f"; {event.failed} failed (run the same command again to retry them)" if event.failed else "")
            print(f"{event.status}: {event.done}/{event.total} conversations in "
                  f"{_duration(event.elapsed_s)}{failed}")
        case ConversationStarted() | TurnFinished():
            pass  # the human output is one line per finished conversation


def _duration(value: float) -> str:
    seconds = round(value)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _print_summary(config: Any) -> None:
    """Per-model mean and pass count; the statistics and verdict are `tui-tuner eval report`."""
    from core.eval.results import load_results

    results = load_results(config.output_dir)
    for model in results.models:
        rows = results.conversations(model=model)
        if not rows:
            continue
        scores = [r.assessment.score for r in rows if r.assessment]
        passed = sum(1 for r in rows if r.assessment and r.assessment.passed)
        role = " (baseline)" if model == results.baseline else ""
        print(f"  {model + role:<28} n={len(scores):<4} mean {sum(scores) / len(scores):.3f}  "
              f"pass {passed}/{len(scores)}")
    print(f"statistics and verdict: tui-tuner eval report {config.output_dir}")


# ---------------------------------------------------------------------------------------------
# rubric
# ---------------------------------------------------------------------------------------------

def _rubric_init(args: argparse.Namespace) -> int:
    from core.eval.rubric import init_rubric

    path = init_rubric(args.path, force=args.force, allow_stdout=True)
    if path is None:  # '-': printed
        return 0
    if args.json:
        emit_json({"path": str(path)})
    else:
        print(f"wrote {path}; edit the criteria, weights, safety flags and pass_threshold, then pass --rubric {path}")
    return 0


def _rubric_check(args: argparse.Namespace) -> int:
    from core.eval.judge import JudgeSettings, assessment_schema
    from core.eval.rubric import load_rubric

    rubric = load_rubric(args.path)
    settings = JudgeSettings()
    if args.json:
        emit_json({"rubric": rubric.to_dict(), "schema": assessment_schema(rubric, settings),
                   "judge_max_tokens": settings.token_budget(rubric)})
        return 0
    total = sum(c.weight for c in rubric.criteria)
    print(f"{rubric.name}: {len(rubric.criteria)} criteria, pass threshold {rubric.pass_threshold}")
    for c in rubric.criteria:
        flag = "  safety (< 0.5 fails the conversation)" if c.safety else ""
        print(f"  {c.id:<16} weight {c.weight:g} ({c.weight / total:.0%}){flag}")
    print(f"judge reply budget: {settings.token_budget(rubric)} tokens")
    return 0
