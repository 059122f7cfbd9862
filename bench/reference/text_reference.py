"""Plain-Python references of braintune's text models, used to check the C++ LibTorch code:

  * GPT-2's byte-level BPE tokenizer, as OpenAI's encoder.py (the `regex` pattern, the
    byte-to-unicode table, merges lowest rank first);
  * BERT's WordPiece tokenizer, as transformers' BasicTokenizer + WordpieceTokenizer (clean,
    CJK spacing, NFC, lower-case, strip accents, punctuation split, greedy longest match);
  * GPT-2 (pre-norm, causal, learned positions, Conv1D weights stored [in, out]) and BERT
    (post-norm) encoders in plain PyTorch, module names matching Hugging Face's keys without the
    "transformer." / "bert." prefix.

Usage:

    # train tiny tokenizers from a text (byte-level BPE merges; WordPiece from frequent words)
    python3 text_reference.py make-tokenizers --text TEXT --out DIR [--merges 200]
        writes DIR/gpt2/{vocab.json,merges.txt} and DIR/bert/vocab.txt

    # a tiny randomly initialised text model (64 wide, 2 layers) beside the tokenizer in TOK,
    # as a Hugging Face directory for evaluation.models[].pretrained
    python3 text_reference.py make-model --kind gpt2|bert --tokenizer TOK --out DIR [--seed 0]

    # compare braintune's token ids with this reference
    python3 text_reference.py tokenize --kind gpt2|bert --model DIR --texts T.json --expected E.json
        T.json: a list of strings; E.json: a list of lists of ids; exit 1 on the first difference

    # compare braintune's word-level features (eval/word_features.h) with this reference: every
    # word's context run on its own, the state read at the word's last token
    python3 text_reference.py word-features --model DIR --tokenizer TOK --words W.json \
        --context-words N --mode huth|sliding --expected EXP.safetensors [--tol 1e-5]
        EXP: "layer.K" [n_words, hidden] for each layer K compared

    # compare braintune's hidden states with this reference
    python3 text_reference.py forward --model DIR --input IN.safetensors --expected EXP.safetensors [--tol 1e-5]
        DIR: config.json (model_type gpt2 or bert) + model.safetensors
        IN: "input_ids" [B, T] int64 (and "attention_mask" [B, T] int64, 1 = a real token)
        EXP: "hidden_states.0" .. "hidden_states.L" [B, T, hidden] float32
"""
import argparse
import collections
import json
import math
import os
import sys
import unicodedata

import regex
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wav2vec2_reference import load_safetensors, save_safetensors  # noqa: E402

# ---------------------------------------------------------------------------------------------
# GPT-2 byte-level BPE
# ---------------------------------------------------------------------------------------------

GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def merge_pair(word, first, second):
    """`word` (a tuple or list of symbols) with every adjacent (first, second) merged, left to right."""
    merged, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == first and word[i + 1] == second:
            merged.append(first + second)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return merged


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class Gpt2Tokenizer:
    def __init__(self, directory):
        with open(os.path.join(directory, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(os.path.join(directory, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        merges = [tuple(line.split(" ")) for line in lines if line]
        self.ranks = dict(zip(merges, range(len(merges))))
        self.byte_encoder = bytes_to_unicode()

    def bpe(self, token):
        word = list(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            word = merge_pair(word, *best)
        return word

    def encode(self, text):
        ids = []
        for piece in regex.findall(GPT2_PATTERN, text):
            token = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token))
        return ids


def train_bpe(text, n_merges):
    """Byte-level BPE merges learned from `text` (the most frequent pair first)."""
    byte_encoder = bytes_to_unicode()
    words = collections.Counter(
        tuple(byte_encoder[b] for b in piece.encode("utf-8")) for piece in regex.findall(GPT2_PATTERN, text))
    vocab = {byte_encoder[b]: i for i, b in enumerate(sorted(byte_encoder))}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        (first, second), count = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if count < 2:
            break
        merges.append((first, second))
        vocab.setdefault(first + second, len(vocab))
        new_words = collections.Counter()
        for word, c in words.items():
            new_words[tuple(merge_pair(word, first, second))] += c
        words = new_words
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges

# ---------------------------------------------------------------------------------------------
# BERT WordPiece
# ---------------------------------------------------------------------------------------------


def _is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def bert_basic_tokens(text, lower_case=True, strip_accents=None):
    out = []
    for c in text:
        if ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c):
            continue
        if _is_whitespace(c):
            out.append(" ")
        elif _is_cjk(ord(c)):
            out.append(" " + c + " ")
        else:
            out.append(c)
    text = unicodedata.normalize("NFC", "".join(out))
    tokens = []
    for word in text.strip().split():
        if lower_case:
            word = word.lower()
        if (lower_case and strip_accents is not False) or strip_accents:
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        current = ""
        for c in word:
            if _is_punctuation(c):
                if current:
                    tokens.append(current)
                tokens.append(c)
                current = ""
            else:
                current += c
        if current:
            tokens.append(current)
    return tokens


class BertTokenizer:
    def __init__(self, directory):
        with open(os.path.join(directory, "vocab.txt"), encoding="utf-8") as f:
            self.vocab = {}
            for i, line in enumerate(f.read().split("\n")):
                self.vocab[line.rstrip("\r")] = i
        self.lower_case, self.strip_accents = True, None
        config = os.path.join(directory, "tokenizer_config.json")
        if os.path.exists(config):
            with open(config, encoding="utf-8") as f:
                c = json.load(f)
            self.lower_case = c.get("do_lower_case", True)
            self.strip_accents = c.get("strip_accents")

    def wordpiece(self, word):
        if len(word) > 100:
            return [self.vocab["[UNK]"]]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = ("##" if start > 0 else "") + word[start:end]
                if sub in self.vocab:
                    found = self.vocab[sub]
                    break
                end -= 1
            if found is None:
                return [self.vocab["[UNK]"]]
            ids.append(found)
            start = end
        return ids

    def encode(self, text):
        ids = []
        for token in bert_basic_tokens(text, self.lower_case, self.strip_accents):
            ids.extend(self.wordpiece(token))
        return ids


def train_wordpiece(text, size):
    words = collections.Counter(bert_basic_tokens(text))
    chars = sorted({c for w in words for c in w})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]
    for word, _ in words.most_common(size):
        if word not in vocab:
            vocab.append(word)
    # A few word-final pieces, so that "##" continuations longer than one character occur.
    suffixes = collections.Counter(w[i:] for w in words for i in range(1, len(w) - 1))
    for suffix, _ in suffixes.most_common(size // 2):
        if "##" + suffix not in vocab:
            vocab.append("##" + suffix)
    return vocab

# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Conv1D(nn.Module):
    """GPT-2's linear layer: weight [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


def attention(q, k, v, heads, key_mask, causal):
    b, t, h = q.shape
    d = h // heads
    split = lambda y: y.view(b, t, heads, d).transpose(1, 2)
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d)
    allowed = key_mask[:, None, None, :].bool()
    if causal:
        allowed = allowed & torch.ones(t, t, dtype=torch.bool).tril()[None, None]
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(b, t, h)


class Gpt2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["n_embd"]
        inner = c.get("n_inner") or 4 * h
        eps = c.get("layer_norm_epsilon", 1e-5)
        self.heads = c["n_head"]
        self.ln_1 = nn.LayerNorm(h, eps=eps)
        self.attn = nn.Module()
        self.attn.c_attn = Conv1D(h, 3 * h)
        self.attn.c_proj = Conv1D(h, h)
        self.ln_2 = nn.LayerNorm(h, eps=eps)
        self.mlp = nn.Module()
        self.mlp.c_fc = Conv1D(h, inner)
        self.mlp.c_proj = Conv1D(inner, h)

    def forward(self, x, mask):
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(x.shape[-1], dim=-1)
        x = x + self.attn.c_proj(attention(q, k, v, self.heads, mask, causal=True))
        return x + self.mlp.c_proj(gelu_new(self.mlp.c_fc(self.ln_2(x))))


class Gpt2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["n_embd"]
        self.wte = nn.Embedding(c["vocab_size"], h)
        self.wpe = nn.Embedding(c.get("n_positions", 1024), h)
        self.h = nn.ModuleList(Gpt2Block(c) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(h, eps=c.get("layer_norm_epsilon", 1e-5))

    def forward(self, ids, mask):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))[None]
        states = [x]
        for block in self.h:
            x = block(x, mask)
            states.append(x)
        states[-1] = self.ln_f(x)
        return states


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, eps = c["hidden_size"], c.get("layer_norm_eps", 1e-12)
        self.heads = c["num_attention_heads"]
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query = nn.Linear(h, h)
        self.attention.self.key = nn.Linear(h, h)
        self.attention.self.value = nn.Linear(h, h)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(h, h)
        self.attention.output.LayerNorm = nn.LayerNorm(h, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(h, c["intermediate_size"])
        self.output = nn.Module()
        self.output.dense = nn.Linear(c["intermediate_size"], h)
        self.output.LayerNorm = nn.LayerNorm(h, eps=eps)

    def forward(self, x, mask):
        s = self.attention.self
        a = attention(s.query(x), s.key(x), s.value(x), self.heads, mask, causal=False)
        x = self.attention.output.LayerNorm(x + self.attention.output.dense(a))
        y = self.output.dense(F.gelu(self.intermediate.dense(x)))
        return self.output.LayerNorm(x + y)


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, eps = c["hidden_size"], c.get("layer_norm_eps", 1e-12)
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(c["vocab_size"], h)
        self.embeddings.position_embeddings = nn.Embedding(c.get("max_position_embeddings", 512), h)
        self.embeddings.token_type_embeddings = nn.Embedding(c.get("type_vocab_size", 2), h)
        self.embeddings.LayerNorm = nn.LayerNorm(h, eps=eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(BertLayer(c) for _ in range(c["num_hidden_layers"]))
        self.pooler = nn.Module()
        self.pooler.dense = nn.Linear(h, h)

    def forward(self, ids, mask):
        e = self.embeddings
        x = e.word_embeddings(ids) + e.position_embeddings(torch.arange(ids.shape[1]))[None] + \
            e.token_type_embeddings(torch.zeros_like(ids))
        x = e.LayerNorm(x)
        states = [x]
        for layer in self.encoder.layer:
            x = layer(x, mask)
            states.append(x)
        return states


def load_model(directory, dtype):
    with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    model = {"gpt2": Gpt2Model, "bert": BertModel}[config["model_type"]](config)
    tensors = load_safetensors(os.path.join(directory, "model.safetensors"))
    prefix = "transformer." if config["model_type"] == "gpt2" else "bert."
    tensors = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{directory}: missing {missing}, unexpected {unexpected}")
    return model.to(dtype).eval()


def forward(args):
    inputs = load_safetensors(args.input)
    expected = load_safetensors(args.expected)
    ids = inputs["input_ids"].long()
    mask = inputs.get("attention_mask", torch.ones_like(ids)).long()
    with torch.no_grad():
        states = load_model(args.model, torch.float64)(ids, mask)
    if len(states) != len([k for k in expected if k.startswith("hidden_states.")]):
        print(f"{len(states)} hidden states in the reference, {len(expected)} given")
        return 1
    worst = 0.0
    valid = mask.bool()
    for i, s in enumerate(states):
        got = expected[f"hidden_states.{i}"].double()
        if got.shape != s.shape:
            print(f"hidden_states.{i}: shape {tuple(got.shape)}, reference {tuple(s.shape)}")
            return 1
        diff = (got - s).abs()[valid].max().item()  # padded positions are not compared
        worst = max(worst, diff)
        if diff > args.tol:
            print(f"hidden_states.{i}: max |diff| {diff:.3g} > {args.tol}")
            return 1
    print(f"ok: {len(states)} hidden states, max |diff| {worst:.3g}")
    return 0


def context_starts(n, context_words, mode):
    starts, start = [], 0
    for i in range(n):
        if mode == "sliding":
            starts.append(max(0, i + 1 - context_words))
            continue
        if i + 1 - start > context_words:
            start = i + 1 - max(1, context_words // 2)
        starts.append(start)
    return starts


def word_features(args):
    with open(os.path.join(args.model, "config.json"), encoding="utf-8") as f:
        kind = json.load(f)["model_type"]
    model = load_model(args.model, torch.float64)
    tok = Gpt2Tokenizer(args.tokenizer) if kind == "gpt2" else BertTokenizer(args.tokenizer)
    with open(args.words, encoding="utf-8") as f:
        words = json.load(f)
    per_word = [tok.encode(" " + w if kind == "gpt2" and i > 0 else w) for i, w in enumerate(words)]
    n_pos = model.wpe.num_embeddings if kind == "gpt2" else model.embeddings.position_embeddings.num_embeddings
    max_tokens = n_pos - (2 if kind == "bert" else 0)
    expected = load_safetensors(args.expected)
    got = {int(k.split(".")[1]): v.double() for k, v in expected.items()}
    want = {k: torch.zeros_like(v) for k, v in got.items()}
    for i, start in enumerate(context_starts(len(words), args.context_words, args.mode)):
        context = [t for ids in per_word[start:i + 1] for t in ids][-max_tokens:]
        if not context:
            continue  # zeros
        ids = ([tok.vocab["[CLS]"]] + context + [tok.vocab["[SEP]"]]) if kind == "bert" else context
        with torch.no_grad():
            states = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
        pos = len(context) - 1 + (1 if kind == "bert" else 0)
        for layer in want:
            want[layer][i] = states[layer][0, pos]
    worst = 0.0
    for layer in got:
        diff = (got[layer] - want[layer]).abs().max().item()
        worst = max(worst, diff)
        if diff > args.tol:
            bad = (got[layer] - want[layer]).abs().max(dim=1).values.argmax().item()
            print(f"layer {layer}: max |diff| {diff:.3g} > {args.tol} (word {bad})")
            return 1
    print(f"ok: {len(words)} words, {len(got)} layers, max |diff| {worst:.3g}")
    return 0


def tokenize(args):
    tok = Gpt2Tokenizer(args.model) if args.kind == "gpt2" else BertTokenizer(args.model)
    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)
    with open(args.expected, encoding="utf-8") as f:
        expected = json.load(f)
    for i, (text, got) in enumerate(zip(texts, expected)):
        want = tok.encode(text)
        if want != got:
            print(f"text {i} {text!r}: reference {want}, braintune {got}")
            return 1
    print(f"ok: {len(texts)} texts, {sum(map(len, expected))} tokens agree")
    return 0


def make_tokenizers(args):
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    vocab, merges = train_bpe(text, args.merges)
    os.makedirs(os.path.join(args.out, "gpt2"), exist_ok=True)
    with open(os.path.join(args.out, "gpt2", "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=True)
    with open(os.path.join(args.out, "gpt2", "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    os.makedirs(os.path.join(args.out, "bert"), exist_ok=True)
    with open(os.path.join(args.out, "bert", "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in train_wordpiece(text, args.merges)))
    print(f"gpt2: {len(vocab)} tokens, {len(merges)} merges")
    return 0


def save_hf_model(model, config, out):
    """Hugging Face's initialisation (layer norms 1 and 0, biases 0, other weights N(0, 0.02)),
    then model.safetensors and config.json in the directory `out`."""
    for name, p in model.named_parameters():
        if "LayerNorm" in name or ".ln_" in name or name.startswith("ln_"):
            nn.init.ones_(p) if name.endswith("weight") else nn.init.zeros_(p)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
        else:
            nn.init.normal_(p, 0.0, 0.02)
    os.makedirs(out, exist_ok=True)
    save_safetensors(os.path.join(out, "model.safetensors"), dict(model.state_dict()), {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)


def make_model(args):
    import shutil
    torch.manual_seed(args.seed)
    files = ["vocab.json", "merges.txt"] if args.kind == "gpt2" else ["vocab.txt"]
    if args.kind == "gpt2":
        with open(os.path.join(args.tokenizer, "vocab.json"), encoding="utf-8") as f:
            vocab = len(json.load(f))
        config = {"architectures": ["GPT2Model"], "model_type": "gpt2", "vocab_size": vocab, "n_positions": 512,
                  "n_embd": 64, "n_layer": 2, "n_head": 2, "n_inner": 256, "activation_function": "gelu_new",
                  "layer_norm_epsilon": 1e-5}
        model = Gpt2Model(config)
    else:
        with open(os.path.join(args.tokenizer, "vocab.txt"), encoding="utf-8") as f:
            vocab = len(f.read().rstrip("\n").split("\n"))
        config = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": vocab,
                  "max_position_embeddings": 512, "hidden_size": 64, "num_hidden_layers": 2,
                  "num_attention_heads": 2, "intermediate_size": 256, "type_vocab_size": 2, "hidden_act": "gelu",
                  "layer_norm_eps": 1e-12}
        model = BertModel(config)
    save_hf_model(model, config, args.out)
    for name in files:
        shutil.copy(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    print(f"{args.out}: {args.kind}, {sum(p.numel() for p in model.parameters())} parameters, vocabulary {vocab}")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-tokenizers")
    m.add_argument("--text", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--merges", type=int, default=200)
    mm = sub.add_parser("make-model")
    mm.add_argument("--kind", choices=["gpt2", "bert"], required=True)
    mm.add_argument("--tokenizer", required=True)
    mm.add_argument("--out", required=True)
    mm.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("tokenize")
    t.add_argument("--kind", choices=["gpt2", "bert"], required=True)
    t.add_argument("--model", required=True)
    t.add_argument("--texts", required=True)
    t.add_argument("--expected", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--model", required=True)
    f.add_argument("--input", required=True)
    f.add_argument("--expected", required=True)
    f.add_argument("--tol", type=float, default=1e-5)
    w = sub.add_parser("word-features")
    w.add_argument("--model", required=True)
    w.add_argument("--tokenizer", required=True)
    w.add_argument("--words", required=True)
    w.add_argument("--context-words", type=int, default=256)
    w.add_argument("--mode", choices=["huth", "sliding"], default="huth")
    w.add_argument("--expected", required=True)
    w.add_argument("--tol", type=float, default=1e-5)
    args = p.parse_args()
    return {"make-tokenizers": make_tokenizers, "make-model": make_model, "tokenize": tokenize, "forward": forward,
            "word-features": word_features}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
