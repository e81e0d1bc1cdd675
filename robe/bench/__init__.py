"""Benchmarks: the ROBE lookup against plain tables (`lookup`), the whole DLRM (`model`)."""
