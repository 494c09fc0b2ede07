"""Model helpers: a faster epoch loop for tiny models, the steering pipeline."""
