"""Steering-network settings that cannot work, refused in one line before anything is built."""

from chapter2.data import driving, memory
from chapter2.run.errors import InputError

STAGES = 3  # the listing's Conv2D -> relu -> MaxPooling2D stages


def feature_map(filters, kernel_size, strides, pool_size, pooling, frame=driving.FRAME_SHAPE):
    """(rows, columns, channels) that reach Flatten after the stages
    Conv2D(kernel_size, strides, padding "valid") -> relu -> MaxPooling2D(pool_size)
    (when pooling[i]). Raises InputError when a stage shrinks the frame to nothing."""
    rows, cols = frame[:2]
    for i, pool in enumerate(pooling, start=1):
        if rows < kernel_size or cols < kernel_size:
            raise _shrunk(
                f"a {rows}x{cols} map reaches Conv2D {i}, smaller than its "
                f"{kernel_size}x{kernel_size} kernel"
            )
        rows, cols = (rows - kernel_size) // strides + 1, (cols - kernel_size) // strides + 1
        if pool:
            if rows < pool_size or cols < pool_size:
                raise _shrunk(
                    f"a {rows}x{cols} map reaches MaxPooling2D {i}, smaller than its "
                    f"{pool_size}x{pool_size} pool"
                )
            rows, cols = rows // pool_size, cols // pool_size
    return rows, cols, filters[-1]


def _shrunk(where):
    return InputError(
        f"--kernel-size/--strides/--pool-size/--pooling: these settings shrink the "
        f"{driving.FRAME_SHAPE[0]}x{driving.FRAME_SHAPE[1]} frame to nothing ({where})"
    )


def check_network(filters, kernel_size, strides, pool_size, pooling, dense):
    """Refuse, with one line, settings that cannot build or cannot fit: not
    one value per stage, a frame shrunk to nothing, or a Dense layer whose
    weights, with their gradients and adam's two moments (4 copies of 4
    bytes each), exceed the available memory. Returns the Flatten size."""
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
