"""Model helpers: a faster epoch loop for tiny models and its cheap per-epoch logs, the steering pipeline."""
