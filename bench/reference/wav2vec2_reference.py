"""A plain PyTorch reference of the Hugging Face wav2vec2 / HuBERT encoder (Wav2Vec2Model and
HubertModel, inference without masking), used to check braintune's C++ LibTorch encoder.

The module names are chosen so that `model.state_dict()` keys are exactly the Hugging Face keys
without the "wav2vec2." / "hubert." prefix, e.g. "encoder.layers.3.attention.q_proj.weight".
Weights are read from a model.safetensors file by a small self-written safetensors reader (there
is neither `transformers` nor `safetensors` on the build machines); `save_safetensors` writes the
same format.

Usage:

    # compare the C++ encoder's hidden states with this reference (float32 and float64 runs)
    python3 wav2vec2_reference.py --model DIR --input IN.safetensors --expected EXP.safetensors [--tol 1e-5]

        DIR       holds config.json (Hugging Face style) and model.safetensors
        IN        holds "audio" [B, T] float32
        EXP       holds "hidden_states.0" ... "hidden_states.L" [B, frames, hidden] float32
        exit 1 if max |float64 reference - expected| > tol (absolute) for any hidden state

    # build a random tiny model, round-trip it through safetensors and check shapes
    python3 wav2vec2_reference.py --self-test

Architecture summary (eval mode, dropouts are identities):

    audio [B, T] -> unsqueeze(1) -> conv stack (GELU; GroupNorm on layer 0 or LayerNorm on every
    layer) -> [B, C, frames] -> transpose -> [B, frames, C]
    -> feature_projection: LayerNorm (optional) -> Linear(C, hidden)
    -> encoder: x + pos_conv(x) (weight-normed grouped conv, GELU), then either
       post-norm ("base"):  LayerNorm first, layers of (attn -> add -> LN -> FFN -> add -> LN)
       pre-norm ("large"):  layers of (LN -> attn -> add; LN -> FFN -> add), LayerNorm last
"""
import argparse
import json
import math
import mmap
import os
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# safetensors reader / writer
# ---------------------------------------------------------------------------------------------
#
# Layout: u64 little-endian N | N bytes of UTF-8 JSON header | raw little-endian tensor bytes.
# Header: {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
#          optional "__metadata__": {str: str}}; offsets are relative to the first byte after
# the header.

_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_SAFETENSORS_NAMES = {dtype: name for name, dtype in _SAFETENSORS_DTYPES.items()}

if sys.byteorder != "little":  # torch.frombuffer / .numpy() use the host byte order
    raise RuntimeError("wav2vec2_reference.py assumes a little-endian host")


def _element_size(dtype):
    return torch.empty((), dtype=dtype).element_size()


def load_safetensors(path, with_metadata=False):
    """Reads every tensor of a safetensors file into a dict {name: CPU tensor} (copies, so the
    file is closed afterwards). With with_metadata=True returns (tensors, metadata dict)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise ValueError(f"{path}: too short for a safetensors file ({size} bytes)")
        header_len = int.from_bytes(f.read(8), "little")
        if header_len > size - 8:
            raise ValueError(f"{path}: header length {header_len} exceeds the file size {size}")
        header = json.loads(f.read(header_len).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError(f"{path}: header is not a JSON object")
        metadata = header.pop("__metadata__", None) or {}
        data_start = 8 + header_len
        data_len = size - data_start
        tensors = {}
        # mmap so a large checkpoint is not read into memory twice; a read-only mapping is not
        # writable, so each tensor is copied out through a bytearray slice.
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            for name, info in header.items():
                dtype_name = info.get("dtype")
                if dtype_name not in _SAFETENSORS_DTYPES:
                    raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {dtype_name!r}")
                dtype = _SAFETENSORS_DTYPES[dtype_name]
                shape = [int(d) for d in info["shape"]]
                begin, end = (int(o) for o in info["data_offsets"])
                numel = math.prod(shape)
                if not 0 <= begin <= end <= data_len:
                    raise ValueError(f"{path}: tensor {name!r} offsets [{begin}, {end}] outside the "
                                     f"data section of {data_len} bytes")
                if end - begin != numel * _element_size(dtype):
                    raise ValueError(f"{path}: tensor {name!r} has {end - begin} bytes, shape {shape} "
                                     f"of {dtype_name} needs {numel * _element_size(dtype)}")
                if numel == 0:
                    tensors[name] = torch.empty(shape, dtype=dtype)
                    continue
                raw = bytearray(mm[data_start + begin:data_start + end])
                tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(shape)
    return (tensors, metadata) if with_metadata else tensors


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as a safetensors file: keys sorted, data laid out in key order, the
    JSON header padded with spaces to a multiple of 8 bytes (so the data start is 8-aligned)."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _SAFETENSORS_NAMES:
            raise ValueError(f"tensor {name!r}: dtype {t.dtype} cannot be stored in safetensors")
        # numpy has no bfloat16: write its bits through a same-size integer view
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _SAFETENSORS_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(len(header_bytes).to_bytes(8, "little"))
        f.write(header_bytes)
        for raw in blobs:
            f.write(raw)


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------

TINY_CONFIG = {
    "model_type": "wav2vec2",
    "conv_dim": [32, 32, 32, 32, 32, 32, 32],
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False,
    "feat_extract_norm": "group",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "num_conv_pos_embeddings": 32,
    "num_conv_pos_embedding_groups": 4,
    "do_stable_layer_norm": False,
    "feat_proj_layer_norm": True,
    "layer_norm_eps": 1e-5,
    "hidden_act": "gelu",
}

# facebook/wav2vec2-base: 94,370,944 parameters (without masked_spec_embed)
BASE_CONFIG = dict(TINY_CONFIG, **{
    "conv_dim": [512] * 7,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
})


class Config:
    """The subset of a Hugging Face Wav2Vec2Config / HubertConfig that the encoder uses."""

    def __init__(self, d):
        self.conv_dim = [int(c) for c in d["conv_dim"]]
        self.conv_kernel = [int(k) for k in d["conv_kernel"]]
        self.conv_stride = [int(s) for s in d["conv_stride"]]
        self.conv_bias = bool(d.get("conv_bias", False))
        self.feat_extract_norm = d.get("feat_extract_norm", "group")
        self.hidden_size = int(d["hidden_size"])
        self.num_hidden_layers = int(d["num_hidden_layers"])
        self.num_attention_heads = int(d["num_attention_heads"])
        self.intermediate_size = int(d["intermediate_size"])
        self.num_conv_pos_embeddings = int(d["num_conv_pos_embeddings"])
        self.num_conv_pos_embedding_groups = int(d["num_conv_pos_embedding_groups"])
        self.do_stable_layer_norm = bool(d.get("do_stable_layer_norm", False))
        self.feat_proj_layer_norm = bool(d.get("feat_proj_layer_norm", True))
        self.layer_norm_eps = float(d.get("layer_norm_eps", 1e-5))
        self.hidden_act = d.get("hidden_act", "gelu")
        self.feat_extract_activation = d.get("feat_extract_activation", "gelu")

        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride) > 0:
            raise ValueError("conv_dim, conv_kernel and conv_stride must be non-empty and of equal length")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', not {self.feat_extract_norm!r}")
        if self.hidden_act != "gelu" or self.feat_extract_activation != "gelu":
            raise ValueError("only hidden_act = feat_extract_activation = 'gelu' (exact erf GELU) is supported")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be divisible by num_attention_heads")
        if self.hidden_size % self.num_conv_pos_embedding_groups:
            raise ValueError("hidden_size must be divisible by num_conv_pos_embedding_groups")
        if d.get("conv_pos_batch_norm", False):
            raise ValueError("conv_pos_batch_norm (HuBERT variant) is not supported")

    def num_frames(self, num_samples):
        """Output frames of the conv feature extractor for num_samples of audio (no padding)."""
        n = num_samples
        for k, s in zip(self.conv_kernel, self.conv_stride):
            n = (n - k) // s + 1
        return n


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------


class ConvLayer(nn.Module):
    """feature_extractor.conv_layers.{i}: Conv1d (no padding) -> optional norm -> GELU."""

    def __init__(self, cfg, i):
        super().__init__()
        in_ch = 1 if i == 0 else cfg.conv_dim[i - 1]
        out_ch = cfg.conv_dim[i]
        self.conv = nn.Conv1d(in_ch, out_ch, cfg.conv_kernel[i], stride=cfg.conv_stride[i], bias=cfg.conv_bias)
        if cfg.feat_extract_norm == "layer":
            self.norm = "layer"  # LayerNorm over channels, every layer
            self.layer_norm = nn.LayerNorm(out_ch, eps=1e-5)
        elif i == 0:
            self.norm = "group"  # GroupNorm with one group per channel, first layer only
            self.layer_norm = nn.GroupNorm(out_ch, out_ch, eps=1e-5, affine=True)
        else:
            self.norm = None

    def forward(self, x):  # [B, C_in, T] -> [B, C_out, T']
        x = self.conv(x)
        if self.norm == "group":
            x = self.layer_norm(x)
        elif self.norm == "layer":
            x = self.layer_norm(x.transpose(1, 2)).transpose(1, 2)
        return F.gelu(x)


class FeatureExtractor(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.conv_layers = nn.ModuleList(ConvLayer(cfg, i) for i in range(len(cfg.conv_dim)))

    def forward(self, audio):  # [B, T] -> [B, frames, C]
        x = audio.unsqueeze(1)
        for layer in self.conv_layers:
            x = layer(x)
        return x.transpose(1, 2)


class FeatureProjection(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer_norm = nn.LayerNorm(cfg.conv_dim[-1], eps=cfg.layer_norm_eps) if cfg.feat_proj_layer_norm else None
        self.projection = nn.Linear(cfg.conv_dim[-1], cfg.hidden_size)

    def forward(self, x):  # [B, frames, C] -> [B, frames, hidden]
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return self.projection(x)


class WeightNormConv1d(nn.Module):
    """A grouped Conv1d whose weight is weight-normalised over dim 2 (torch weight_norm(dim=2)):
    weight = weight_v * weight_g / ||weight_v||, the norm taken over dims 0 and 1 for each of
    the K kernel taps. Parameters: weight_g [1, 1, K], weight_v [C, C/groups, K], bias [C]."""

    def __init__(self, channels, kernel, groups):
        super().__init__()
        self.padding = kernel // 2
        self.groups = groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.empty(channels, channels // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(channels))
        nn.init.normal_(self.weight_v)

    def effective_weight(self):
        norm = torch.linalg.vector_norm(self.weight_v, dim=(0, 1), keepdim=True)  # [1, 1, K]
        return self.weight_v * (self.weight_g / norm)

    def forward(self, x):  # [B, C, T]
        return F.conv1d(x, self.effective_weight(), self.bias, padding=self.padding, groups=self.groups)


class PositionalConvEmbedding(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.conv = WeightNormConv1d(cfg.hidden_size, cfg.num_conv_pos_embeddings, cfg.num_conv_pos_embedding_groups)
        # padding K//2 on both sides gives T+1 outputs for an even kernel: drop the last one
        self.drop_last = cfg.num_conv_pos_embeddings % 2 == 0

    def forward(self, x):  # [B, T, hidden] -> [B, T, hidden]
        y = self.conv(x.transpose(1, 2))
        if self.drop_last:
            y = y[:, :, :-1]
        return F.gelu(y).transpose(1, 2)


class Attention(nn.Module):
    """Standard multi-head self-attention without a mask; q is scaled by head_dim**-0.5 after
    its projection (bias included), as in Hugging Face."""

    def __init__(self, cfg):
        super().__init__()
        e = cfg.hidden_size
        self.num_heads = cfg.num_attention_heads
        self.head_dim = e // self.num_heads
        self.scaling = self.head_dim ** -0.5
        self.q_proj = nn.Linear(e, e)
        self.k_proj = nn.Linear(e, e)
        self.v_proj = nn.Linear(e, e)
        self.out_proj = nn.Linear(e, e)

    def forward(self, h):  # [B, T, E]
        b, t, e = h.shape

        def heads(x):  # [B, T, E] -> [B, H, T, D]
            return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

        q = heads(self.q_proj(h) * self.scaling)
        k = heads(self.k_proj(h))
        v = heads(self.v_proj(h))
        weights = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # [B, H, T, T]
        out = (weights @ v).transpose(1, 2).reshape(b, t, e)
        return self.out_proj(out)


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.intermediate_dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.output_dense = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, h):
        return self.output_dense(F.gelu(self.intermediate_dense(h)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.pre_norm = cfg.do_stable_layer_norm
        self.attention = Attention(cfg)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.feed_forward = FeedForward(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, h):
        if self.pre_norm:  # "large" / stable layer norm variant
            h = h + self.attention(self.layer_norm(h))
            h = h + self.feed_forward(self.final_layer_norm(h))
        else:  # "base" / post-norm variant
            h = self.layer_norm(h + self.attention(h))
            h = self.final_layer_norm(h + self.feed_forward(h))
        return h


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.pre_norm = cfg.do_stable_layer_norm
        self.pos_conv_embed = PositionalConvEmbedding(cfg)
        self.layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.num_hidden_layers))

    def forward(self, x):
        """Returns the num_layers + 1 hidden states Hugging Face reports with
        output_hidden_states=True."""
        h = x + self.pos_conv_embed(x)
        if self.pre_norm:
            # entry 0: before any norm; entries 1..L-1: layer outputs; last: after layer_norm
            hidden_states = []
            for layer in self.layers:
                hidden_states.append(h)
                h = layer(h)
            hidden_states.append(self.layer_norm(h))
        else:
            # entry 0: after the encoder layer_norm; entry k: output of layer k-1
            h = self.layer_norm(h)
            hidden_states = [h]
            for layer in self.layers:
                h = layer(h)
                hidden_states.append(h)
        return hidden_states


class Wav2Vec2Model(nn.Module):
    """Wav2Vec2Model / HubertModel encoder. forward(audio [B, T]) -> list of num_layers + 1
    tensors [B, frames, hidden]."""

    def __init__(self, config):
        super().__init__()
        self.config = config if isinstance(config, Config) else Config(config)
        self.feature_extractor = FeatureExtractor(self.config)
        self.feature_projection = FeatureProjection(self.config)
        self.encoder = Encoder(self.config)

    def extract_features(self, audio):  # [B, T] -> [B, frames, conv_dim[-1]]
        return self.feature_extractor(audio)

    def encode(self, features):  # [B, frames, conv_dim[-1]] -> list of [B, frames, hidden]
        return self.encoder(self.feature_projection(features))

    def forward(self, audio):
        return self.encode(self.extract_features(audio))


def init_weights_like_hf(model, initializer_range=0.02):
    """A random initialisation in the spirit of Hugging Face's _init_weights (the exact
    distributions do not matter to the checks or the benchmark, only that values are sane)."""
    cfg = model.config
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, WeightNormConv1d):
                # weight_v ~ N(0, 4 / (K * hidden)), weight_g = ||weight_v|| so weight == weight_v
                k = module.weight_v.shape[-1]
                nn.init.normal_(module.weight_v, 0.0, 2 * math.sqrt(1 / (k * cfg.hidden_size)))
                module.weight_g.copy_(torch.linalg.vector_norm(module.weight_v, dim=(0, 1), keepdim=True))
                module.bias.zero_()
            elif module is model.feature_projection.projection:
                bound = 1 / math.sqrt(module.in_features)
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.uniform_(module.bias, -bound, bound)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, initializer_range)
                nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv1d):
                nn.init.kaiming_normal_(module.weight)
                if module.bias is not None:
                    bound = math.sqrt(module.groups / (module.in_channels * module.kernel_size[0]))
                    nn.init.uniform_(module.bias, -bound, bound)


# ---------------------------------------------------------------------------------------------
# loading Hugging Face checkpoints
# ---------------------------------------------------------------------------------------------

_IGNORED_PREFIXES = ("quantizer.", "project_q.", "project_hid.", "lm_head.", "final_proj.",
                     "label_embeddings_concat")
_RENAMES = {  # newer torch parametrizations names of the weight-normed positional conv
    "encoder.pos_conv_embed.conv.parametrizations.weight.original0": "encoder.pos_conv_embed.conv.weight_g",
    "encoder.pos_conv_embed.conv.parametrizations.weight.original1": "encoder.pos_conv_embed.conv.weight_v",
}


def hf_key_to_reference(key):
    """Maps a Hugging Face checkpoint key to this module's state_dict key, or None for keys of
    heads and pre-training parts that the encoder does not use."""
    for prefix in ("wav2vec2.", "hubert."):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    if key == "masked_spec_embed" or key.startswith(_IGNORED_PREFIXES):
        return None
    return _RENAMES.get(key, key)


def load_hf_weights(model, tensors):
    """Copies a Hugging Face state dict (as read by load_safetensors) into the model, converting
    to the model's dtype. Raises on unknown, duplicate or missing keys and on wrong shapes."""
    own = model.state_dict()
    seen = {}
    for key, tensor in tensors.items():
        name = hf_key_to_reference(key)
        if name is None:
            continue
        if name not in own:
            raise KeyError(f"unexpected key in checkpoint: {key!r}")
        if name in seen:
            raise KeyError(f"checkpoint keys {seen[name]!r} and {key!r} both give {name!r}")
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise ValueError(f"key {key!r}: checkpoint shape {list(tensor.shape)}, "
                             f"model expects {list(own[name].shape)}")
        seen[name] = key
    missing = sorted(set(own) - set(seen))
    if missing:
        raise KeyError(f"missing key(s) in checkpoint: {', '.join(missing)}")
    with torch.no_grad():
        for name, key in seen.items():
            own[name].copy_(tensors[key].to(own[name].dtype))


def load_model(model_dir, dtype=torch.float32):
    """Builds the model from DIR/config.json and loads DIR/model.safetensors."""
    with open(os.path.join(model_dir, "config.json")) as f:
        model = Wav2Vec2Model(json.load(f))
    load_hf_weights(model, load_safetensors(os.path.join(model_dir, "model.safetensors")))
    return model.to(dtype).eval()


# ---------------------------------------------------------------------------------------------
# CLI: comparison with expected hidden states
# ---------------------------------------------------------------------------------------------


def compare(model_dir, input_path, expected_path, tol):
    audio = load_safetensors(input_path)["audio"]
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    expected = load_safetensors(expected_path)
    runs = {}
    with torch.no_grad():
        for dtype in (torch.float32, torch.float64):
            model = load_model(model_dir, dtype)
            runs[dtype] = [h.double() for h in model(audio.to(dtype))]
    n = len(runs[torch.float64])
    worst32 = worst64 = 0.0
    ok = True
    for i in range(n):
        key = f"hidden_states.{i}"
        ref32, ref64 = runs[torch.float32][i], runs[torch.float64][i]
        if key not in expected:
            print(f"{key}: missing from {expected_path}")
            ok = False
            continue
        exp = expected[key].double()
        if exp.shape != ref64.shape:
            print(f"{key}: expected shape {list(exp.shape)}, reference gives {list(ref64.shape)}")
            ok = False
            continue
        d32 = (ref32 - exp).abs().max().item()
        d64 = (ref64 - exp).abs().max().item()
        d3264 = (ref32 - ref64).abs().max().item()
        worst32, worst64 = max(worst32, d32), max(worst64, d64)
        ok &= d64 <= tol  # NaN compares False: fails
        print(f"{key} shape {list(exp.shape)}: max|f32-exp| {d32:.3e}  max|f64-exp| {d64:.3e}  "
              f"max|f32-f64| {d3264:.3e}  max|exp| {exp.abs().max().item():.3e}")
    extra = sorted(k for k in expected if k.startswith("hidden_states.") and k not in
                   {f"hidden_states.{i}" for i in range(n)})
    if extra:
        print(f"unexpected tensors in {expected_path}: {', '.join(extra)}")
        ok = False
    print(f"summary: {n} hidden states, max|f32-exp| {worst32:.3e}, max|f64-exp| {worst64:.3e}, "
          f"tol {tol:g}: {'PASS' if ok else 'FAIL'}")
    return ok


# ---------------------------------------------------------------------------------------------
# CLI: self-test
# ---------------------------------------------------------------------------------------------


def _randomize(model, seed):
    """Perturbs every parameter so that norms and biases are not their trivial 1/0 values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _expect_error(fn, needle):
    try:
        fn()
    except (KeyError, ValueError) as e:
        assert needle in str(e), f"error {e!r} does not mention {needle!r}"
        return
    raise AssertionError(f"no error raised (expected one mentioning {needle!r})")


def self_test():
    torch.manual_seed(0)
    cfg = Config(TINY_CONFIG)
    batch, samples = 2, 4000
    audio = torch.randn(batch, samples)
    frames = cfg.num_frames(samples)

    # 1. safetensors round trip of a random tiny model, through a directory like a HF one
    model = Wav2Vec2Model(TINY_CONFIG)
    init_weights_like_hf(model)
    _randomize(model, 1)
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(TINY_CONFIG, f)
        path = os.path.join(tmp, "model.safetensors")
        save_safetensors(path, model.state_dict(), metadata={"format": "pt"})
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
        assert header_len % 8 == 0, "header not padded to a multiple of 8"
        raw, metadata = load_safetensors(path, with_metadata=True)
        assert metadata == {"format": "pt"}, metadata
        assert list(raw) == sorted(model.state_dict()), "keys differ after the round trip"
        for k, v in model.state_dict().items():
            assert raw[k].dtype == v.dtype and torch.equal(raw[k], v), f"{k} differs after the round trip"
        reloaded = load_model(tmp)
        for k, v in model.state_dict().items():
            assert torch.equal(reloaded.state_dict()[k], v), f"{k} differs after load_model"

    with torch.no_grad():
        out = model(audio)
        out_reloaded = reloaded(audio)
        out64 = reloaded.double()(audio.double())
    assert len(out) == cfg.num_hidden_layers + 1
    for i, (a, b, c) in enumerate(zip(out, out_reloaded, out64)):
        assert list(a.shape) == [batch, frames, cfg.hidden_size], f"hidden_states.{i} shape {list(a.shape)}"
        assert torch.equal(a, b), f"hidden_states.{i} differs after reloading"
        assert (a.double() - c).abs().max().item() < 1e-4, f"hidden_states.{i}: float32 and float64 disagree"
    print(f"round trip: {len(raw)} tensors, {sum(v.numel() for v in raw.values())} parameters; "
          f"hidden states {len(out)} x {list(out[0].shape)} (frames = {frames} for {samples} samples)")

    # 2. HF naming: "wav2vec2." prefix, parametrizations names, ignored keys; then strictness
    sd = {("wav2vec2." + k): v for k, v in model.state_dict().items()}
    sd["wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0"] = sd.pop(
        "wav2vec2.encoder.pos_conv_embed.conv.weight_g")
    sd["wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1"] = sd.pop(
        "wav2vec2.encoder.pos_conv_embed.conv.weight_v")
    sd["wav2vec2.masked_spec_embed"] = torch.zeros(cfg.hidden_size)
    sd["quantizer.codevectors"] = torch.zeros(1, 4, 8)
    sd["project_q.weight"] = torch.zeros(4, 4)
    sd["lm_head.weight"] = torch.zeros(4, 4)
    other = Wav2Vec2Model(TINY_CONFIG)
    load_hf_weights(other, sd)
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), f"{k} differs after loading HF-style names"
    _expect_error(lambda: load_hf_weights(other, dict(sd, **{"wav2vec2.encoder.extra": torch.zeros(1)})),
                  "wav2vec2.encoder.extra")
    _expect_error(lambda: load_hf_weights(other, {k: v for k, v in sd.items()
                                                  if k != "wav2vec2.encoder.layer_norm.bias"}),
                  "encoder.layer_norm.bias")
    _expect_error(lambda: load_hf_weights(other, dict(sd, **{"wav2vec2.encoder.layer_norm.bias": torch.zeros(3)})),
                  "wav2vec2.encoder.layer_norm.bias")
    _expect_error(lambda: load_hf_weights(other, dict(sd, **{"encoder.layer_norm.bias": torch.zeros(cfg.hidden_size)})),
                  "both give")
    print("HF key names: prefix, parametrizations and ignored keys accepted; unknown, missing, "
          "wrong-shape and duplicate keys rejected")

    # 3. building blocks against torch's own implementations
    with torch.no_grad():
        x = torch.randn(batch, frames, cfg.hidden_size)
        att = model.encoder.layers[0].attention
        ours = att(x)
        theirs, _ = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), cfg.hidden_size, cfg.num_attention_heads,
            torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]),
            torch.cat([att.q_proj.bias, att.k_proj.bias, att.v_proj.bias]),
            None, None, False, 0.0, att.out_proj.weight, att.out_proj.bias, training=False, need_weights=False)
        assert (ours - theirs.transpose(0, 1)).abs().max().item() < 1e-5, "attention differs from torch MHA"

        pos = model.encoder.pos_conv_embed.conv
        conv = nn.Conv1d(cfg.hidden_size, cfg.hidden_size, cfg.num_conv_pos_embeddings,
                         padding=cfg.num_conv_pos_embeddings // 2, groups=cfg.num_conv_pos_embedding_groups)
        conv = nn.utils.weight_norm(conv, dim=2)
        conv.weight_g.copy_(pos.weight_g)
        conv.weight_v.copy_(pos.weight_v)
        conv.bias.copy_(pos.bias)
        assert conv.weight_g.shape == pos.weight_g.shape, "weight_g shape differs from torch weight_norm(dim=2)"
        xt = x.transpose(1, 2)
        assert (pos(xt) - conv(xt)).abs().max().item() < 1e-5, "weight-normed conv differs from torch weight_norm"
    print("attention matches F.multi_head_attention_forward; positional conv matches nn.utils.weight_norm(dim=2)")

    # 4. the other architecture variants run and give the right shapes
    for norm in ("group", "layer"):
        for stable in (False, True):
            for kernel in (32, 31):
                variant = dict(TINY_CONFIG, feat_extract_norm=norm, do_stable_layer_norm=stable,
                               conv_bias=norm == "layer", num_conv_pos_embeddings=kernel)
                m = Wav2Vec2Model(variant).eval()
                init_weights_like_hf(m)
                with torch.no_grad():
                    hs = m(audio)
                assert len(hs) == cfg.num_hidden_layers + 1
                for h in hs:
                    assert list(h.shape) == [batch, frames, cfg.hidden_size]
                    assert torch.isfinite(h).all()
                if stable:  # last entry is after the final LayerNorm: zero mean over features
                    assert hs[-1].mean(-1).abs().max().item() < 1e-4
    print("variants (group/layer norm x post/pre-norm x even/odd pos kernel) give the right shapes")

    # 5. reduced-precision dtypes through the writer and the reader
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.safetensors")
        ts = {"f16": torch.randn(3, 5).half(), "bf16": torch.randn(7).bfloat16(), "f64": torch.randn(2, 2).double(),
              "i64": torch.arange(6).view(2, 3), "i32": torch.arange(4, dtype=torch.int32),
              "empty": torch.empty(0, 4), "scalar": torch.tensor(2.5)}
        save_safetensors(path, ts)
        back = load_safetensors(path)
        for k, v in ts.items():
            assert back[k].dtype == v.dtype and back[k].shape == v.shape and torch.equal(back[k], v), k
    print("safetensors F16/BF16/F64/I64/I32/empty/scalar round trip exact")
    print("self-test: PASS")
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="directory with config.json and model.safetensors")
    p.add_argument("--input", help="safetensors file with 'audio' [B, T] float32")
    p.add_argument("--expected", help="safetensors file with hidden_states.0 .. hidden_states.L")
    p.add_argument("--tol", type=float, default=1e-5, help="absolute tolerance on the float64 reference")
    p.add_argument("--self-test", action="store_true", help="run the built-in checks and exit")
    a = p.parse_args()
    if a.self_test:
        sys.exit(0 if self_test() else 1)
    if not (a.model and a.input and a.expected):
        p.error("--model, --input and --expected are required (or --self-test)")
    sys.exit(0 if compare(a.model, a.input, a.expected, a.tol) else 1)


if __name__ == "__main__":
    main()
