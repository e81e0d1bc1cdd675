"""The open-loop runner against a small asyncio HTTP server with a known service time."""

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from loadtest.client import Target
from loadtest.runner import RateResult, RunConfig, merge, run_rate

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def http_server(
    delay_s: float, serial: bool, status: int = 200, idle_close_s: float = 60.0
) -> Callable[[], Handler]:
    """A keep-alive server answering every request after `delay_s` (one at a time if
    serial) that closes connections idle for `idle_close_s`, as uvicorn does after 5 s."""

    def make() -> Handler:
        lock = asyncio.Lock()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    try:
                        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), idle_close_s)
                    except TimeoutError:
                        return
                    length = 0
                    for line in head.decode().split("\r\n"):
                        if line.lower().startswith("content-length:"):
                            length = int(line.split(":")[1])
                    await reader.readexactly(length)
                    if serial:
                        async with lock:
                            await asyncio.sleep(delay_s)
                    else:
                        await asyncio.sleep(delay_s)
                    body = b'{"ok":true}'
                    writer.write(
                        f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        return handle

    return make


def run(make: Callable[[], Handler], config: RunConfig) -> RateResult:
    async def main() -> RateResult:
        server = await asyncio.start_server(make(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        target = Target("127.0.0.1", port)
        requests = [
            ("/score", target.post("/score", b"{}")),
            ("/recommend", target.post("/recommend", b"{}")),
        ]
        async with server:
            result = await run_rate(target, requests, config)
        await asyncio.sleep(0.01)  # let the handlers see their clients go and close
        return result

    return asyncio.run(main())


def ms(result: RateResult, q: float) -> float:
    value = result.percentile_ms(q)
    assert value is not None
    return value


def test_sends_on_schedule_while_responses_are_outstanding():
    # 40 ms service time, a request every 10 ms: a closed loop of one would manage 25/s
    result = run(http_server(0.04, serial=False), RunConfig(rate=100, duration_s=0.5))
    assert result.ok == 50 and result.errors == {}
    assert result.responses == {"/recommend": {"200": 25}, "/score": {"200": 25}}
    assert result.achieved_rps > 80
    assert np.all(result.latencies_s >= 0.04)
    assert ms(result, 50) < 80


def test_queueing_shows_in_latency():
    # a serial 20 ms server offered 100/s (2x its capacity): the backlog grows, and
    # latency from the scheduled send grows with it
    result = run(http_server(0.02, serial=True), RunConfig(rate=100, duration_s=0.4))
    assert result.ok == 40
    assert ms(result, 99) > 300
    assert ms(result, 50) > 100
    assert result.achieved_rps < 60


def test_over_the_cap_is_dropped_and_counted():
    result = run(
        http_server(0.2, serial=False), RunConfig(rate=100, duration_s=0.3, max_in_flight=5)
    )
    assert result.errors["dropped"] > 0
    assert result.ok + result.error_count == RunConfig(100, 0.3).count
    assert result.ok <= 5 * 2


def test_idle_connections_closed_by_the_server_are_not_errors():
    # a request every 100 ms, connections closed after 30 ms idle: every send finds
    # its pooled connection closed by the server
    result = run(http_server(0.0, serial=False, idle_close_s=0.03), RunConfig(10, 0.5))
    assert result.errors == {} and result.ok == 5


def test_errors_by_status_and_timeouts():
    bad = run(http_server(0.0, serial=False, status=503), RunConfig(rate=50, duration_s=0.2))
    assert bad.ok == 0 and bad.errors == {"503": 10}
    assert bad.percentile_ms(99) is None
    assert bad.summary()["p99_ms"] is None
    slow = run(http_server(0.5, serial=False), RunConfig(rate=20, duration_s=0.1, timeout_s=0.05))
    assert slow.errors == {"timeout": 2}


def test_summary_has_exact_percentiles():
    result = run(http_server(0.0, serial=False), RunConfig(rate=200, duration_s=0.25))
    s = result.summary()
    lat_ms = result.latencies_s * 1000
    assert s["p50_ms"] == pytest.approx(np.percentile(lat_ms, 50), abs=1e-3)
    assert s["p99_ms"] == pytest.approx(np.percentile(lat_ms, 99), abs=1e-3)
    assert s["scheduled"] == 50 and s["ok"] == 50 and s["errors"] == 0


def test_merge_keeps_every_sample_and_count():
    a = run(http_server(0.0, serial=False), RunConfig(rate=100, duration_s=0.2))
    b = run(http_server(0.0, serial=False, status=503), RunConfig(rate=100, duration_s=0.1))
    m = merge([a, b])
    assert m.ok == 20 and m.errors == {"503": 10}
    assert m.config.duration_s == pytest.approx(0.3) and m.summary()["scheduled"] == 30
    assert m.responses == {"/recommend": {"200": 10, "503": 5}, "/score": {"200": 10, "503": 5}}
    assert m.elapsed_s == pytest.approx(a.elapsed_s + b.elapsed_s)
    with pytest.raises(ValueError, match="different rates"):
        merge([a, run(http_server(0.0, serial=False), RunConfig(rate=50, duration_s=0.1))])


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"rate": 0}, "rate"), ({"duration_s": -1}, "duration"), ({"max_in_flight": 0}, "max_in")],
)
def test_bad_config_names_the_value(kwargs, word):
    args = {"rate": 10.0, "duration_s": 1.0, **kwargs}
    with pytest.raises(ValueError, match=word):
        RunConfig(**args)


def test_target_parse():
    assert Target.parse("http://127.0.0.1:8000") == Target("127.0.0.1", 8000)
    with pytest.raises(ValueError, match="https"):
        Target.parse("https://x")
