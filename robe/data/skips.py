"""`SkipReport`: what `skip_bad_rows` left out, for the one-line summary users see."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SkipReport:
    """Malformed rows skipped so far; mutable because readers add to it as they stream."""

    max_examples: int = 5
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.count += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(message)

    def summary(self) -> str:
        """One line: how many rows were skipped, and the first reason."""
        if not self.count:
            return "skipped 0 bad rows"
        return f"skipped {self.count} bad rows (first: {self.examples[0]})"
