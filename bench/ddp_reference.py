"""PyTorch's own DistributedDataParallel on the model and batch of bench/ddp_bench.cc: the
reference the C++ reducer is compared with (bench/gpu_check.sh, bench/ddp_bench.sh).

    mpirun -np 2 python3 bench/ddp_reference.py --device cpu ...   (ranks from OpenMPI's environment)
    python3 -m torch.distributed.run --nproc_per_node 2 bench/ddp_reference.py --device cpu ...

Prints the median step time with DDP and without synchronisation, in the format ddp_bench uses.
"""
import argparse
import os
import statistics
import time

import torch
import torch.distributed as dist


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if "OMPI_COMM_WORLD_RANK" in os.environ:  # started by mpirun, as the C++ side is
        os.environ.update(RANK=os.environ["OMPI_COMM_WORLD_RANK"], WORLD_SIZE=os.environ["OMPI_COMM_WORLD_SIZE"],
                          LOCAL_RANK=os.environ["OMPI_COMM_WORLD_LOCAL_RANK"])
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29517")
    cuda = a.device == "cuda"
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    torch.manual_seed(0)
    layers = []
    for _ in range(a.layers):
        layers += [torch.nn.Linear(a.width, 4 * a.width), torch.nn.GELU(), torch.nn.Linear(4 * a.width, a.width)]
    net = torch.nn.Sequential(*layers).to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    x = torch.randn(a.batch, 64, a.width, device=device)

    def step(model):
        for q in net.parameters():
            q.grad = None
        model(x).pow(2).mean().backward()
        if cuda:
            torch.cuda.synchronize()

    local, synced = [], []
    for i in range(a.steps + 2):
        dist.barrier()
        t = time.perf_counter()
        step(net)
        if i >= 2:
            local.append(time.perf_counter() - t)
        dist.barrier()
        t = time.perf_counter()
        step(ddp)
        if i >= 2:
            synced.append(time.perf_counter() - t)
    if rank == 0:
        l, d = statistics.median(local), statistics.median(synced)
        print(f"pytorch {torch.__version__} DDP ({'nccl' if cuda else 'gloo'}), {dist.get_world_size()} ranks x "
              f"{a.threads} threads: step without sync {l * 1e3:.2f} ms | with DDP {d * 1e3:.2f} ms")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
