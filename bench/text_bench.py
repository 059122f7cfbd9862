"""The PyTorch (Python) half of the text-model benchmark (bench/text_bench.sh runs it beside
build/bench/text_bench, the same work in braintune's C++ on the same LibTorch 1.13).

    # a randomly initialised GPT-2 (HF's initialisation), as a HF directory both sides load
    python3 bench/text_bench.py make-model --size tiny|small --out DIR [--seed 0]
    # the inputs of the training step: ids, mask, word positions, targets, head weights
    python3 bench/text_bench.py make-inputs --model DIR --out FILE.safetensors [--batch 8]
        [--tokens 64] [--targets 256] [--seed 0]
    # (a) word-level features, timed
    python3 bench/text_bench.py words --model DIR --tokenizer DIR --words WORDS.txt
        [--context-words 32] [--mode huth|sliding] [--batch-size 32] [--repeats 3] [--threads T]
        [--expected STATES.safetensors]
    # (b) a brain-tuning step with LoRA, timed
    python3 bench/text_bench.py step --model DIR --inputs FILE.safetensors [--steps 10]
        [--warmup 2] [--threads T] [--lora-dropout 0.1]

Models are bench/reference/text_reference.py's GPT-2, in float32, with HF's Conv1D product
(torch.addmm(bias, x, W), W [in, out]) as transformers computes it.

"words" is eval/word_features.h's WordStates step for step: tokenize every word (" word" after
the first), the context starts of huth / sliding mode, one pass per start for a causal model in
huth mode (each word read off the pass at its last token), passes cut from the left to the
model's positions, batched --batch-size to a forward call, padded on the right, the states of
every layer copied out per word. Tokenizing is inside the timed region, as it is in WordStates.
With --expected (braintune's states, "layer.K" [n_words, hidden]) it prints the largest
difference.

"step" is what braintune-train does per step on a text model with LoRA (c_attn, c_proj; rank 8,
alpha 32): the GPT-2's last state at each word's last token, averaged over the sample's words
-> Linear(hidden, targets) -> Pearson loss (src/train/recipe.cc: rows x (1 - mean over targets
of r over the rows)) -> backward -> clip_grad_norm_(1.0) -> AdamW (5e-5 adapters, 1e-4 head,
weight decay 0.01). LoRA's A matrices are set to a fixed formula (lora_a_init) on both sides so
the two compute the same numbers; B starts at zero.

Each timed command prints one JSON line.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
from text_reference import Conv1D, Gpt2Model, Gpt2Tokenizer, context_starts, load_model, save_hf_model  # noqa: E402
from wav2vec2_reference import load_safetensors, save_safetensors  # noqa: E402


def conv1d_forward(self, x):
    """HF transformers' Conv1D: one addmm (bias added in the product)."""
    return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], self.weight.shape[1])


Conv1D.forward = conv1d_forward

SIZES = {  # NamedTextConfig("gpt2", size) in src/model/text_config.cc
    "tiny": {"n_embd": 64, "n_layer": 2, "n_head": 2, "n_inner": 256, "n_positions": 512},
    "small": {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": 3072, "n_positions": 1024},
}


def lora_a_init(rank, n_in, layer_index):
    """LoRA's A [rank, in] for block `layer_index`'s adapter: a fixed formula, the same in C++."""
    x = torch.arange(rank * n_in, dtype=torch.float32) * 0.37 + (layer_index + 1)
    return (torch.sin(x) / math.sqrt(n_in)).view(rank, n_in)


class LoraConv1D(nn.Module):
    """x W + b + (alpha / r) B A dropout(x), W frozen [in, out] as GPT-2 stores it."""

    def __init__(self, base, rank, alpha, dropout, a):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(a.clone())
        self.lora_B = nn.Parameter(torch.zeros(base.weight.shape[1], rank))
        self.scale = alpha / rank
        self.dropout = dropout

    def forward(self, x):
        d = F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x
        return self.base(x) + F.linear(F.linear(d, self.lora_A), self.lora_B) * self.scale


def make_model(a):
    config = {"architectures": ["GPT2Model"], "model_type": "gpt2", "vocab_size": 50257,
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "resid_pdrop": 0.0,
              "embd_pdrop": 0.0, "attn_pdrop": 0.0, **SIZES[a.size]}
    torch.manual_seed(a.seed)
    model = Gpt2Model(config)
    save_hf_model(model, config, a.out)
    print(f"{a.out}: gpt2 {a.size}, {sum(p.numel() for p in model.parameters())} parameters")
    return 0


def make_inputs(a):
    with open(os.path.join(a.model, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    g = torch.Generator().manual_seed(a.seed)
    b, t = a.batch, a.tokens
    lengths = [t - (3 * i) % (t // 4) for i in range(b)]  # 48..64 tokens of 64, padding on the right
    ids = torch.zeros(b, t, dtype=torch.long)
    mask = torch.zeros(b, t, dtype=torch.long)
    ends = []
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(0, config["vocab_size"], (n,), generator=g)
        mask[i, :n] = 1
        # words of 1 or 2 tokens (as GPT-2's BPE cuts English: ~1.3 tokens a word)
        e, pos = [], -1
        while True:
            pos += 1 + int(torch.rand(1, generator=g).item() < 0.3)
            if pos >= n:
                break
            e.append(pos)
        ends.append(e)
    w = max(len(e) for e in ends)
    words = torch.zeros(b, w, dtype=torch.long)
    word_mask = torch.zeros(b, w, dtype=torch.long)
    for i, e in enumerate(ends):
        words[i, :len(e)] = torch.tensor(e)
        word_mask[i, :len(e)] = 1
    h = config["n_embd"]
    head = nn.Linear(h, a.targets)  # PyTorch's default initialisation, from the seed
    torch.manual_seed(a.seed)
    head.reset_parameters()
    save_safetensors(a.out, {"input_ids": ids, "attention_mask": mask, "words": words, "word_mask": word_mask,
                             "targets": torch.randn(b, a.targets, generator=g),
                             "head.weight": head.weight.detach().clone(), "head.bias": head.bias.detach().clone()})
    print(f"{a.out}: {b} samples of {min(lengths)}..{max(lengths)} tokens, {w} words at most, {a.targets} targets")
    return 0


def word_states(model, tok, words, layers, context_words, mode, batch_size, n_positions):
    """eval/word_features.cc's WordStates, in Python."""
    per_word = [tok.encode(" " + w if i > 0 else w) for i, w in enumerate(words)]
    flat, ends = [], []
    for ids in per_word:
        flat.extend(ids)
        ends.append(len(flat))
    n = len(words)
    begin_of = lambda w: 0 if w == 0 else ends[w - 1]
    starts = context_starts(n, context_words, mode)
    max_tokens = n_positions

    def make_pass(first, last, which):
        lo = max(begin_of(first), ends[last] - max_tokens)
        outputs = [(w, ends[w] - 1 - lo if ends[w] - 1 >= lo else -1) for w in which]
        return flat[lo:ends[last]], outputs

    passes = []
    if mode == "huth":  # GPT-2 is causal: one pass per start
        i = 0
        while i < n:
            j = i
            while j + 1 < n and starts[j + 1] == starts[i]:
                j += 1
            if ends[j] - begin_of(starts[i]) <= max_tokens:
                passes.append(make_pass(starts[i], j, list(range(i, j + 1))))
            else:
                passes.extend(make_pass(starts[w], w, [w]) for w in range(i, j + 1))
            i = j + 1
    else:
        passes = [make_pass(starts[w], w, [w]) for w in range(n)]

    hidden = model.ln_f.normalized_shape[0]
    out = [torch.zeros(n, hidden) for _ in layers]
    with torch.no_grad():
        for b in range(0, len(passes), batch_size):
            chunk = passes[b:b + batch_size]
            longest = max(1, max(len(p[0]) for p in chunk))
            ids = torch.zeros(len(chunk), longest, dtype=torch.long)
            mask = torch.zeros(len(chunk), longest, dtype=torch.long)
            for k, (p, _) in enumerate(chunk):
                if p:
                    ids[k, :len(p)] = torch.tensor(p)
                    mask[k, :len(p)] = 1
                else:
                    mask[k, 0] = 1
            states = model(ids, mask)
            for li, layer in enumerate(layers):
                h = states[layer]
                for k, (_, outputs) in enumerate(chunk):
                    for w, pos in outputs:
                        if pos >= 0:
                            out[li][w].copy_(h[k, pos])
    return out, len(passes)


def words_bench(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    model = load_model(a.model, torch.float32)
    tok = Gpt2Tokenizer(a.tokenizer)
    with open(a.words, encoding="utf-8") as f:
        words = f.read().split()
    layers = list(range(len(model.h) + 1))
    times, out, passes = [], None, 0
    for r in range(a.repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        out, passes = word_states(model, tok, words, layers, a.context_words, a.mode, a.batch_size,
                                  model.wpe.num_embeddings)
        if r > 0:
            times.append(time.perf_counter() - start)
    result = {"impl": "pytorch", "bench": "words", "params": sum(p.numel() for p in model.parameters()),
              "layers": len(model.h), "words": len(words), "passes": passes, "context_words": a.context_words,
              "mode": a.mode, "batch_size": a.batch_size, "threads": torch.get_num_threads(),
              "repeats": a.repeats, "seconds_median": statistics.median(times),
              "words_per_sec": len(words) / statistics.median(times),
              "checksum": sum(o.double().abs().sum().item() for o in out)}
    if a.expected:
        expected = load_safetensors(a.expected)
        result["max_abs_diff"] = max((expected[f"layer.{l}"] - out[i]).abs().max().item() for i, l in enumerate(layers))
    print(json.dumps(result))
    return 0


def pearson_loss(pred, actual):
    """src/train/recipe.cc's "pearson": rows x (1 - mean over targets of r over the rows)."""
    p = pred - pred.mean(0, keepdim=True)
    t = actual - actual.mean(0, keepdim=True)
    r = (p * t).sum(0) / (p.pow(2).sum(0).sqrt() * t.pow(2).sum(0).sqrt() + 1e-8)
    return (1 - r).mean() * pred.shape[0]


def step_bench(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    model = load_model(a.model, torch.float32)
    inputs = load_safetensors(a.inputs)
    for p in model.parameters():
        p.requires_grad_(False)
    rank, alpha = 8, 32.0
    for i, block in enumerate(model.h):  # GPT-2's default LoRA targets: c_attn, c_proj (attention)
        h = block.attn.c_attn.weight.shape[0]
        block.attn.c_attn = LoraConv1D(block.attn.c_attn, rank, alpha, a.lora_dropout, lora_a_init(rank, h, 2 * i))
        block.attn.c_proj = LoraConv1D(block.attn.c_proj, rank, alpha, a.lora_dropout, lora_a_init(rank, h, 2 * i + 1))
    head = nn.Linear(inputs["head.weight"].shape[1], inputs["head.weight"].shape[0])
    with torch.no_grad():
        head.weight.copy_(inputs["head.weight"])
        head.bias.copy_(inputs["head.bias"])
    model.train()
    adapters = [p for p in model.parameters() if p.requires_grad]
    trainable = adapters + list(head.parameters())
    optimizer = torch.optim.AdamW([{"params": adapters, "lr": 5e-5}, {"params": list(head.parameters()), "lr": 1e-4}],
                                  weight_decay=0.01)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    words, word_mask, targets = inputs["words"], inputs["word_mask"], inputs["targets"]
    b, w = words.shape

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        h = model(ids, mask)[-1]  # [B, T, hidden]
        at = h.gather(1, words.unsqueeze(2).expand(b, w, h.shape[2]))  # model/brain_model.cc's EmbedText
        m = word_mask.to(h.dtype).unsqueeze(2)
        pooled = (at * m).sum(1) / m.sum(1).clamp_min(1.0)
        loss = pearson_loss(head(pooled), targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        return loss.item(), norm.item()

    first = [train_step() for _ in range(max(a.warmup, 2))]
    step_seconds, loss = [], float("nan")
    for _ in range(a.steps):
        start = time.perf_counter()
        loss, _ = train_step()
        step_seconds.append(time.perf_counter() - start)
    print(json.dumps({
        "impl": "pytorch", "bench": "step", "params": sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in adapters),
        "trainable_params": sum(p.numel() for p in trainable), "batch": b, "tokens": ids.shape[1],
        "real_tokens": int(mask.sum()), "words": int(word_mask.sum()), "targets": targets.shape[1],
        "threads": torch.get_num_threads(), "lora_dropout": a.lora_dropout, "steps": a.steps,
        "samples_per_sec": b * a.steps / sum(step_seconds), "step_ms_median": 1000 * statistics.median(step_seconds),
        "loss_1": round(first[0][0], 6), "grad_norm_1": round(first[0][1], 6), "loss_2": round(first[1][0], 6),
        "final_loss": loss, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-model")
    m.add_argument("--size", choices=sorted(SIZES), required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--seed", type=int, default=0)
    i = sub.add_parser("make-inputs")
    i.add_argument("--model", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--batch", type=int, default=8)
    i.add_argument("--tokens", type=int, default=64)
    i.add_argument("--targets", type=int, default=256)
    i.add_argument("--seed", type=int, default=0)
    w = sub.add_parser("words")
    w.add_argument("--model", required=True)
    w.add_argument("--tokenizer", required=True)
    w.add_argument("--words", required=True, help="a text file; its whitespace-separated words")
    w.add_argument("--context-words", type=int, default=32)
    w.add_argument("--mode", choices=["huth", "sliding"], default="huth")
    w.add_argument("--batch-size", type=int, default=32)
    w.add_argument("--repeats", type=int, default=3)
    w.add_argument("--threads", type=int)
    w.add_argument("--expected")
    s = sub.add_parser("step")
    s.add_argument("--model", required=True)
    s.add_argument("--inputs", required=True)
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--warmup", type=int, default=2)
    s.add_argument("--threads", type=int)
    s.add_argument("--lora-dropout", type=float, default=0.1)
    a = p.parse_args()
    return {"make-model": make_model, "make-inputs": make_inputs, "words": words_bench, "step": step_bench}[a.command](a)


if __name__ == "__main__":
    sys.exit(main())
