"""Just enough of a Dockerfile parser for the tests to read what the image will run.

No Docker engine runs on our machines, so the tests run the image's commands natively;
reading them from the Dockerfile itself (instead of repeating them) is what makes a
change there a change in what the tests run.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY ...
    args: str  # the rest of the logical line, continuations joined

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT, CMD or HEALTHCHECK ... CMD."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else ""
        value = json.loads(text.strip())
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"{self.keyword} is not in exec form: {self.args}")
        return value


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        if not found:
            raise KeyError(f"stage {self.name} has no {keyword}")
        return found[-1]

    def env(self) -> dict[str, str]:
        """ENV key=value pairs in order; ${NAME} refers to earlier values or is kept."""
        out: dict[str, str] = {}
        for ins in self.all("ENV"):
            for pair in shlex.split(ins.args):
                key, _, value = pair.partition("=")
                out[key] = re.sub(r"\$\{(\w+)\}", lambda m: out.get(m.group(1), m.group(0)), value)
        return out

    def copies(self) -> list[tuple[str | None, list[str], str]]:
        """COPY instructions as (--from stage or None, sources, destination)."""
        out: list[tuple[str | None, list[str], str]] = []
        for ins in self.all("COPY"):
            words = shlex.split(ins.args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            source = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            out.append((source, paths[:-1], paths[-1]))
        return out


def parse(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if logical and line.startswith("#"):
            continue  # comments inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        keyword, args, logical = keyword.upper(), " ".join(args.split()), ""
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name=name, base=words[0]))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args))
    return stages


def stage(stages: list[Stage], name: str) -> Stage:
    for s in stages:
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r} in {[s.name for s in stages]}")
