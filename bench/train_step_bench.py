"""The PyTorch (Python) half of the brain-tuning training-step benchmark: the same step as
braintune's C++ trainer, on the same LibTorch, so the two can be timed against each other.

    python3 bench/train_step_bench.py --size tiny|base [--batch B] [--seconds S] [--targets N]
        [--steps N] [--warmup N] [--threads T] [--device cpu|cuda] [--bf16] [--output FILE.json]

Model: the reference encoder of bench/reference/wav2vec2_reference.py, randomly initialised
(torch.manual_seed(0)); "tiny" is bench/reference/tiny_config.json, "base" is wav2vec2-base
(94,370,944 encoder parameters). One training step:

    conv feature extractor, frozen, under torch.no_grad()
    -> feature projection + transformer encoder (trainable)
    -> mean over time of the last hidden state -> Linear(hidden, targets)
    -> MSE against random targets -> backward
    -> clip_grad_norm_(1.0) over all trainable parameters
    -> AdamW (lr 5e-5 for the encoder, 1e-4 for the head, weight decay 0.01)

The audio [B, S * 16000] and the targets [B, N] are random and fixed for the run. After
--warmup untimed steps, --steps steps are timed one by one. Prints one JSON line (also written
to --output if given):

    impl, size, batch, seconds, targets, threads, steps, params (encoder parameters, frozen ones
    included), trainable_params (encoder + head), samples_per_sec (batch * steps / total timed
    seconds), step_ms_median, step_ms (every timed step), peak_rss_mb (ru_maxrss of the process),
    final_loss
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
from wav2vec2_reference import BASE_CONFIG, TINY_CONFIG, Wav2Vec2Model, init_weights_like_hf  # noqa: E402

SAMPLE_RATE = 16000
DEFAULTS = {  # size: (batch, seconds, steps)
    "tiny": (8, 10.0, 20),
    "base": (2, 4.0, 3),
}


def main():
    p = argparse.ArgumentParser(description="PyTorch brain-tuning training-step benchmark")
    p.add_argument("--size", choices=sorted(DEFAULTS), default="tiny")
    p.add_argument("--batch", type=int, help="samples per step (default 8 tiny, 2 base)")
    p.add_argument("--seconds", type=float, help="seconds of 16 kHz audio per sample (default 10 tiny, 4 base)")
    p.add_argument("--targets", type=int, default=256, help="regression targets (head outputs)")
    p.add_argument("--steps", type=int, help="timed steps (default 20 tiny, 3 base)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast of the forward pass (cuda only)")
    p.add_argument("--output", help="also write the JSON result to this file")
    a = p.parse_args()
    batch, seconds, steps = DEFAULTS[a.size]
    batch = a.batch or batch
    seconds = a.seconds or seconds
    steps = a.steps or steps
    if a.threads:
        torch.set_num_threads(a.threads)

    # model, frozen feature extractor, head
    torch.manual_seed(0)
    model = Wav2Vec2Model(TINY_CONFIG if a.size == "tiny" else BASE_CONFIG)
    init_weights_like_hf(model)
    model.train()  # no dropout in the reference, so train() and eval() compute the same
    for param in model.feature_extractor.parameters():
        param.requires_grad_(False)
    hidden = model.config.hidden_size
    head = torch.nn.Linear(hidden, a.targets)
    model.to(a.device)
    head.to(a.device)
    encoder_params = [q for q in model.parameters() if q.requires_grad]
    trainable = encoder_params + list(head.parameters())
    optimizer = torch.optim.AdamW([
        {"params": encoder_params, "lr": 5e-5},
        {"params": list(head.parameters()), "lr": 1e-4},
    ], weight_decay=0.01)

    # fixed random inputs
    num_samples = int(round(seconds * SAMPLE_RATE))
    audio = torch.randn(batch, num_samples).to(a.device)
    targets = torch.randn(batch, a.targets).to(a.device)

    # The same no-op context on CPU (torch.autocast("cuda") checks for CUDA even when disabled).
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if a.bf16 else contextlib.nullcontext

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            with torch.no_grad():
                features = model.extract_features(audio)  # [B, frames, conv_dim[-1]], no graph
            last = model.encode(features)[-1]  # [B, frames, hidden]
            prediction = head(last.mean(dim=1))  # [B, targets]
        loss = F.mse_loss(prediction.float(), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        return loss.item()

    for _ in range(a.warmup):
        train_step()
    step_seconds = []
    loss = float("nan")
    for _ in range(steps):
        start = time.perf_counter()
        loss = train_step()  # .item() synchronises, so the step is complete when timed
        step_seconds.append(time.perf_counter() - start)

    result = {
        "impl": "pytorch",
        "size": a.size,
        "batch": batch,
        "seconds": seconds,
        "targets": a.targets,
        "threads": torch.get_num_threads(),
        "device": a.device,
        "bf16": a.bf16,
        "steps": steps,
        "params": sum(q.numel() for q in model.parameters()),
        "trainable_params": sum(q.numel() for q in trainable),
        "frames": model.config.num_frames(num_samples),
        "samples_per_sec": batch * steps / sum(step_seconds),
        "step_ms_median": 1000 * statistics.median(step_seconds),
        "step_ms": [round(1000 * s, 3) for s in step_seconds],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
        "final_loss": loss,
        "torch": torch.__version__,
    }
    line = json.dumps(result)
    print(line)
    if a.output:
        with open(a.output, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
