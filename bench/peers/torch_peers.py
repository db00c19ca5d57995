"""PyTorch peers of the softgrad kernels, on one thread, in Go benchmark format.

Times eager PyTorch calls -- what a PyTorch user pays, Python dispatch
included -- on the shapes of the Go suite (../cases.go, ../step.go) and
prints lines like

    BenchmarkKernels/kernel=Softmax/impl=pytorch/shape=64x1000-2  N  T ns/op  E ns/elem  B GB/s

so that benchstat reads them beside `go test -bench . ./bench` and peers.c.

Usage: python3 torch_peers.py [-count N] [-benchtime SECONDS] [-run REGEX]

impl is "pytorch", or "pytorch-<cap>" when ATEN_CPU_CAPABILITY=<cap> picks
ATen's kernels (default, avx2, avx512). Set OMP_NUM_THREADS=1 before
starting Python as well (run.sh does); the script calls
torch.set_num_threads(1). Each line is followed by a comment line (ignored
by benchstat) with the process's CPU time over the wall time, about 1.0 on
one thread.
"""

import argparse
import os
import re
import time

import torch

LOGIT_LO, LOGIT_HI = -5.0, 5.0  # logits uniform in [-5, 5), as in peers.c


def name_suffix():
    """The -N suffix the Go suite prints (its GOMAXPROCS; none when 1)."""
    procs = os.environ.get("GOMAXPROCS")
    n = int(procs) if procs and procs.isdigit() and int(procs) > 0 else len(os.sched_getaffinity(0))
    return f"-{n}" if n > 1 else ""


def logits(gen, rows, cols):
    return torch.rand(rows, cols, generator=gen) * (LOGIT_HI - LOGIT_LO) + LOGIT_LO


def uniform(gen, rows, cols):
    return torch.rand(rows, cols, generator=gen) * 2 - 1


# Each case: (kernel, rows, cols, bytes moved per element, bytes per row, setup),
# setup(gen) returning a no-argument function that runs one op.


def softmax_setup(rows, cols):
    def setup(gen):
        x = logits(gen, rows, cols)
        return lambda: torch.softmax(x, 1)
    return setup


def log_softmax_setup(rows, cols):
    def setup(gen):
        x = logits(gen, rows, cols)
        return lambda: torch.log_softmax(x, 1)
    return setup


def softmax_backward_setup(rows, cols):
    # The backward kernel alone, as autograd calls it: grad_input from the
    # softmax's output and the gradient of its output.
    def setup(gen):
        y = torch.softmax(logits(gen, rows, cols), 1)
        dy = uniform(gen, rows, cols)
        return lambda: torch._softmax_backward_data(dy, y, 1, torch.float32)
    return setup


def cross_entropy_setup(rows, cols):
    # Forward and backward from the logits, mean reduction, int64 labels
    # (what F.cross_entropy takes): the loss and d loss / d logits.
    def setup(gen):
        x = logits(gen, rows, cols).requires_grad_(True)
        labels = torch.randint(0, cols, (rows,), generator=gen)

        def op():
            loss = torch.nn.functional.cross_entropy(x, labels)
            (grad,) = torch.autograd.grad(loss, x)
            return loss, grad
        return op
    return setup


def cross_entropy_with_setup(rows, cols):
    # CrossEntropyGradWith's case of ../cases.go: class weights in [1, 1.5),
    # label smoothing 0.1, the z-loss 1e-4·lse² per row (PaLM's, written
    # out: PyTorch has none), the mean, and each row's loss kept.
    def setup(gen):
        x = logits(gen, rows, cols).requires_grad_(True)
        labels = torch.randint(0, cols, (rows,), generator=gen)
        w = 1 + (uniform(gen, 1, cols)[0] + 1) / 4

        def op():
            per_row = torch.nn.functional.cross_entropy(x, labels, weight=w, label_smoothing=0.1, reduction="none")
            per_row = per_row + 1e-4 * torch.logsumexp(x, 1) ** 2
            loss = per_row.sum() / w[labels].sum()
            (grad,) = torch.autograd.grad(loss, x)
            return loss, grad, per_row.detach()
        return op
    return setup


def step_setup(k, features, classes, dx):
    # The output layer's training step: nn.Linear's forward, F.cross_entropy
    # (mean), backward (into x too when dx), and an SGD step on the weight
    # and bias; the gradients are set to None first, as zero_grad does.
    def setup(gen):
        lin = torch.nn.Linear(features, classes)
        with torch.no_grad():
            lin.weight.copy_(uniform(gen, classes, features) * 0.05)
            lin.bias.copy_(uniform(gen, 1, classes)[0])
        x = uniform(gen, k, features).requires_grad_(dx)
        labels = torch.randint(0, classes, (k,), generator=gen)
        opt = torch.optim.SGD(lin.parameters(), lr=1e-3)

        def op():
            opt.zero_grad(set_to_none=True)
            x.grad = None
            loss = torch.nn.functional.cross_entropy(lin(x), labels)
            loss.backward()
            opt.step()
            return loss
        return op
    return setup


# Step cases: (k, features, classes, dx), named k x features x classes, "dx"
# when x needs its gradient, as in ../step.go.
STEP_CASES = [
    (64, 784, 10, False), (64, 784, 10, True),
    (256, 1024, 1000, False), (256, 1024, 1000, True),
    (32, 1024, 32000, False), (32, 1024, 32000, True),
]


CASES = [
    ("Softmax", 64, 1000, 8, 0, softmax_setup),
    ("Softmax", 256, 10, 8, 0, softmax_setup),
    ("LogSoftmax", 64, 1000, 8, 0, log_softmax_setup),
    ("SoftmaxBackward", 64, 1000, 12, 0, softmax_backward_setup),
    ("CrossEntropyGrad", 64, 1000, 8, 4, cross_entropy_setup),
    ("CrossEntropyGrad", 256, 10, 8, 4, cross_entropy_setup),
    ("CrossEntropyGradWith", 64, 1000, 8, 8, cross_entropy_with_setup),
    ("CrossEntropyGradWith", 256, 10, 8, 8, cross_entropy_with_setup),
]


def measure(op, benchtime):
    """Runs op once untimed, then batches of n calls, n growing as in Go's
    testing package, until a batch lasts benchtime; returns (n, seconds, cpu seconds)."""
    op()
    n = 1
    while True:
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(n):
            op()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        if wall >= benchtime or n >= 1_000_000_000:
            return n, wall, cpu
        per = wall / n if wall > 0 else 1e-9
        n = max(n + 1, min(100 * n, int(1.2 * benchtime / per)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-count", type=int, default=1, help="rounds over all cases")
    p.add_argument("-benchtime", type=float, default=0.2, help="least seconds per measurement")
    p.add_argument("-run", default="", help="only cases whose name kernel=K/impl=I/shape=S matches")
    args = p.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cap = os.environ.get("ATEN_CPU_CAPABILITY", "")
    impl = "pytorch" + (f"-{cap}" if cap else "")
    suffix = name_suffix()
    run = re.compile(args.run)

    print("goos: linux")
    print("goarch: amd64")
    print("pkg: github.com/softgrad/softgrad/bench")
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                print("cpu:", line.split(":", 1)[1].strip())
                break
    usage = [l.strip() for l in torch.__config__.show().splitlines() if "CPU capability" in l]
    print(f"# PyTorch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{usage[0] if usage else 'CPU capability unknown'}")

    for _ in range(args.count):
        for kernel, rows, cols, per_elem, per_row, setup in CASES:
            name = f"kernel={kernel}/impl={impl}/shape={rows}x{cols}"
            if not run.search(name):
                continue
            gen = torch.Generator().manual_seed(0x50F76AD)
            op = setup(rows, cols)(gen)
            with torch.inference_mode(not kernel.startswith("CrossEntropyGrad")):
                n, wall, cpu = measure(op, args.benchtime)
            ns = wall * 1e9 / n
            elems = rows * cols
            gbs = (per_elem * elems + per_row * rows) / ns
            print(f"BenchmarkKernels/{name}{suffix} \t{n:10d}\t{ns:14.1f} ns/op"
                  f"\t{ns / elems:12.4g} ns/elem\t{gbs:12.4g} GB/s", flush=True)
            print(f"# {name}: cpu/wall {cpu / wall:.2f}", flush=True)
        for k, features, classes, dx in STEP_CASES:
            name = f"kernel=Step/impl={impl}/shape={k}x{features}x{classes}{'dx' if dx else ''}"
            if not run.search(name):
                continue
            gen = torch.Generator().manual_seed(0x50F76AD)
            n, wall, cpu = measure(step_setup(k, features, classes, dx)(gen), args.benchtime)
            ns = wall * 1e9 / n
            elems = k * features * classes
            flops = (3 if dx else 2) * 2 * elems
            print(f"BenchmarkKernels/{name}{suffix} \t{n:10d}\t{ns:14.1f} ns/op"
                  f"\t{ns / elems:12.4g} ns/elem\t{flops / ns:12.4g} GFLOP/s", flush=True)
            print(f"# {name}: cpu/wall {cpu / wall:.2f}", flush=True)


if __name__ == "__main__":
    main()
