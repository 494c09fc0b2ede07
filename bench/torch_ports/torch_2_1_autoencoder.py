"""Chapter_2_1's autoencoder in PyTorch, on the CPU: a benchmark peer.

The same network as the listing (bench/listings/listing_2_1_autoencoder.py):
3x3 convolutions 16-8-8 with relu and 'same' padding, each followed by a
2x2 max-pooling ('same': 7 -> 4, as ceil_mode does), then 8-8 'same' and 16
'valid' convolutions each followed by 2x nearest upsampling, and a 3x3
sigmoid convolution to one channel. Keras' initial weights (Glorot-uniform,
zero biases), Adadelta with Keras' settings (learning rate 1.0, rho 0.95,
epsilon 1e-7), binary cross-entropy, batch 128, a new random order every
epoch. Data: random pixels of MNIST's shape, scaled to [0, 1], channels
first (PyTorch's layout). PyTorch picks its own thread count unless
--threads says.

    python bench/torch_ports/torch_2_1_autoencoder.py --samples 12800 --epochs 4

Prints one JSON line last: train_samples_per_s (median over the epochs after
the first).
"""

import sys

import common


def build_model(torch):
    nn = torch.nn
    return nn.Sequential(
        # encoder
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(16, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        # decoder
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(8, 16, 3),
        nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(16, 1, 3, padding=1),
        nn.Sigmoid(),
    )


def main(argv=None):
    parser = common.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=common.at_least(1), default=60000, help="training digits")
    parser.add_argument(
        "--epochs",
        type=common.at_least(2),
        default=50,
        help="epochs (at least 2: the first is not timed)",
    )
    common.add_threads_flag(parser)
    args = parser.parse_args(argv)
    torch = common.torch_for(args)

    torch.manual_seed(0)
    x = torch.randint(0, 256, (args.samples, 1, 28, 28), dtype=torch.uint8).float() / 255.0
    model = build_model(torch)
    common.keras_init(torch, model)
    assert model(x[:2]).shape == (2, 1, 28, 28)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    times = common.train(torch, model, optimizer, torch.nn.BCELoss(), x, x, 128, args.epochs)
    common.report(torch, "2_1_ae", args.samples, times, batch_size=128, epochs=args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
