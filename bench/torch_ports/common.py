"""What the PyTorch ports share: the import check, the command line's errors,
Keras' initial weights, the timed training loop and the JSON line.

PyTorch is an optional benchmark requirement (requirements-bench.txt); without
it a port ends in one `error: ...` line, exit status 2.
"""

import argparse
import json
import statistics
import sys
import time


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one `error: ...` line and exit status 2."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def at_least(minimum):
    """An argparse type: an integer >= minimum."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


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
    """Train on a fresh random order every epoch; return each epoch's seconds.

    `prepare` turns a gathered batch of inputs into what the model takes
    (e.g. uint8 frames into float32), inside the timed span as Keras does it.
    """
    seconds = []
    n = len(x)
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
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
    return seconds


def report(torch, bench, train_samples, epoch_seconds, **extra):
    """Print the port's JSON line: samples/s is the median over the epochs after the first."""
    rates = [train_samples / s for s in epoch_seconds[1:] if s > 0]
    summary = (
        {
            "median": round(statistics.median(rates), 2),
            "min": round(min(rates), 2),
            "max": round(max(rates), 2),
            "n": len(rates),
        }
        if rates
        else {"median": None, "n": 0}
    )
    record = {
        "bench": bench,
        "impl": "pytorch",
        "train_samples_per_epoch": train_samples,
        "train_samples_per_s": summary,
        "epoch_train_s": [round(s, 3) for s in epoch_seconds],
        "fit_wall_s": round(sum(epoch_seconds), 3),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **extra,
    }
    print(json.dumps(record), flush=True)
