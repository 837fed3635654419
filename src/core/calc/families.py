"""Each model family's decoder layer as config formulas: its Linear modules (real names, shapes, what they
read) and the parameters outside them. The path used without transformers, and for remote-code models
(Qwen-1) that transformers cannot build; tests/calc/test_families.py holds it equal to the model built on
the meta device (`core.calc.introspect`) for every family here, to the parameter.

Module names are the paths inside one decoder layer as transformers (or the remote code) names them, so a
LoRA target is matched the way PEFT matches it: the full path or its last components.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ATTN_IN, ATTN_OUT, MLP_IN, MLP_MID = "attn_in", "attn_out", "mlp_in", "mlp_mid"
"""What a Linear reads: the normed hidden state before attention, the attention output, the normed hidden
state before the MLP, or the MLP's intermediate activation. LoRA's saved inputs follow from this."""


@dataclass(frozen=True)
class LinearModule:
    """One weight matrix of a decoder layer (or a bank of them, one per expert)."""

    name: str
    """Path inside the layer: `self_attn.q_proj`, `mlp.c_proj`, `mlp.experts.gate_up_proj`."""
    d_in: int
    d_out: int
    feeds: str
    bias: bool = False
    experts: int = 1
    """MoE: copies of this matrix, one per expert (stored as one 3-D parameter in transformers ≥ 5)."""
    is_linear: bool = True
    """False for a fused expert bank (an nn.Parameter PEFT reaches through `target_parameters`)."""

    @property
    def weight_params(self) -> int:
        return self.experts * self.d_in * self.d_out

    @property
    def params(self) -> int:
        return self.weight_params + (self.experts * self.d_out if self.bias else 0)

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "in": self.d_in, "out": self.d_out, "reads": self.feeds, "bias": self.bias,
                "experts": self.experts}


@dataclass(frozen=True)
class Layout:
    linears: tuple[LinearModule, ...]
    layer_other: int
    """Parameters of one layer outside its Linears: norms, a router."""
    outer: int
    """Parameters outside the layers other than the embedding and an untied LM head: final norm, position
    embeddings, an LM-head bias."""
    gated: bool
    norms_saved: int
    """Hidden-size norm inputs each layer saves for backward (2 pre-norms; 4 with Gemma-style post-norms)."""
    qk_norm_width: int = 0
    """Width of the q/k-norm inputs saved per token (0 without q/k-norm)."""
    mlp_width: int = 0
    """The MLP's intermediate width a token goes through (MoE: experts per token × expert width)."""
    experts: int = 0
    experts_per_token: int = 0


# Families whose transformers config defaults tie_word_embeddings to False when the key is absent.
UNTIED_BY_DEFAULT = {"llama", "mistral", "qwen2", "qwen3", "phi3", "mixtral", "qwen2_moe", "qwen3_moe", "granite",
                     "gpt_neox", "phi", "olmo", "olmo2", "qwen"}
# Families whose MLP is an ungated up/down pair (GELU).
UNGATED = {"falcon", "gpt2", "gpt_neox", "gpt_bigcode", "phi", "opt", "bloom", "gptj", "starcoder2"}
FORMULA_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "qwen2_moe", "mixtral", "gemma", "gemma2",
                    "gemma3", "gemma3_text", "phi", "phi3", "gpt_bigcode", "gpt_neox", "falcon", "olmo", "olmo2",
                    "granite", "qwen")
"""Families whose layout below is checked against the transformers model (or, for `qwen`, the remote code)."""


def _lin(name: str, d_in: int, d_out: int, feeds: str, bias: bool = False, **kw: Any) -> LinearModule:
    return LinearModule(name, d_in, d_out, feeds, bias, **kw)


def layout(family: str, cfg: Mapping[str, Any], *, h: int, heads: int, kv: int, head_dim: int,
           inter: int) -> Layout:
    """The decoder layer of `family` (the config's model_type) from its config values."""
    q, k = heads * head_dim, kv * head_dim
    if family == "qwen":
        return _qwen1(cfg, h=h, q=q, inter=inter)
    if family == "phi3":
        return Layout((_lin("self_attn.qkv_proj", h, q + 2 * k, ATTN_IN), _lin("self_attn.o_proj", q, h, ATTN_OUT),
                       _lin("mlp.gate_up_proj", h, 2 * inter, MLP_IN), _lin("mlp.down_proj", inter, h, MLP_MID)),
                      layer_other=2 * h, outer=h, gated=True, norms_saved=2, mlp_width=inter)
    if family == "phi":
        qk_ln = 2 * 2 * head_dim if cfg.get("qk_layernorm") else 0
        return Layout((_lin("self_attn.q_proj", h, q, ATTN_IN, True), _lin("self_attn.k_proj", h, k, ATTN_IN, True),
                       _lin("self_attn.v_proj", h, k, ATTN_IN, True), _lin("self_attn.dense", q, h, ATTN_OUT, True),
                       _lin("mlp.fc1", h, inter, MLP_IN, True), _lin("mlp.fc2", inter, h, MLP_MID, True)),
                      layer_other=2 * h + qk_ln, outer=2 * h + int(cfg.get("vocab_size") or 0), gated=False,
                      norms_saved=1, mlp_width=inter)
    if family == "gpt_bigcode":
        positions = int(cfg.get("n_positions") or cfg.get("max_position_embeddings") or 0)
        return Layout((_lin("attn.c_attn", h, q + 2 * k, ATTN_IN, True), _lin("attn.c_proj", q, h, ATTN_OUT, True),
                       _lin("mlp.c_fc", h, inter, MLP_IN, True), _lin("mlp.c_proj", inter, h, MLP_MID, True)),
                      layer_other=4 * h, outer=positions * h + 2 * h, gated=False, norms_saved=2, mlp_width=inter)
    if family == "gpt_neox":
        bias = cfg.get("attention_bias", True) is not False
        return Layout((_lin("attention.query_key_value", h, q + 2 * k, ATTN_IN, bias),
                       _lin("attention.dense", q, h, ATTN_OUT, bias),
                       _lin("mlp.dense_h_to_4h", h, inter, MLP_IN, True),
                       _lin("mlp.dense_4h_to_h", inter, h, MLP_MID, True)),
                      layer_other=4 * h, outer=2 * h, gated=False, norms_saved=2, mlp_width=inter)
    if family == "falcon":
        return _falcon(cfg, h=h, heads=heads, kv=kv, head_dim=head_dim, inter=inter)
    if family in {"mixtral", "qwen3_moe", "qwen2_moe"}:
        return _moe(family, cfg, h=h, q=q, k=k, head_dim=head_dim, inter=inter)
    return _llama_like(family, cfg, h=h, q=q, k=k, head_dim=head_dim, inter=inter)


def _attention(cfg: Mapping[str, Any], family: str, *, h: int, q: int, k: int) -> tuple[LinearModule, ...]:
    qkv_bias = bool(cfg.get("attention_bias")) or family in {"qwen2", "qwen2_moe"}
    o_bias = bool(cfg.get("attention_bias")) and family not in {"qwen2", "qwen2_moe"}
    return (_lin("self_attn.q_proj", h, q, ATTN_IN, qkv_bias), _lin("self_attn.k_proj", h, k, ATTN_IN, qkv_bias),
            _lin("self_attn.v_proj", h, k, ATTN_IN, qkv_bias), _lin("self_attn.o_proj", q, h, ATTN_OUT, o_bias))


def _llama_like(family: str, cfg: Mapping[str, Any], *, h: int, q: int, k: int, head_dim: int,
                inter: int) -> Layout:
    mlp_bias = bool(cfg.get("mlp_bias"))
    linears = (*_attention(cfg, family, h=h, q=q, k=k),
               _lin("mlp.gate_proj", h, inter, MLP_IN, mlp_bias), _lin("mlp.up_proj", h, inter, MLP_IN, mlp_bias),
               _lin("mlp.down_proj", inter, h, MLP_MID, mlp_bias))
    qk = 0
    if family == "olmo":  # non-parametric LayerNorms: no norm weights at all
        norms, final, saved = 0, 0, 2
    elif family == "olmo2":  # post-norms only, q/k-norm over the full projection width
        norms, final, saved, qk = 2 * h + q + k, h, 2, q + k
    elif family in {"gemma2"}:
        norms, final, saved = 4 * h, h, 4
    elif family in {"gemma3", "gemma3_text"}:
        norms, final, saved, qk = 4 * h + 2 * head_dim, h, 4, q + k
    elif family in {"qwen3"}:
        norms, final, saved, qk = 2 * h + 2 * head_dim, h, 2, q + k
    else:
        norms, final, saved = 2 * h, h, 2
    return Layout(linears, layer_other=norms, outer=final, gated=True, norms_saved=saved, qk_norm_width=qk,
                  mlp_width=inter)


def _moe(family: str, cfg: Mapping[str, Any], *, h: int, q: int, k: int, head_dim: int, inter: int) -> Layout:
    experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 8)
    top_k = int(cfg.get("num_experts_per_tok") or 2)
    width = int(cfg.get("moe_intermediate_size") or inter) if family != "mixtral" else inter
    linears: list[LinearModule] = [*_attention(cfg, family, h=h, q=q, k=k),
                                   _lin("mlp.experts.gate_up_proj", h, 2 * width, MLP_IN, experts=experts,
                                        is_linear=False),
                                   _lin("mlp.experts.down_proj", width, h, MLP_MID, experts=experts, is_linear=False)]
    norms = 2 * h + (2 * head_dim if family == "qwen3_moe" else 0)
    router = experts * h
    active = top_k * width
    if family == "qwen2_moe":
        shared = int(cfg.get("shared_expert_intermediate_size") or 0)
        if shared:
            linears += [_lin("mlp.shared_expert.gate_proj", h, shared, MLP_IN),
                        _lin("mlp.shared_expert.up_proj", h, shared, MLP_IN),
                        _lin("mlp.shared_expert.down_proj", shared, h, MLP_MID),
                        _lin("mlp.shared_expert_gate", h, 1, MLP_IN)]
            active += shared
    qk = q + k if family == "qwen3_moe" else 0
    return Layout(tuple(linears), layer_other=norms + router, outer=h, gated=True, norms_saved=2,
                  qk_norm_width=qk, mlp_width=active, experts=experts, experts_per_token=top_k)


def _falcon(cfg: Mapping[str, Any], *, h: int, heads: int, kv: int, head_dim: int, inter: int) -> Layout:
    bias = bool(cfg.get("bias"))
    new_arch = bool(cfg.get("new_decoder_architecture"))
    qkv_out = (heads + 2 * kv) * head_dim
    linears = (_lin("self_attention.query_key_value", h, qkv_out, ATTN_IN, bias),
               _lin("self_attention.dense", heads * head_dim, h, ATTN_OUT, bias),
               _lin("mlp.dense_h_to_4h", h, inter, MLP_IN, bias), _lin("mlp.dense_4h_to_h", inter, h, MLP_MID, bias))
    if new_arch:
        n_ln = 2 if int(cfg.get("num_ln_in_parallel_attn") or 2) == 2 else 1
    else:
        n_ln = 1 if cfg.get("parallel_attn", True) else 2
    return Layout(linears, layer_other=n_ln * 2 * h, outer=2 * h, gated=False, norms_saved=max(1, n_ln),
                  mlp_width=inter)


def _qwen1(cfg: Mapping[str, Any], *, h: int, q: int, inter: int) -> Layout:
    """Qwen-1 (`model_type: qwen`, remote code `modeling_qwen.py`): c_attn is one h → 3·q matrix with bias;
    the MLP's `intermediate_size` counts BOTH input matrices: w1 and w2 are each intermediate_size / 2 wide
    (a1 = w1(x), a2 = w2(x), c_proj(a1 * silu(a2))): w2 is the gate, w1 the up projection."""
    bias = not cfg.get("no_bias", True)
    width = inter // 2
    linears = (_lin("attn.c_attn", h, 3 * q, ATTN_IN, True), _lin("attn.c_proj", q, h, ATTN_OUT, bias),
               _lin("mlp.w1", h, width, MLP_IN, bias), _lin("mlp.w2", h, width, MLP_IN, bias),
               _lin("mlp.c_proj", width, h, MLP_MID, bias))
    return Layout(linears, layer_other=2 * h, outer=h, gated=True, norms_saved=2, mlp_width=width)


__all__ = ["ATTN_IN", "ATTN_OUT", "FORMULA_FAMILIES", "MLP_IN", "MLP_MID", "UNGATED", "UNTIED_BY_DEFAULT",
           "Layout", "LinearModule", "layout"]
