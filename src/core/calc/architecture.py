"""A decoder-only model's shape, read from a `config.json`, and the parameter counts derived from it.

The counts follow the reference formula (memory-estimation.md §2.1), which matches keras-hub's Gemma 3
presets and PEFT's logged Llama-3.2-3B count to the integer:

    attn  = h·q + 2·h·k + q·h            q = heads·head_dim, k = kv_heads·head_dim
    mlp   = 3·h·I (gated) or 2·h·I
    norms = 2h (+2h Gemma post-norms) (+2·head_dim q/k-norm)
    P     = V·h + L·(attn + mlp + norms) + h + (0 if tied else V·h)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import TunerError

# Families whose MLP is a plain up/down pair (GELU) rather than gate/up/down.
_UNGATED_MLP = {"falcon", "gpt2", "gpt_neox", "gpt_bigcode", "phi", "opt", "bloom", "gptj", "starcoder2"}
# Families with RMSNorm on q and k (head_dim-sized weights).
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2", "gemma4", "gemma4_text"}
# Families with four norms per layer (pre and post attention / MLP).
_POST_NORMS = {"gemma2", "gemma3", "gemma3_text", "olmo2", "gemma4", "gemma4_text"}
# Families whose transformers config defaults tie_word_embeddings to False when the key is absent.
_UNTIED_BY_DEFAULT = {"llama", "mistral", "qwen2", "qwen3", "phi3", "mixtral", "qwen2_moe", "qwen3_moe", "granite"}

# The linear modules LoRA can wrap, with their canonical (HF Llama-style) names.
LINEAR_ROLES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTENTION_ROLES = ("q_proj", "k_proj", "v_proj", "o_proj")
# Other names the same modules go by in other families, and fused modules.
_ROLE_ALIASES: dict[str, tuple[str, ...]] = {
    "query": ("q_proj",), "key": ("k_proj",), "value": ("v_proj",),
    "out_proj": ("o_proj",), "dense": ("o_proj",), "proj": ("o_proj",),
    "qkv_proj": ("q_proj", "k_proj", "v_proj"), "query_key_value": ("q_proj", "k_proj", "v_proj"),
    "c_attn": ("q_proj", "k_proj", "v_proj"), "wqkv": ("q_proj", "k_proj", "v_proj"),
    "gate_up_proj": ("gate_proj", "up_proj"), "w1": ("gate_proj",), "w3": ("up_proj",), "w2": ("down_proj",),
    "fc1": ("up_proj",), "fc2": ("down_proj",), "dense_h_to_4h": ("up_proj",), "dense_4h_to_h": ("down_proj",),
    "c_fc": ("up_proj",), "mlp": ("gate_proj", "up_proj", "down_proj"), "attn": ATTENTION_ROLES,
}


def normalise_targets(targets: tuple[str, ...] | list[str] | str, arch: ModelArchitecture) -> tuple[str, ...]:
    """LoRA target names (HF names, fused names, `all-linear`) as canonical roles that exist in `arch`."""
    if isinstance(targets, str):
        targets = tuple(t.strip() for t in targets.replace(";", ",").split(",") if t.strip())
    roles: list[str] = []
    for raw in targets:
        name = raw.strip().lower()
        if name in {"all-linear", "all_linear", "all"}:
            expanded: tuple[str, ...] = LINEAR_ROLES
        elif name in LINEAR_ROLES:
            expanded = (name,)
        elif name in _ROLE_ALIASES:
            expanded = _ROLE_ALIASES[name]
        elif name in {"lm_head", "embed_tokens"}:
            raise TunerError(f"{raw!r} is a vocabulary matrix, not a LoRA target the calculator models",
                             field="lora_targets", hint="use q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
        else:
            raise TunerError(f"unknown LoRA target module {raw!r}", field="lora_targets",
                             hint="use q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all-linear")
        for role in expanded:
            if role == "gate_proj" and not arch.gated_mlp:
                continue  # an ungated MLP has no gate matrix
            if role not in roles:
                roles.append(role)
    if not roles:
        raise TunerError("no LoRA target modules given", field="lora_targets", hint="e.g. q_proj,v_proj")
    return tuple(r for r in LINEAR_ROLES if r in roles)


@dataclass(frozen=True)
class ModelArchitecture:
    """What the memory estimate needs to know about a decoder-only transformer."""

    name: str
    model_type: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int | None = None
    sliding_window: int | None = None
    num_sliding_layers: int = 0
    """Layers that attend only within `sliding_window` (Gemma 3: 5 of every 6)."""
    gated_mlp: bool = True
    qk_norm: bool = False
    post_norms: bool = False
    attention_bias: bool = False
    extra_params: int = 0
    """Parameters outside the decoder stack that load with the checkpoint (a vision tower)."""
    extra_note: str = ""
    source: str = "config"
    """Where it came from: `catalog:<key>`, `hub:<repo id>`, or a file path."""
    hub_ids: tuple[str, ...] = field(default=())

    # ---- derived widths -------------------------------------------------------------------
    @property
    def q_width(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shape(self, role: str) -> tuple[int, int]:
        """(d_in, d_out) of one decoder layer's linear module."""
        h, q, k, inter = self.hidden_size, self.q_width, self.kv_width, self.intermediate_size
        return {
            "q_proj": (h, q), "k_proj": (h, k), "v_proj": (h, k), "o_proj": (q, h),
            "gate_proj": (h, inter), "up_proj": (h, inter), "down_proj": (inter, h),
        }[role]

    @property
    def linear_roles(self) -> tuple[str, ...]:
        return tuple(r for r in LINEAR_ROLES if self.gated_mlp or r != "gate_proj")

    # ---- parameter counts -----------------------------------------------------------------
    @property
    def attention_params_per_layer(self) -> int:
        h, q, k = self.hidden_size, self.q_width, self.kv_width
        bias = (q + 2 * k) if self.attention_bias else 0
        return h * q + 2 * h * k + q * h + bias

    @property
    def mlp_params_per_layer(self) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden_size * self.intermediate_size

    @property
    def norm_params_per_layer(self) -> int:
        norms = (4 if self.post_norms else 2) * self.hidden_size
        return norms + (2 * self.head_dim if self.qk_norm else 0)

    @property
    def linear_params_per_layer(self) -> int:
        """Parameters of the decoder-layer Linear modules (what bitsandbytes quantises)."""
        return sum(a * b for a, b in (self.linear_shape(r) for r in self.linear_roles))

    @property
    def layer_params(self) -> int:
        return self.attention_params_per_layer + self.mlp_params_per_layer + self.norm_params_per_layer

    @property
    def body_params(self) -> int:
        """Non-embedding parameters of the decoder stack."""
        return self.num_layers * self.layer_params

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        """Extra parameters of an untied LM head (0 when it shares the embedding)."""
        return 0 if self.tie_word_embeddings else self.vocab_size * self.hidden_size

    @property
    def text_params(self) -> int:
        return self.embedding_params + self.body_params + self.hidden_size + self.lm_head_params

    @property
    def total_params(self) -> int:
        return self.text_params + self.extra_params

    @property
    def num_full_attention_layers(self) -> int:
        return self.num_layers - self.num_sliding_layers

    def kv_bytes_per_token(self, bytes_per_value: float = 2.0) -> float:
        """K and V of one token in every layer (all layers full attention)."""
        return 2 * self.num_layers * self.kv_width * bytes_per_value

    def describe(self) -> str:
        tied = "tied" if self.tie_word_embeddings else "untied"
        return (f"{self.name}: {self.total_params / 1e9:.2f}B params, {self.num_layers} layers, h={self.hidden_size}, "
                f"{self.num_heads}/{self.num_kv_heads} heads×{self.head_dim}, V={self.vocab_size:,} ({tied})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "model_type": self.model_type, "source": self.source,
            "hidden_size": self.hidden_size, "intermediate_size": self.intermediate_size,
            "num_layers": self.num_layers, "num_heads": self.num_heads, "num_kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim, "vocab_size": self.vocab_size,
            "tie_word_embeddings": self.tie_word_embeddings,
            "max_position_embeddings": self.max_position_embeddings,
            "sliding_window": self.sliding_window, "num_sliding_layers": self.num_sliding_layers,
            "total_params": self.total_params, "body_params": self.body_params,
            "embedding_params": self.embedding_params, "extra_params": self.extra_params,
        }

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, name: str, source: str = "config",
                    hub_ids: tuple[str, ...] = ()) -> ModelArchitecture:
        """Build from a `config.json` dict; multimodal configs contribute their `text_config`."""
        if not isinstance(config, Mapping):
            raise TunerError(f"{name}: config.json is not a JSON object", field="model")
        outer_type = str(config.get("model_type") or "")
        text = config.get("text_config") if isinstance(config.get("text_config"), Mapping) else None
        cfg: Mapping[str, Any] = {**config, **text} if text else config
        model_type = str(cfg.get("model_type") or outer_type or "unknown")
        family = outer_type or model_type

        def pick(*keys: str, default: Any = None) -> Any:
            for key in keys:
                value = cfg.get(key)
                if value is not None:
                    return value
            return default

        def need_int(*keys: str, default: Any = None) -> int:
            value = pick(*keys, default=default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or value != int(value):
                raise TunerError(f"{name}: config.json has no valid {keys[0]} (got {value!r})", field="model",
                                 hint="the calculator needs a decoder-only transformer config")
            return int(value)

        hidden = need_int("hidden_size", "d_model", "n_embd", "dim")
        layers = need_int("num_hidden_layers", "n_layer", "num_layers", "n_layers")
        heads = need_int("num_attention_heads", "n_head", "num_heads", "n_heads")
        vocab = need_int("vocab_size", "padded_vocab_size")
        if cfg.get("multi_query") and "num_kv_heads" not in cfg and "num_key_value_heads" not in cfg:
            kv_default: Any = 1  # Falcon-7B style multi-query attention
        else:
            kv_default = heads
        kv_heads = need_int("num_key_value_heads", "num_kv_heads", "n_head_kv", default=kv_default)
        head_dim = pick("head_dim", "kv_channels")
        if head_dim is None:
            if hidden % heads:
                raise TunerError(f"{name}: hidden_size {hidden} is not divisible by {heads} heads", field="model")
            head_dim = hidden // heads
        head_dim = need_int("head_dim", "kv_channels", default=head_dim)
        gated = family not in _UNGATED_MLP and model_type not in _UNGATED_MLP
        inter = pick("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim")
        if inter is None:
            if gated:
                raise TunerError(f"{name}: config.json has no intermediate_size", field="model")
            inter = 4 * hidden
        inter = need_int("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", default=inter)
        if heads % kv_heads:
            raise TunerError(f"{name}: {heads} attention heads are not a multiple of {kv_heads} KV heads",
                             field="model")

        tie_default = model_type not in _UNTIED_BY_DEFAULT and family not in _UNTIED_BY_DEFAULT
        tie = config.get("tie_word_embeddings", cfg.get("tie_word_embeddings", tie_default))
        tie = tie_default if tie is None else bool(tie)

        sliding, n_sliding = _sliding_layout(cfg, layers)
        extra = 0
        note = ""
        vision = config.get("vision_config")
        if isinstance(vision, Mapping):
            extra = _vision_params(vision, hidden)
            note = f"vision tower ≈{extra / 1e9:.2f}B params loads with this checkpoint"
        max_pos = pick("max_position_embeddings", "n_positions", "max_seq_len")
        return cls(
            name=name, model_type=model_type, hidden_size=hidden, intermediate_size=inter, num_layers=layers,
            num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim, vocab_size=vocab,
            tie_word_embeddings=tie, max_position_embeddings=int(max_pos) if isinstance(max_pos, int) else None,
            sliding_window=sliding, num_sliding_layers=n_sliding, gated_mlp=gated,
            qk_norm=model_type in _QK_NORM or family in _QK_NORM,
            post_norms=model_type in _POST_NORMS or family in _POST_NORMS,
            attention_bias=bool(cfg.get("attention_bias") or model_type in {"qwen2", "qwen2_moe"}),
            extra_params=extra, extra_note=note, source=source, hub_ids=hub_ids,
        )


def _sliding_layout(cfg: Mapping[str, Any], layers: int) -> tuple[int | None, int]:
    """(window, number of sliding-window layers) from `layer_types` or the older pattern keys."""
    window = cfg.get("sliding_window")
    if not isinstance(window, int) or window <= 0:
        return None, 0
    if cfg.get("use_sliding_window") is False:
        return None, 0  # Qwen2/3 configs carry a window they do not use
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        return window, sum(1 for t in layer_types if "sliding" in str(t))
    pattern = cfg.get("sliding_window_pattern") or cfg.get("_sliding_window_pattern")
    if isinstance(pattern, int) and pattern > 1:
        # Every `pattern`-th layer is global (Gemma 2/3), the rest slide.
        return window, layers - layers // pattern
    model_type = str(cfg.get("model_type") or "")
    if model_type.startswith("gemma3"):
        return window, layers - layers // 6
    if model_type.startswith("gemma2"):
        return window, layers // 2
    return window, layers  # Mistral v0.1 / Phi-3-style: every layer slides


def _vision_params(vision: Mapping[str, Any], text_hidden: int) -> int:
    """SigLIP-style vision encoder plus the projector into the text model (Gemma 3: ≈0.42B)."""
    h = int(vision.get("hidden_size") or 0)
    inter = int(vision.get("intermediate_size") or 4 * h)
    layers = int(vision.get("num_hidden_layers") or 0)
    if not (h and layers):
        return 0
    patch = int(vision.get("patch_size") or 14)
    image = int(vision.get("image_size") or 896)
    channels = int(vision.get("num_channels") or 3)
    per_layer = 4 * h * h + 4 * h + 2 * h * inter + h + inter + 4 * h  # attn (+bias), MLP (+bias), 2 LayerNorms
    positions = (image // patch) ** 2
    embeddings = channels * patch * patch * h + h + positions * h
    projector = h * text_hidden + h
    return layers * per_layer + embeddings + 2 * h + projector


def human_params(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    return f"{n / 1e3:.1f}K" if n >= 1e3 else str(n)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b) if b else 0


__all__ = ["ATTENTION_ROLES", "LINEAR_ROLES", "ModelArchitecture", "ceil_div", "human_params",
           "normalise_targets"]
