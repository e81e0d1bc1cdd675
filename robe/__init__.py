"""robe: ROBE-compressed DLRM models (hashing, lookup op, model, data, training)."""

__version__ = "0.1.0"
