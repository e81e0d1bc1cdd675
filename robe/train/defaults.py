"""Training defaults (torch-free, so the command line can show them cheaply).

Argued in docs/accuracy.md: a ceiling of epochs that small data needs to converge, the
best epoch kept by early stopping on validation logloss, so more epochs never cost
accuracy and large data stops as soon as it stops improving.
"""

from __future__ import annotations

DEFAULT_EPOCHS = 10
DEFAULT_PATIENCE = 2
MAX_BATCH = 256  # the DLRM reference batch, for data large enough to afford it
MIN_BATCH = 32
STEPS_PER_EPOCH = 100  # the fewest optimizer steps one epoch should take


def default_batch_size(train_rows: int) -> int:
    """The largest power of two up to MAX_BATCH giving an epoch STEPS_PER_EPOCH steps.

    On small data one pass is all that generalises (the second memorises the rare
    values), so that pass must take enough steps to learn: 8,000 rows get 64 per batch.
    """
    batch = MAX_BATCH
    while batch > MIN_BATCH and train_rows / batch < STEPS_PER_EPOCH:
        batch //= 2
    return batch


DEFAULT_LR = 1e-3
DEFAULT_EMBEDDING_LR = 1e-2
DEFAULT_WEIGHT_DECAY = 0.0
