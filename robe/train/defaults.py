"""Training defaults (torch-free, so the command line can show them cheaply).

Argued in docs/accuracy.md: a ceiling of epochs that small data needs to converge, the
best epoch kept by early stopping on validation logloss, so more epochs never cost
accuracy and large data stops as soon as it stops improving.
"""

from __future__ import annotations

DEFAULT_EPOCHS = 10
DEFAULT_PATIENCE = 2
DEFAULT_BATCH = 256
DEFAULT_LR = 1e-3
DEFAULT_EMBEDDING_LR = 1e-2
DEFAULT_WEIGHT_DECAY = 0.0
