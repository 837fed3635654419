"""Shared test support: isolated dirs, the canary token, real parts (SmolLM2, llama.cpp, fake Hub)."""
