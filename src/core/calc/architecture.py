"""A decoder-only model's shape and parameter counts, read from a `config.json` (or measured on the meta
device by `core.calc.introspect`).

Counts are per module: each decoder layer's Linear modules by their real names (`core.calc.families`),
the parameters beside them (norms, routers), the embedding, an untied LM head and what sits outside the
layers. For Llama-style models this is the reference formula (memory-estimation.md §2.1), which matches
keras-hub's Gemma 3 presets and PEFT's logged Llama-3.2-3B count to the integer:

    P = V·h + L·(h·q + 2·h·k + q·h + 3·h·I + norms) + h + (0 if tied else V·h)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.calc.families import (
    ATTN_IN,
    ATTN_OUT,
    MLP_IN,
    MLP_MID,
    UNGATED,
    UNTIED_BY_DEFAULT,
    LinearModule,
    layout,
)
from core.errors import TunerError

# Families with RMSNorm on q and k (head_dim-sized weights).
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2", "gemma4", "gemma4_text"}
# Families with four norms per layer (pre and post attention / MLP).
_POST_NORMS = {"gemma2", "gemma3", "gemma3_text", "gemma4", "gemma4_text"}

ALL_LINEAR = {"all-linear", "all_linear", "all"}
ALL_ATTENTION = {"all-attention", "attention", "attn"}
ALL_MLP = {"all-mlp", "mlp"}
VOCAB_TARGETS = ("lm_head", "embed_tokens")
"""LoRA on the vocabulary matrices (PEFT wraps lm_head as a Linear and embed_tokens as an Embedding)."""


def _matches(module: str, target: str) -> bool:
    """PEFT's rule: the target is the module's full path or its trailing components."""
    return module == target or module.endswith("." + target)


def normalise_targets(targets: Sequence[str] | str, arch: ModelArchitecture) -> tuple[str, ...]:
    """LoRA target names as the model's own module paths (PEFT matching), in layer order.

    Names are matched against the real modules of the model (`arch.linears`): `q_proj`, `self_attn.q_proj`,
    `c_attn`, `c_proj` (both of Qwen-1's), `all-linear`, `all-attention`, `all-mlp`, plus `lm_head` /
    `embed_tokens`. A name the model does not have is refused with the model's own list.
    """
    if isinstance(targets, str):
        targets = tuple(t.strip() for t in targets.replace(";", ",").split(",") if t.strip())
    chosen: list[str] = []
    names = [lin.name for lin in arch.linears]
    for raw in targets:
        target = raw.strip()
        key = target.lower()
        if key in ALL_LINEAR:
            hits = names
        elif key in ALL_ATTENTION:
            hits = [lin.name for lin in arch.linears if lin.feeds in {ATTN_IN, ATTN_OUT}]
        elif key in ALL_MLP:
            hits = [lin.name for lin in arch.linears if lin.feeds in {MLP_IN, MLP_MID}]
        elif key in VOCAB_TARGETS or key in {"model.embed_tokens", "wte", "transformer.wte"}:
            hits = ["embed_tokens" if "embed" in key or "wte" in key else "lm_head"]
        else:
            hits = [n for n in names if _matches(n, target)]
        if not hits:
            raise TunerError(f"{arch.name} has no module {raw!r} to put LoRA on", field="lora_targets",
                             hint=f"its Linear modules: {', '.join(arch.target_names())} (or all-linear)")
        for name in hits:
            if name not in chosen:
                chosen.append(name)
    if not chosen:
        raise TunerError("no LoRA target modules given", field="lora_targets",
                         hint=f"e.g. {', '.join(arch.target_names()[:2])} or all-linear")
    order = {name: i for i, name in enumerate([*names, *VOCAB_TARGETS])}
    return tuple(sorted(chosen, key=lambda n: order[n]))


@dataclass(frozen=True)
class ModelArchitecture:
    """What the memory estimate needs to know about a decoder-only transformer."""

    name: str
    model_type: str
    hidden_size: int
    intermediate_size: int
    """Width of ONE MLP input matrix (Qwen-1: half its config's intermediate_size; MoE: one expert)."""
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
    linears: tuple[LinearModule, ...] = ()
    """One decoder layer's weight matrices by their real names (empty: Llama-style names are assumed)."""
    layer_other_params: int | None = None
    """Parameters of one layer outside its Linears (norms, router); None: the Llama-style norm count."""
    outer_params: int | None = None
    """Parameters outside the layers besides embedding and untied head (final norm, positions, head bias)."""
    mlp_width: int = 0
    """Intermediate width a token passes through (MoE: experts per token × expert width); 0 = intermediate_size."""
    num_experts: int = 0
    experts_per_token: int = 0
    counted_by: str = "config formula"
    """How the parameters were counted: `config formula` or `meta model (transformers x.y)`."""
    remote_code: bool = False

    def __post_init__(self) -> None:
        if not self.linears:  # built by hand (tests, old callers): Llama-style names
            lay = layout("llama", {"attention_bias": self.attention_bias}, h=self.hidden_size, heads=self.num_heads,
                         kv=self.num_kv_heads, head_dim=self.head_dim, inter=self.intermediate_size)
            linears = lay.linears if self.gated_mlp else tuple(
                lin for lin in lay.linears if not lin.name.endswith("gate_proj"))
            object.__setattr__(self, "linears", linears)
        if self.layer_other_params is None:
            norms = (4 if self.post_norms else 2) * self.hidden_size
            object.__setattr__(self, "layer_other_params", norms + (2 * self.head_dim if self.qk_norm else 0))
        if self.outer_params is None:
            object.__setattr__(self, "outer_params", self.hidden_size)

    # ---- derived widths -------------------------------------------------------------------------
    @property
    def q_width(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_width(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def active_mlp_width(self) -> int:
        return self.mlp_width or self.intermediate_size

    def feed_width(self, feeds: str) -> int:
        """Width of the activation a Linear reads (per token)."""
        return {ATTN_IN: self.hidden_size, MLP_IN: self.hidden_size, ATTN_OUT: self.q_width,
                MLP_MID: self.active_mlp_width}[feeds]

    def linear(self, name: str) -> LinearModule:
        for lin in self.linears:
            if lin.name == name:
                return lin
        raise KeyError(name)

    def short_names(self, names: Sequence[str]) -> list[str]:
        """Module paths as a user writes them: the last component when that is unambiguous."""
        shorts = [lin.short for lin in self.linears]
        return [name.rsplit(".", 1)[-1] if shorts.count(name.rsplit(".", 1)[-1]) == 1 else name for name in names]

    def target_names(self) -> list[str]:
        """The names a user can give as LoRA targets: the short name when it is unique, else the path."""
        shorts = [lin.short for lin in self.linears]
        return [lin.short if shorts.count(lin.short) == 1 else lin.name for lin in self.linears]

    # ---- parameter counts -----------------------------------------------------------------------
    @property
    def linear_params_per_layer(self) -> int:
        """Weights of the decoder-layer Linear modules (what bitsandbytes / GPTQ / AWQ quantise)."""
        return sum(lin.weight_params for lin in self.linears)

    @property
    def layer_params(self) -> int:
        return sum(lin.params for lin in self.linears) + int(self.layer_other_params or 0)

    @property
    def body_params(self) -> int:
        """Parameters of the decoder stack (no embedding, head or final norm)."""
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
        return self.embedding_params + self.body_params + int(self.outer_params or 0) + self.lm_head_params

    @property
    def total_params(self) -> int:
        return self.text_params + self.extra_params

    @property
    def non_embedding_params(self) -> int:
        """Total minus the embedding and an untied LM head (how model cards and papers often count)."""
        return self.text_params - self.embedding_params - self.lm_head_params

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
            "num_experts": self.num_experts, "experts_per_token": self.experts_per_token,
            "counted_by": self.counted_by, "linear_modules": [lin.to_dict() for lin in self.linears],
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
            if value > 10**9:
                raise TunerError(f"{name}: config.json {keys[0]} is implausibly large ({value!r})", field="model")
            return int(value)

        hidden = need_int("hidden_size", "d_model", "n_embd", "dim")
        layers = need_int("num_hidden_layers", "n_layer", "num_layers", "n_layers")
        heads = need_int("num_attention_heads", "n_head", "num_heads", "n_heads")
        vocab = need_int("vocab_size", "padded_vocab_size")
        kind = model_type if model_type in UNGATED or model_type == "qwen" else family
        if kind == "falcon" and not cfg.get("new_decoder_architecture"):
            kv_heads = 1 if cfg.get("multi_query", True) else heads  # Falcon-7B: multi-query
        elif kind == "gpt_bigcode":
            kv_heads = 1 if cfg.get("multi_query", True) else heads  # StarCoder: multi-query
        else:
            kv_default = 1 if cfg.get("multi_query") is True else heads
            kv_heads = need_int("num_key_value_heads", "num_kv_heads", "n_head_kv", default=kv_default)
        head_dim = pick("head_dim", "kv_channels")
        if head_dim is None:
            if hidden % heads:
                raise TunerError(f"{name}: hidden_size {hidden} is not divisible by {heads} heads", field="model")
            head_dim = hidden // heads
        head_dim = need_int("head_dim", "kv_channels", default=head_dim)
        gated = kind not in UNGATED
        inter = pick("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim")
        if inter is None:
            if gated:
                raise TunerError(f"{name}: config.json has no intermediate_size", field="model")
            inter = 4 * hidden
        inter = need_int("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", default=inter)
        if heads % kv_heads:
            raise TunerError(f"{name}: {heads} attention heads are not a multiple of {kv_heads} KV heads",
                             field="model")

        tie_default = kind not in UNTIED_BY_DEFAULT and model_type not in UNTIED_BY_DEFAULT
        tie = config.get("tie_word_embeddings", cfg.get("tie_word_embeddings", tie_default))
        tie = tie_default if tie is None else bool(tie)

        lay = layout(kind, cfg, h=hidden, heads=heads, kv=kv_heads, head_dim=head_dim, inter=inter)
        sliding, n_sliding = _sliding_layout(cfg, layers)
        extra = 0
        note = ""
        vision = config.get("vision_config")
        if isinstance(vision, Mapping):
            extra = _vision_params(vision, hidden)
            note = f"vision tower ≈{extra / 1e9:.2f}B params loads with this checkpoint"
        max_pos = pick("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
        # One MLP input matrix's width: what the down projection reads (Qwen-1: half the config's value).
        per_matrix = next(lin.d_in for lin in lay.linears if lin.feeds == MLP_MID)
        return cls(
            name=name, model_type=model_type, hidden_size=hidden, intermediate_size=per_matrix, num_layers=layers,
            num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim, vocab_size=vocab,
            tie_word_embeddings=tie, max_position_embeddings=int(max_pos) if isinstance(max_pos, int) else None,
            sliding_window=sliding, num_sliding_layers=n_sliding, gated_mlp=lay.gated and gated,
            qk_norm=model_type in _QK_NORM or family in _QK_NORM,
            post_norms=model_type in _POST_NORMS or family in _POST_NORMS,
            attention_bias=bool(cfg.get("attention_bias") or model_type in {"qwen2", "qwen2_moe"}),
            extra_params=extra, extra_note=note, source=source, hub_ids=hub_ids,
            linears=lay.linears, layer_other_params=lay.layer_other, outer_params=lay.outer,
            mlp_width=lay.mlp_width, num_experts=lay.experts, experts_per_token=lay.experts_per_token,
            remote_code=isinstance(config.get("auto_map"), Mapping) and kind == "qwen",
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


__all__ = ["LinearModule", "ModelArchitecture", "ceil_div", "human_params", "normalise_targets"]
