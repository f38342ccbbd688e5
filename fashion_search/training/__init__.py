"""Library parts of the training job (train/train.py): config, data, checkpoints, eval, report."""
