"""Reference models `robe bench accuracy` compares ROBE-DLRM with (not served)."""
