"""docs/data.md end to end, as written: a MovieLens-like CSV with a header (users with age
and gender, items with multi-valued genres, 1-5 ratings, timestamps) through schema ->
train -> catalog -> export -> serve -> /recommend with exclude, by the page's own commands."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from robe.cli.main import main
from service.app import build_app
from service.settings import Settings
from tests.robe.data.movielens import write_ratings

DOC = Path(__file__).parents[3] / "docs" / "data.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text())]


def bucketize_edit(schema_path: Path, feature: dict[str, object]) -> None:
    """The page's edit: the dense entry of that name is replaced by the one given."""
    schema = json.loads(schema_path.read_text())
    names = [d["name"] for d in schema["dense"]]
    schema["dense"][names.index(feature["name"])] = feature
    schema_path.write_text(json.dumps(schema, indent=2))


def post(client: TestClient, line: str) -> dict[str, object]:
    args = shlex.split(line)
    path = "/" + args[2].split("/", 1)[1]
    response = client.post(path, content=args[args.index("-d") + 1])
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.slow
def test_the_page_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_ratings(tmp_path / "ratings.csv")
    doc = blocks()
    head = next(text for kind, text in doc if kind == "text")
    assert (tmp_path / "ratings.csv").read_text().startswith(head)
    answers: list[dict[str, object]] = []
    client: TestClient | None = None
    last_output = ""
    outputs: list[str] = []
    for kind, text in doc:
        if kind == "json":
            bucketize_edit(tmp_path / "schema.json", json.loads(text))
            continue
        if kind == "text":
            outputs.append(text)
            continue
        for line in text.strip().splitlines():
            argv = shlex.split(line)
            if argv[:2] == ["robe", "serve"]:
                name, path = argv[argv.index("--model") + 1].split("=")
                client = TestClient(build_app(Settings(models=[f"{name}={path}"])))
                client.__enter__()
            elif argv[0] == "robe":
                extra = ["--no-progress"] if argv[1] == "train" else []
                assert main(argv[1:] + extra) == 0, line
                last_output = capsys.readouterr().out
                if argv[1:3] == ["data", "schema"]:
                    # The summary the page shows is what the command printed.
                    assert last_output in [o for o in outputs_after(doc, line)]
                if argv[1] == "train":
                    auc = json.loads(last_output)["auc"]
                    assert auc == pytest.approx(0.874, abs=0.01)
            else:
                assert argv[0] == "curl" and client is not None
                answers.append(post(client, line))
    assert client is not None
    client.__exit__(None, None, None)
    by_int, by_str, scored = answers
    assert by_int["items"] == by_str["items"]
    items = by_int["items"]
    assert isinstance(items, list)
    ids = [i["item_id"] for i in items]
    assert len(ids) == 3 and not {"8", "2"} & set(ids)
    assert by_int["scored"] == 199 - 2
    assert len(scored["scores"]) == 1  # type: ignore[arg-type]
    catalog = (tmp_path / "items.jsonl").read_text().splitlines()
    shown = next(t for k, t in doc if k == "text" and t.startswith('{"item_id"'))
    assert catalog[0] == shown.strip()


def outputs_after(doc: list[tuple[str, str]], line: str) -> list[str]:
    """The text blocks that follow the block holding `line`."""
    found = False
    out = []
    for kind, text in doc:
        if found and kind == "text":
            out.append(text)
        if line in text:
            found = True
    return out
