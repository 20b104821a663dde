"""Fault-injecting TCP proxy for the recovery benchmark.

One FaultProxy listens on 127.0.0.1:<ephemeral> and forwards every accepted
connection to an upstream broker port.  Each benchmarked client gets its own
proxy, so the proxy's accept log *is* that client's list of connection
attempts (an MQTT client opens one TCP connection per CONNECT attempt).

Modes:
  pass  forward bytes both ways.  If the upstream refuses (the broker is
        stopped) the client connection is reset, and the attempt is still
        counted: that is how "broker stop" attempts are measured.
  cut   simulate a dead link: every open connection is torn down and every new
        connection is reset right after accept (and counted).  Refusing at the
        TCP level instead (closing the listener) would make the attempts
        invisible, so we accept-then-reset.

All timestamps are time.monotonic(), the same clock the driver uses, so they
can be compared with the driver's outage window directly.

The driver (recovery.py) is synchronous and threaded; ProxyHub runs one
asyncio loop in a daemon thread and offers blocking wrappers.  The module can
also be run by hand for debugging:

    python3 bench/faultproxy.py --upstream-port 1883
    # then type: cut | pass | stats | quit
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

MODES = ("pass", "cut")
UPSTREAM_CONNECT_TIMEOUT = 5.0  # s; a local broker answers in ms, this only bounds a hang
READ_CHUNK = 65536


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close a connection with an RST rather than a FIN.

    SO_LINGER(on, 0) makes close() send RST: the peer sees ECONNRESET at once,
    which is the closest a user-space proxy gets to a refused/broken link, and
    no half-closed state lingers.
    """
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # already closed by the peer: nothing to reset
    writer.transport.abort()


@dataclass(eq=False)  # identity hashing: connections live in a set
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task] = field(default_factory=list)


class FaultProxy:
    """A single forwarding listener; must be used from its event loop's thread."""

    def __init__(self, name: str, upstream_port: int, upstream_host: str = "127.0.0.1",
                 listen_host: str = "127.0.0.1", listen_port: int = 0) -> None:
        self.name = name
        self.upstream = (upstream_host, upstream_port)
        self.listen = (listen_host, listen_port)
        self.mode = "pass"
        self.port: int | None = None
        # One entry per accepted TCP connection: (monotonic time, outcome).
        # outcome is "forwarded", "reset_cut" or "upstream_refused".
        self.accepts: list[tuple[float, str]] = []
        self._conns: set[_Conn] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, *self.listen)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        self._teardown_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        if mode == "cut":
            # Cut is immediate for live links too, otherwise a connected client
            # would not notice the outage until its keepalive fires.
            self._teardown_all()

    def reset_log(self) -> None:
        self.accepts.clear()

    def _teardown_all(self) -> None:
        for conn in list(self._conns):
            self._close_conn(conn)

    def _close_conn(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        _reset(conn.client)
        _reset(conn.upstream)
        for t in conn.tasks:
            t.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Timestamp first: the accept itself is the attempt we count.
        t = time.monotonic()
        if self.mode == "cut":
            self.accepts.append((t, "reset_cut"))
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), UPSTREAM_CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            self.accepts.append((t, "upstream_refused"))
            _reset(writer)
            return
        if self.mode == "cut":
            # The cut began while we were dialling upstream.
            self.accepts.append((t, "reset_cut"))
            _reset(writer)
            _reset(up_writer)
            return
        self.accepts.append((t, "forwarded"))
        conn = _Conn(writer, up_writer)
        self._conns.add(conn)
        try:
            conn.tasks = [asyncio.ensure_future(self._pump(reader, up_writer)),
                          asyncio.ensure_future(self._pump(up_reader, writer))]
            # Either direction ending means the MQTT connection is over; MQTT
            # has no use for half-close, so tear both sides down together.
            await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if conn in self._conns:
                self._conns.discard(conn)
                for w in (writer, up_writer):
                    w.transport.close()  # orderly FIN: this was a normal end
                for task in conn.tasks:
                    task.cancel()

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await src.read(READ_CHUNK)
                if not data:
                    return
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            return


class ProxyHub:
    """Runs FaultProxy instances on a private asyncio loop in a daemon thread.

    Every method blocks until the loop has done the work, so that when
    cut() returns the links really are down (the driver timestamps the outage
    right after).
    """

    CALL_TIMEOUT = 10.0  # s; loop calls are local and quick, this only bounds a wedged loop

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy", daemon=True)
        self._thread.start()
        self.proxies: dict[str, FaultProxy] = {}

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.CALL_TIMEOUT)

    def add(self, name: str, upstream_port: int) -> int:
        async def _add():
            proxy = FaultProxy(name, upstream_port)
            port = await proxy.start()
            self.proxies[name] = proxy
            return port
        return self._call(_add())

    def set_mode(self, mode: str) -> None:
        async def _set():
            for proxy in self.proxies.values():
                proxy.set_mode(mode)
        self._call(_set())

    def accepts(self, name: str) -> list[tuple[float, str]]:
        async def _get():
            return list(self.proxies[name].accepts)
        return self._call(_get())

    def remove_all(self) -> None:
        async def _stop():
            for proxy in self.proxies.values():
                await proxy.stop()
            self.proxies.clear()
        self._call(_stop())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self.remove_all()
        except Exception:  # noqa: BLE001 - best effort during shutdown
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=self.CALL_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()


def _main() -> int:
    ap = argparse.ArgumentParser(description="Interactive fault proxy (for debugging the benchmark).")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (default: ephemeral)")
    args = ap.parse_args()

    async def run() -> None:
        proxy = FaultProxy("manual", args.upstream_port, listen_port=args.port)
        port = await proxy.start()
        print(f"listening on 127.0.0.1:{port} -> 127.0.0.1:{args.upstream_port}; "
              "commands: cut | pass | stats | quit", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            cmd = line.strip()
            if not line or cmd == "quit":
                break
            if cmd in MODES:
                proxy.set_mode(cmd)
                print(f"mode={cmd}", flush=True)
            elif cmd == "stats":
                print(f"mode={proxy.mode} accepted={len(proxy.accepts)} open={len(proxy._conns)}", flush=True)
            elif cmd:
                print(f"unknown command {cmd!r}", flush=True)
        await proxy.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(_main())
