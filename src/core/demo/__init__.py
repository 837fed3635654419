"""`tui-tuner demo`: the whole loop on a laptop CPU, with the real pipeline and no account.

Data (60 coaching conversations shipped here) → model (SmolLM2-135M-Instruct) → plan (`core.calc`) →
llama.cpp → LoRA training on the local backend (`core.launch`) → conversion (`core.convert`) → a baseline
GGUF through the same pipeline → evaluation with llama-server (`core.eval`) → summary. `DemoRun.events()`
is one async iterator of events that the headless CLI and the TUI both consume; a state file in the
output folder lets a rerun skip finished steps.
"""

PIPELINE_NOTE = (
    "This is the tui-tuner demo: a 135M-parameter model fine-tuned on 60 conversations for a few dozen steps "
    "on a CPU. It proves the pipeline (plan, train, convert, evaluate, report) works end to end; it says "
    "nothing about quality. Read the scores and the verdict as a smoke test, not as a result."
)
"""The sentence the report and the summary carry, so nobody mistakes the demo's verdict for a finding."""
