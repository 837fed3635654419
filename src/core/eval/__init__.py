"""Full-conversation evaluation: personas, runner, judge (eval-run) and results, statistics, report (eval-view).

The results directory format is shared by both halves: `core.eval.results` reads and writes it.
"""
