"""Load through SIGTERM: is any request sent on an accepted connection left unanswered?

`clients` threads each hold a keep-alive HTTP/1.1 connection and send `/recommend`
requests back to back; `warm_s` later the server gets SIGTERM. A client reconnects when
a response says `Connection: close`, and stops when a connect is refused (the server no
longer listens: nothing was sent, nothing is lost). A request counts as lost when it
was sent on a connection the server had accepted and no response came back (a reset, or
the connection closed before the answer): the client cannot know whether it ran.
Meanwhile `/readyz` is polled on fresh connections to time the turn to 503.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

HEADERS = {"Content-Type": "application/json"}


@dataclass
class DrainResult:
    answered: int = 0  # responses received (any status)
    ok: int = 0  # of which 200
    lost: int = 0  # sent on an accepted connection, never answered
    refused: int = 0  # connects refused once the server stopped listening
    closing: int = 0  # responses that carried Connection: close
    readyz_503_s: float | None = None  # SIGTERM to the first 503 of /readyz
    exit_code: int | None = None
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {
            "errors": self.errors[:5]
        }


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.result = DrainResult()

    def add(self, **counts: int) -> None:
        with self.lock:
            for k, v in counts.items():
                setattr(self.result, k, getattr(self.result, k) + v)

    def lost(self, error: str) -> None:
        with self.lock:
            self.result.lost += 1
            self.result.errors.append(error)


def _client(port: int, body: bytes, stop_at: float, counter: _Counter) -> None:
    conn: http.client.HTTPConnection | None = None
    while time.monotonic() < stop_at:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.connect()
            except OSError:
                counter.add(refused=1)
                return
        try:
            conn.request("POST", "/recommend", body, HEADERS)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as exc:
            counter.lost(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = None
            continue
        counter.add(answered=1, ok=int(resp.status == 200))
        if resp.will_close:
            counter.add(closing=1)
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _readyz_503(port: int, t0: float, stop_at: float) -> float | None:
    while time.monotonic() < stop_at:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
        except OSError:
            return None  # no longer listening
        finally:
            conn.close()
        if status == 503:
            return time.monotonic() - t0
        time.sleep(0.005)
    return None


def load_through_sigterm(
    proc: subprocess.Popen[bytes],
    port: int,
    request: Mapping[str, object],
    *,
    clients: int = 32,
    warm_s: float = 2.0,
    timeout_s: float = 120.0,
) -> DrainResult:
    """Drive `clients` through a SIGTERM of `proc` (serving on `port`); wait for its exit."""
    counter = _Counter()
    body = json.dumps(request).encode()
    stop_at = time.monotonic() + timeout_s
    threads = [
        threading.Thread(target=_client, args=(port, body, stop_at, counter), daemon=True)
        for _ in range(clients)
    ]
    for t in threads:
        t.start()
    time.sleep(warm_s)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    counter.result.readyz_503_s = _readyz_503(port, t0, stop_at)
    for t in threads:
        t.join(max(0.0, stop_at - time.monotonic()))
    try:
        counter.result.exit_code = proc.wait(max(1.0, stop_at - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        counter.result.exit_code = proc.wait()
    return counter.result


def main(argv: list[str] | None = None) -> int:
    """`python -m loadtest.drain --serve NAME=ARTIFACT [--clients 32] [--rounds 5]`: a fresh
    `robe serve` per round, SIGTERM under load each time; the figures as JSON."""
    import argparse
    from pathlib import Path

    from loadtest.discover import items_from_server
    from loadtest.server import Server, ServerConfig
    from service.settings import split_model_arg

    parser = argparse.ArgumentParser(prog="python -m loadtest.drain")
    parser.add_argument("--serve", required=True, metavar="NAME=ARTIFACT")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--warm-s", type=float, default=4.0, help="load before the SIGTERM")
    parser.add_argument("--drain-s", type=float, default=2.0)
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    args = parser.parse_args(argv)
    name, path = split_model_arg(args.serve)
    rounds = []
    for r in range(args.rounds):
        config = ServerConfig(name, Path(path), extra_args=("--drain-s", str(args.drain_s)))
        server = Server(config)
        server.start()
        ids = [i.item_id for i in items_from_server(server.url, name, args.candidates)]
        body = {"user": {}, "candidates": ids[: args.candidates]}
        result = load_through_sigterm(
            server.process, server.port, body, clients=args.clients, warm_s=args.warm_s
        )
        rounds.append(result.to_json())
        print(f"round {r + 1}: {json.dumps(result.to_json())}", flush=True)
    out = {
        "clients": args.clients,
        "candidates": args.candidates,
        "warm_s": args.warm_s,
        "drain_s": args.drain_s,
        "rounds": rounds,
        "lost": sum(int(str(r["lost"])) for r in rounds),
        "exit_codes": [r["exit_code"] for r in rounds],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("lost", "exit_codes")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
