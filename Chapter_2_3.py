"""The steering CNN with fewer pooling layers: what spatial layout is worth.

Chapter 2, "Spatial convolution and pooling": the same network, data,
training and evaluation as Chapter_2_2.py, with only the first MaxPooling2D
kept (the listing comments the other two out), Dropout 0.5 and 10 epochs.
Without the later pooling the feature maps stay large (55x75x32 before
Flatten instead of 13x18x32), so the Dense layer grows from 1.9 million to
33.8 million weights: training is much slower, and the learner compares
both runs (test error, closed-loop autonomy, time per epoch) to see what
pooling buys and what it throws away.

The network is Chapter_2_2.build_model with the constants below:

    img_in (120, 160, 3) -> Rescaling(1/255)
    -> Conv2D(8, 3x3) -> relu -> MaxPooling2D(2x2)
    -> Conv2D(16, 3x3) -> relu                       (pooling removed)
    -> Conv2D(32, 3x3) -> relu                       (pooling removed)
    -> Flatten (55*75*32) -> Dense(256) -> linear -> Dropout(0.5) -> Dense(1) angle_out

Run it:

    python Chapter_2_3.py              # the chapter's run (10 epochs)
    python Chapter_2_3.py --quick      # a smoke run in well under a minute
    python Chapter_2_3.py --help       # every constant below is also a flag
    python Chapter_2_3.py --drive runs/chapter_2_3/<stamp>/best_model.keras

Exercises: 6. remove all pooling (--pooling false,false,false: the Flatten
has 114x154x32 values and Dense 144 million weights, about 580 MB; expect it
to need more epochs and far more time); 7. change the dropout rate
(--dropout 0.2); the exercises of Chapter_2_2 (--filters, --strides,
--pool-size) work here too. TensorBoard compares this run with a
Chapter_2_2 run: tensorboard --logdir runs

Data and outputs as in Chapter_2_2.py (--data PATH, --offline, the lane
simulator when there is no network); writes runs/chapter_2_3/<timestamp>/.
"""

import sys

import Chapter_2_2  # the shared script: build_model(), training, testing, driving
from chapter2.run import flags

# --- Constants: Chapter_2_2's, with what this section changes marked ---------
FILTERS = (8, 16, 32)
KERNEL_SIZE = 3
STRIDES = 1
POOL_SIZE = 2
POOLING = (True, False, False)  # changed: only the first MaxPooling2D (exercise 6: all false)
DENSE = 256
DROPOUT = 0.5                   # changed from 0.2 (exercise 7)
EPOCHS = 10                     # changed from 4
BATCH_SIZE = 64
PATIENCE = 5
VALIDATION_SPLIT = 0.1          # the listing's 80/10/10 split
TEST_SPLIT = 0.1
MIRROR = True
SIM_FRAMES = 8000
DRIVE_SECONDS = 60.0
JIT_COMPILE = False             # XLA-compile the training step: slower than oneDNN's kernels on a CPU

QUICK = {"EPOCHS": 1, "SIM_FRAMES": 400, "DRIVE_SECONDS": 4.0}  # --quick's overrides


def main(argv=None):
    """Chapter_2_2's run, with this file's constants (and flags)."""
    return Chapter_2_2.main(argv, namespace=globals(), script="chapter_2_3", quick=QUICK)


if __name__ == "__main__":
    sys.exit(flags.run(main))
