"""Steering-network settings that cannot work, refused in one line before anything is built."""

from chapter2.data import driving, memory
from chapter2.run.errors import InputError

STAGES = 3  # the listing's Conv2D -> relu -> MaxPooling2D stages


def feature_map(filters, kernel_size, strides, pool_size, pooling, frame=driving.FRAME_SHAPE):
    """(rows, columns, channels) that reach Flatten after the stages Conv2D(kernel_size,
    strides, padding "valid") -> relu -> MaxPooling2D(pool_size) (when pooling[i]).
    Raises InputError when a stage shrinks the frame to nothing."""
    rows, cols = frame[:2]
    # A pool of size p is a window of size p and stride p: (rows - p) // p + 1 == rows // p.
    layers = (
        ("Conv2D", kernel_size, strides, "kernel"),
        ("MaxPooling2D", pool_size, pool_size, "pool"),
    )
    for i, pool in enumerate(pooling, start=1):
        for layer, size, step, what in layers[: 2 if pool else 1]:
            if rows < size or cols < size:
                raise InputError(
                    f"--kernel-size/--strides/--pool-size/--pooling: these settings shrink the "
                    f"{driving.FRAME_SHAPE[0]}x{driving.FRAME_SHAPE[1]} frame to nothing (a "
                    f"{rows}x{cols} map reaches {layer} {i}, smaller than its {size}x{size} {what})"
                )
            rows, cols = (rows - size) // step + 1, (cols - size) // step + 1
    return rows, cols, filters[-1]


def check_network(filters, kernel_size, strides, pool_size, pooling, dense):
    """Refuse, in one line, settings that cannot build or fit: not one value per stage, a frame
    shrunk to nothing, or a Dense layer whose weights, with their gradients and adam's two
    moments (4 copies of 4 bytes each), exceed the available memory. Returns the Flatten size."""
    for flag, values in (("--filters", filters), ("--pooling", pooling)):
        if len(values) != STAGES:
            raise InputError(
                f"{flag} expects {STAGES} comma-separated values, one per Conv2D stage of the "
                f"listing, got {len(values)}"
            )
    rows, cols, channels = feature_map(filters, kernel_size, strides, pool_size, pooling)
    flat = rows * cols * channels
    weights = flat * dense + dense
    memory.require_memory(
        4 * 4 * weights,
        f"--dense {dense}: the Dense layer's {weights:,} weights ({flat:,} "
        f"Flatten values x {dense:,} units), trained with adam,",
    )
    return flat
