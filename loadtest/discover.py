"""What traffic to send: features and catalog items from files, or asked of the server.

Given `schema.json` and `items.jsonl` (what `robe data synth` writes) the traffic
uses them. Without them the server is asked: `GET /v1/models` names the model's
features by side and its schema (a built-in schema gives the dense/sparse split), and
one `POST /recommend` without candidates returns up to `max_k` catalog item ids.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from loadtest.traffic import Feature, Item, features_of, load_catalog
from robe.schema import BUILTIN_SCHEMAS, SIDES, load_schema

DISCOVER_K = 1000  # the service's default max_k
RETRIES = 4


def _request(url: str, body: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def model_info(url: str, model: str | None) -> dict[str, Any]:
    """The `/v1/models` entry of `model` (the default model when None)."""
    try:
        models = _request(f"{url.rstrip('/')}/v1/models")["models"]
    except (urllib.error.URLError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot list the models of {url}: {exc}") from exc
    for m in models:
        if (model is None and m.get("default")) or m.get("name") == model:
            return dict(m)
    names = ", ".join(str(m.get("name")) for m in models)
    raise ValueError(f"model {model!r} is not served at {url} (served: {names})")


def features_from_info(info: dict[str, Any]) -> tuple[Feature, ...]:
    by_side: dict[str, list[str]] = info["features"]
    builtin = BUILTIN_SCHEMAS.get(str(info.get("schema_name")))
    if builtin is not None:
        known = {f.name: f for f in features_of(builtin)}
        named = {name for side in SIDES for name in by_side.get(side, [])}
        if named == set(known):
            return tuple(known[n] for n in known)
    # an unknown schema: integers are valid values of dense and sparse features alike
    return tuple(Feature(name, side, "any") for side in SIDES for name in by_side.get(side, []))


def items_from_server(url: str, model: str | None, catalog_items: int) -> tuple[Item, ...]:
    k = max(1, min(catalog_items, DISCOVER_K))
    body: dict[str, Any] = {"user": {}, "k": k}
    if model is not None:
        body["model"] = model
    for attempt in range(RETRIES):
        try:
            reply = _request(f"{url.rstrip('/')}/recommend", body)
            break
        except urllib.error.HTTPError as exc:
            # scoring the whole catalog can outwait the deadline of a busy server
            if exc.code not in (503, 504) or attempt == RETRIES - 1:
                raise ValueError(
                    f"cannot read catalog item ids from {url}/recommend: {exc}"
                ) from exc
            time.sleep(0.5 * 2**attempt)
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read catalog item ids from {url}/recommend: {exc}") from exc
    items = tuple(Item(str(it["item_id"])) for it in reply["items"])
    if not items:
        raise ValueError(f"the model at {url} returned no catalog items; give a catalog file")
    return items


def discover(
    url: str,
    model: str | None,
    schema: Path | None = None,
    catalog: Path | None = None,
) -> tuple[tuple[Feature, ...], tuple[Item, ...]]:
    """(features, items) for `Traffic`: files where given, the server otherwise."""
    info: dict[str, Any] | None = None
    if schema is not None:
        features = features_of(load_schema(schema))
    else:
        info = model_info(url, model)
        features = features_from_info(info)
    if catalog is not None:
        items = load_catalog(catalog)
    else:
        info = info or model_info(url, model)
        items = items_from_server(url, model, int(info.get("catalog_items", DISCOVER_K)))
    return features, items
