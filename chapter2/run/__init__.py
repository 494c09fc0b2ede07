"""Run plumbing shared by the five scripts: flags from constants, run folders,
resuming, TensorBoard, figures, errors and a quiet console."""
