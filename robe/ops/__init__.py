"""The ROBE lookup: importing this package registers `torch.ops.robe.*`."""

from robe.ops.lookup import check_bags, lookup, lookup_backward, slots

__all__ = ["check_bags", "lookup", "lookup_backward", "slots"]
