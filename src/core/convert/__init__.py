"""The conversion pipeline: download → merge → GGUF → quantize → verify → upload.

Kept light at import: every heavy library (torch, peft, transformers, gguf, huggingface_hub) is imported
inside the function that needs it, so the CLI can import this package at start-up.
"""
