"""What the PyTorch ports share: the import check, the command line's errors,
Keras' initial weights, the timed training loop and the JSON line.

PyTorch is an optional benchmark requirement (requirements-bench.txt); without
it a port ends in one `error: ...` line, exit status 2.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "listings"))
from timing import Parser, at_least, summary  # noqa: F401  (the ports' command line and figures)


def add_threads_flag(parser):
    """--threads: PyTorch's intra-op threads."""
    parser.add_argument(
        "--threads",
        type=at_least(1),
        default=None,
        help="PyTorch's intra-op threads (default: PyTorch's own choice)",
    )


def torch_for(args):
    """torch (see import_torch), with --threads applied."""
    torch = import_torch()
    if args.threads:
        torch.set_num_threads(args.threads)
    return torch


def import_torch():
    """torch, or one error line (exit status 2) when it is not installed."""
    try:
        import torch
    except ImportError:
        print(
            "error: PyTorch is not installed; it is optional, for these benchmarks only: "
            "pip install -r requirements-bench.txt",
            file=sys.stderr,
        )
        sys.exit(2)
    return torch


def keras_init(torch, model):
    """Keras' defaults: Glorot-uniform weights and zero biases for every Conv2d and Linear."""
    for layer in model.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)


def train(torch, model, optimizer, loss_fn, x, y, batch_size, epochs, prepare=None):
    """Train on a fresh random order every epoch; return each epoch's (wall, CPU) seconds.

    `prepare` turns a gathered batch of inputs into what the model takes
    (e.g. uint8 frames into float32), inside the timed span as Keras does it.
    """
    seconds, cpu_seconds = [], []
    n = len(x)
    model.train()
    for _ in range(epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        order = torch.randperm(n)
        for first in range(0, n, batch_size):
            index = order[first : first + batch_size]
            xb, yb = x[index], y[index]
            if prepare is not None:
                xb = prepare(xb)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        float(loss.detach())  # wait for the last step
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    return seconds, cpu_seconds


def report(torch, bench, train_samples, times, **extra):
    """Print the port's JSON line from train()'s (wall, CPU) seconds.

    Samples/s and samples per CPU-second (all the process's threads) are
    medians over the epochs after the first.
    """
    seconds, cpu_seconds = times
    record = {
        "bench": bench,
        "impl": "pytorch",
        "train_samples_per_epoch": train_samples,
        "train_samples_per_s": summary([train_samples / s for s in seconds[1:] if s > 0]),
        "train_samples_per_cpu_s": summary([train_samples / c for c in cpu_seconds[1:] if c > 0]),
        "epoch_train_s": [round(s, 3) for s in seconds],
        "fit_wall_s": round(sum(seconds), 3),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **extra,
    }
    print(json.dumps(record), flush=True)
