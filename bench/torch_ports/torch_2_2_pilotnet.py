"""Chapter_2_2's steering CNN in PyTorch, on the CPU: a benchmark peer.

The same network as the listing (bench/listings/listing_2_2_pilotnet.py):
'valid' 3x3 convolutions of 8, 16 and 32 filters, each with relu and, where
--pooling says so, a 2x2 max-pooling; flatten; Linear(256) with no
activation; dropout; Linear(1). `--pooling 100 --dropout 0.5` gives
Chapter_2_3's network (bench/listings/listing_2_3_fewer_pools.py). Keras'
initial weights (Glorot-uniform, zero biases), Adam with Keras' settings
(learning rate 0.001, betas 0.9/0.999, epsilon 1e-7), mean squared error,
batch 64, a new random order every epoch. Data: random uint8 frames, channels
first, turned into float32 raw 0-255 values per batch (as the listing feeds
them); --samples is the training frames per epoch. PyTorch picks its own
thread count unless --threads says.

    python bench/torch_ports/torch_2_2_pilotnet.py --samples 1280 --epochs 4
    python bench/torch_ports/torch_2_2_pilotnet.py --samples 640 --pooling 100 --dropout 0.5

Prints one JSON line last: train_samples_per_s (median over the epochs after
the first) and the parameter count.
"""

import argparse
import sys

import common


def pooling_flags(text):
    """'111' -> (True, True, True): which of the three stages end in a max-pooling."""
    if len(text) != 3 or set(text) - set("01"):
        raise argparse.ArgumentTypeError(
            f"expected three digits 0 or 1 (e.g. 111 or 100), got {text!r}"
        )
    return tuple(c == "1" for c in text)


def dropout_rate(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def build_model(torch, pooling=(True, True, True), dropout=0.2):
    nn = torch.nn
    layers, channels, height, width = [], 3, 120, 160
    for filters, pool in zip((8, 16, 32), pooling):
        layers += [nn.Conv2d(channels, filters, 3), nn.ReLU()]
        channels, height, width = filters, height - 2, width - 2
        if pool:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
    layers += [
        nn.Flatten(),
        nn.Linear(channels * height * width, 256),
        nn.Dropout(dropout),
        nn.Linear(256, 1),
    ]
    return nn.Sequential(*layers)


def main(argv=None):
    parser = common.Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=common.at_least(1), default=6400, help="training frames per epoch"
    )
    parser.add_argument(
        "--epochs",
        type=common.at_least(2),
        default=4,
        help="epochs (at least 2: the first is not timed)",
    )
    parser.add_argument(
        "--pooling",
        type=pooling_flags,
        default=(True, True, True),
        help="which stages pool: 111 (Chapter_2_2) or 100 (Chapter_2_3)",
    )
    parser.add_argument("--dropout", type=dropout_rate, default=0.2)
    common.add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch = common.torch_for(args)

    torch.manual_seed(0)
    x = torch.randint(0, 256, (args.samples, 3, 120, 160), dtype=torch.uint8)
    y = torch.rand(args.samples, 1) * 2 - 1
    model = build_model(torch, args.pooling, args.dropout)
    common.keras_init(torch, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    times = common.train(
        torch,
        model,
        optimizer,
        torch.nn.MSELoss(),
        x,
        y,
        64,
        args.epochs,
        prepare=lambda xb: xb.float(),
    )
    name = "2_2_pilotnet" if args.pooling == (True, True, True) else "2_3_fewer_pools"
    if args.pooling not in ((True, True, True), (True, False, False)):
        name = "pilotnet_pooling_" + "".join("1" if p else "0" for p in args.pooling)
    common.report(
        torch,
        name,
        args.samples,
        times,
        batch_size=64,
        epochs=args.epochs,
        pooling="".join("1" if p else "0" for p in args.pooling),
        dropout=args.dropout,
        parameters=sum(p.numel() for p in model.parameters()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
