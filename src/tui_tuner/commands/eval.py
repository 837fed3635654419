"""`tui-tuner eval`: read an evaluation's results (report, view, export); `personas`/`run` come from eval_run.

Only argparse is imported at start-up; the statistics (numpy/scipy) and the TUI load in the handlers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from core.errors import TunerError
from tui_tuner.output import emit_json

EXPORT_FORMATS = ("md", "csv", "json")
_TABLES = ("overview", "pairwise", "categories", "criteria", "personas", "conversations")
_VIEW_TABS = ("overview", "pairwise", "categories", "personas", "side-by-side")
_SHOWS = ("all", "failed", "safety", "worse", "errors", "spread")


def _add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-improvement", type=float, default=None, metavar="DELTA",
                        help="smallest improvement over the baseline that counts (default 0.10, the guide's)")
    parser.add_argument("--alpha", type=float, default=None, help="significance level (default 0.05)")


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    evaluation = subparsers.add_parser(
        "eval", help="full-conversation evaluation: personas, run and judge, report, view, export",
        description="The guide's full-conversation evaluation: generate personas, run and judge the "
                    "conversations against OpenAI-compatible endpoints, then report, view and export a results "
                    "directory (run.json, personas.json, conversations.jsonl).")
    sub = evaluation.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    evaluation.set_defaults(func=lambda args: _usage(evaluation))

    report = sub.add_parser("report", parents=[parent], help="statistics, verdict and evaluation_report.md",
                            description="Per-model statistics, paired tests with Holm correction, safety, power "
                                        "and the guide's verdict; writes evaluation_report.md.")
    report.add_argument("dir", type=Path, help="results directory")
    report.add_argument("--out", default=None,
                        help="markdown file to write (default DIR/evaluation_report.md; '-' prints it; a link is "
                             "followed, a device or FIFO written through)")
    report.add_argument("--check", action="store_true",
                        help="exit 1 unless every candidate PASSes (for CI gates)")
    _add_settings(report)
    report.set_defaults(func=_report)

    view = sub.add_parser("view", help="open the results in the terminal viewer",
                          description="Open the Evaluate screen on DIR; the options open straight into a view, "
                                      "e.g. --model ft-a --show worse --tab personas.")
    view.add_argument("dir", type=Path, help="results directory")
    view.add_argument("--tab", choices=_VIEW_TABS, help="tab to open (default overview)")
    view.add_argument("--model", help="model for the persona filters and side B of the transcripts")
    view.add_argument("--show", choices=_SHOWS, help="persona filter: not passed, safety violations, worse than "
                                                     "baseline, failed attempts, high spread")
    view.add_argument("--persona", help="persona id to open side by side")
    view.set_defaults(func=_view)

    export = sub.add_parser("export", parents=[parent], help="export the report as markdown, CSV or JSON")
    export.add_argument("dir", type=Path, help="results directory")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="md", dest="fmt")
    export.add_argument("--table", choices=_TABLES, default="overview",
                        help="which table a CSV export holds (default overview)")
    export.add_argument("--out", default=None,
                        help="file to write (default or '-': standard output; a link is followed, a device or "
                             "FIFO written through)")
    export.add_argument("--show", choices=_SHOWS, help="personas/conversations CSV: only these personas "
                                                       "(e.g. worse, safety: a seed for the next training set)")
    export.add_argument("--model", help="personas/conversations CSV: filters apply to (and conversations of) "
                                        "this model")
    export.add_argument("--category", help="personas/conversations CSV: one persona category")
    _add_settings(export)
    export.set_defaults(func=_export)

    if importlib.util.find_spec("tui_tuner.commands.eval_run") is not None:
        importlib.import_module("tui_tuner.commands.eval_run").register_run_commands(sub, parent)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _settings(args: argparse.Namespace) -> Any:
    from core.config import load_config
    from core.eval.report import settings_from_config
    from core.redact import register_secret_env

    section = load_config().section("eval")
    register_secret_env(section.get("api_key_env"))  # results may quote the key an earlier run sent
    if args.alpha is not None and not 0 < args.alpha < 1:
        raise TunerError(f"{args.alpha} is not between 0 and 1", field="--alpha")
    if args.min_improvement is not None and not 0 <= args.min_improvement <= 1:
        raise TunerError(f"{args.min_improvement} is not on the 0-1 score scale", field="--min-improvement")
    return settings_from_config(section, min_improvement=args.min_improvement,
                                alpha=args.alpha)


def load_report(directory: Path, settings: Any = None) -> tuple[Any, Any]:
    """(results, report) for a directory; a folder with no evaluation files at all is an error."""
    from core.eval.report import build_report
    from core.eval.results import CONVERSATIONS_FILE, RUN_FILE, load_results

    results = load_results(directory)
    if not (directory / RUN_FILE).exists() and not (directory / CONVERSATIONS_FILE).exists():
        raise TunerError(f"{directory}: not an evaluation results directory (no {RUN_FILE}, no {CONVERSATIONS_FILE})",
                         hint="point at the --output-dir of `tui-tuner eval run`")
    return results, build_report(results, settings)


def _errors(report: Any) -> list[Any]:
    """The report's data problems that mean the results could not be read as written."""
    return [p for p in report.problems if p.severity == "error"]


def _failed_on_data(report: Any, wrote: str) -> int:
    """Exit 2 after a report or export built from results with errors (the output holds what was readable)."""
    errors = _errors(report)
    print(f"error: {len(errors)} problem(s) in {report.directory}: {errors[0].line()}"
          + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "") + f"; {wrote}", file=sys.stderr)
    return 2


def _report(args: argparse.Namespace) -> int:
    from core.eval.report import render_markdown, write_export
    from core.output_file import is_stdout

    _results, report = load_report(args.dir, _settings(args))
    markdown = render_markdown(report)
    to_stdout = is_stdout(args.out)
    written: Path | None = None
    if not (to_stdout and args.json):  # `--out - --json`: the JSON is what goes to standard output
        written = write_export(args.out if args.out else args.dir / "evaluation_report.md", markdown,
                               allow_stdout=True, what="the report")
    if args.json:
        emit_json({**report.to_dict(), "report_path": str(written) if written else None})
    else:
        for problem in report.problems:
            print(f"{problem.severity}: {problem.line()}", file=sys.stderr)
    if not args.json and not to_stdout:
        incomplete = "" if report.complete else ", incomplete"
        print(f"{report.progress} ({report.status}{incomplete})")
        for model in report.models:
            print(f"  {model.name:<16} mean {_num(model.mean)} ± {_num(model.sd)}  "
                  f"pass {model.pass_rate.successes}/{model.pass_rate.n}  "
                  f"safety {model.safety.events}/{model.safety.n}")
        for verdict in report.verdicts:
            print(verdict.line())
        print(f"report written to {written}")
    if _errors(report):
        return _failed_on_data(report, "the report covers what could be read")
    if args.check and not (report.verdicts and all(v.status == "PASS" for v in report.verdicts)):
        return 1
    return 0


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _export(args: argparse.Namespace) -> int:
    from core.eval.report import export_text, write_export
    from core.output_file import STDOUT

    results, report = load_report(args.dir, _settings(args))
    personas = None
    filtered = args.show or args.model or args.category
    if filtered:
        if args.fmt != "csv" or args.table not in ("personas", "conversations"):
            raise TunerError("--show, --model and --category filter the personas or conversations CSV",
                             hint="add --format csv --table personas (or conversations)")
        if args.model and args.model not in results.models:
            raise TunerError(f"no model {args.model!r} in these results ({', '.join(results.models)})",
                             field="--model")
        from core.eval.report import SHOW_FILTERS, filter_personas

        flags = {SHOW_FILTERS[args.show]: True} if args.show in SHOW_FILTERS else {}
        personas = filter_personas(report, category=args.category, model=args.model, **flags,
                                   sort="delta" if args.show == "worse" else "persona")
    text = export_text(report, args.fmt, table=args.table, results=results, personas=personas,
                       model=args.model if args.table == "conversations" else None)
    path = write_export(args.out if args.out is not None else STDOUT, text, allow_stdout=True)
    if path is not None:
        if args.json:
            emit_json({"path": str(path), "format": args.fmt, "table": args.table if args.fmt == "csv" else None})
        else:
            print(f"wrote {path}")
    if _errors(report):
        return _failed_on_data(report, "the export holds what could be read")
    return 0


def _view(args: argparse.Namespace) -> int:
    directory = args.dir.expanduser()
    if not directory.is_dir():
        raise TunerError(f"{directory}: no such results directory")
    from tui_tuner.app import TunerApp
    from tui_tuner.screens.eval.view_request import ViewRequest

    tab = args.tab or ("side-by-side" if args.persona else "personas" if args.show else None)
    view = ViewRequest(directory, tab=tab, model=args.model, show=args.show, persona=args.persona)
    app = TunerApp(start_area="eval", area_options={"eval": {"view": view}})
    app.run()
    # An app that ended on an unhandled error has printed it; its exit status must say so too.
    return app.return_code or 0
