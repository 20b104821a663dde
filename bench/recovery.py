#!/usr/bin/env python3
"""Recovery benchmark: Tether vs paho-mqtt vs MQTT.js on Mosquitto under faults.

Run it through `bash bench/run.sh [options]` (that script installs the peers'
dependencies first).  See bench/README.md for how to read the results.

One *run* = one outage that all selected clients live through at the same
time.  Every client connects through its own FaultProxy listener (so accepted
TCP connections = that client's CONNECT attempts) to one Mosquitto.  A
publisher in this process, connected straight to the broker, publishes a QoS 1
message "seq:<n>" every 100 ms on bench/<runid>/seq.

Outage kinds:
  broker-stop  Mosquitto gets SIGTERM (persistence on, so sessions and queued
               QoS 1 messages are saved), stays down for the outage, and is
               restarted on the same port with the same database.  The
               publisher pauses while the broker is down.  "Back" = the
               restarted broker accepts TCP connections.
  link-cut     The broker stays up; every proxy drops its connections and
               resets new ones for the outage.  The publisher keeps going, so
               the broker queues for the offline sessions.  "Back" = proxies
               return to pass mode.

Per client and run:
  recovery_s         back -> first message line read from the client's stdout
  attempts_outage    proxy accepts from that client in [down, back)
  lost               acked seqs (from the client's first received seq on) never
                     received within 20 s of the client's recovery
  dups               message lines beyond the first per seq
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from faultproxy import ProxyHub  # noqa: E402  (needs the sys.path line above)

try:
    import paho.mqtt.client as mqtt  # the publisher needs it; so does the paho peer
except ImportError:  # pragma: no cover - explained to the user in main()
    mqtt = None

MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
TETHER_BIN = os.environ.get("TETHER_BIN", str(REPO_DIR / "target" / "release" / "tether"))
SETPRIV_BIN = shutil.which("setpriv")

ALL_CLIENTS = ("tether", "paho", "mqttjs")
ALL_KINDS = ("broker-stop", "link-cut")
CLIENT_IDS = {c: f"tether-bench-{c}" for c in ALL_CLIENTS}  # fixed ids: persistent sessions

PUBLISH_INTERVAL = 0.1          # s, per the benchmark spec
LOSS_WINDOW = 20.0              # s after a client's recovery to deliver everything
MIN_DRAIN_AFTER_LAST_PUB = 5.0  # s; the last messages need a moment even if recovery was long ago
PUBLISHER_MAX_SEQ = 200_000     # hard bound on the publish loop (~5.5 h at 10/s)
STOP_GRACE = 5.0                # s between SIGTERM and SIGKILL for any child
PAYLOAD_RE = re.compile(r"seq:(\d+)")
SKIPPED_RE = re.compile(r"skipped (\d+) events")


def now() -> float:
    return time.monotonic()


def sleep_until(t: float) -> None:
    while True:
        left = t - now()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def free_port() -> int:
    """An ephemeral port for the broker.

    The broker must come back on the *same* port after a restart, so we pick
    the number ourselves (bind to 0, read it, release it).  The small race with
    other programs is acceptable on a benchmark machine.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail_text(path: Path, n: int = 2000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-n:].decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------

class Children:
    """Every process the benchmark starts, so that all of them are stopped on
    exit, error or Ctrl-C.

    Each child gets its own session/process group (so a terminal Ctrl-C does
    not hit it before we decide how to stop it, and so we can signal the group
    it may have spawned).  When setpriv exists, children also get
    PDEATHSIG=KILL: if this driver is killed with SIGKILL, no mosquitto or
    client is left behind.
    """

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen] = []

    def spawn(self, argv: list[str], stdout, stderr) -> subprocess.Popen:
        if SETPRIV_BIN:
            argv = [SETPRIV_BIN, "--pdeathsig", "KILL", "--", *argv]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                start_new_session=True, cwd=str(REPO_DIR))
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM,
             timeout: float = STOP_GRACE) -> tuple[int | None, bool]:
        """Signal the child's group, wait, escalate to SIGKILL.

        Returns (exit code, whether SIGKILL was needed).
        """
        forced = False
        if proc.poll() is None:
            self._signal(proc, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                forced = True
                self._signal(proc, signal.SIGKILL)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass  # unkillable (D state); nothing more we can do
        if proc.poll() is not None and proc in self._procs:
            self._procs.remove(proc)
        return proc.returncode, forced

    @staticmethod
    def _signal(proc: subprocess.Popen, sig: int) -> None:
        # The pgid equals the child's pid (start_new_session); only signal it
        # while the child is unreaped, so the id cannot have been reused.
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        for proc in list(self._procs):
            self.stop(proc, timeout=3.0)


# --------------------------------------------------------------------------
# Broker
# --------------------------------------------------------------------------

class Broker:
    """A private Mosquitto with persistence in a temp dir, restartable on the same port."""

    def __init__(self, children: Children, workdir: Path, port: int) -> None:
        self.children = children
        self.workdir = workdir
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        # Running as root, mosquitto would drop to user "mosquitto", which
        # cannot write our 0700 temp dir, and persistence would silently fail.
        # Naming the current user keeps it as us (ignored when not root).
        user = pwd.getpwuid(os.getuid()).pw_name
        self.conf.write_text("\n".join([
            f"user {user}",
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {workdir}/",
            # Save every second as well as on SIGTERM, so even an unclean stop
            # would lose at most ~1 s of broker state.
            "autosave_interval 1",
            # We measure clients, not broker limits: never drop queued QoS 1
            # for an offline session (default cap is 1000 = 100 s at 10/s).
            "max_queued_messages 1000000",
            "set_tcp_nodelay true",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "",
        ]))

    def start(self, timeout: float = 10.0) -> float:
        """Start mosquitto; return the monotonic time it first accepts TCP."""
        self.proc = self.children.spawn([MOSQUITTO_BIN, "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = now() + timeout
        while now() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}:\n{tail_text(self.log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return now()
            except OSError:
                time.sleep(0.005)  # 5 ms polling sets the resolution of "broker is back"
        raise RuntimeError(f"mosquitto not listening on {self.port} after {timeout}s:\n{tail_text(self.log)}")

    def stop(self) -> dict:
        """SIGTERM (mosquitto saves its database on it) and wait for exit."""
        assert self.proc is not None
        code, forced = self.children.stop(self.proc, signal.SIGTERM, timeout=10.0)
        db = self.workdir / "mosquitto.db"
        self.proc = None
        return {"exit_code": code, "sigkilled": forced,
                "db_bytes": db.stat().st_size if db.exists() else None}

    def kill(self) -> None:
        if self.proc is not None:
            self.children.stop(self.proc)
            self.proc = None


# --------------------------------------------------------------------------
# Publisher
# --------------------------------------------------------------------------

class Publisher:
    """QoS 1 "seq:<n>" every PUBLISH_INTERVAL straight to the broker.

    Records (seq, monotonic send time, MQTTMessageInfo); a seq counts as
    published once the broker's PUBACK arrived (info.is_published()).
    """

    def __init__(self, port: int, topic: str) -> None:
        self.port = port
        self.topic = topic
        self.sent: list[tuple[int, float, object]] = []
        self._seq = 0
        self._connected = threading.Event()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._resume_now = threading.Event()
        self._thread: threading.Thread | None = None
        # Clean session: the publisher's own offline state is not under test.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tether-bench-publisher",
                                  clean_session=True, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc, p: (not rc.is_failure) and self._connected.set()
        self.client.on_disconnect = lambda c, u, f, rc, p: self._connected.clear()

    def connect(self, timeout: float = 10.0) -> None:
        self._connected.clear()
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(timeout):
            raise RuntimeError("publisher: no CONNACK within %.0fs" % timeout)

    def disconnect(self) -> None:
        # A clean DISCONNECT before the broker stops, so paho's own
        # auto-reconnect does not hammer the stopped broker meanwhile.
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
            self._connected.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="publisher", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        self._resume_now.set()  # publish at once, so the first post-restart message is not up to 100 ms late

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        next_t = now()
        while not self._stop.is_set() and self._seq < PUBLISHER_MAX_SEQ:
            if self._resume_now.is_set():
                self._resume_now.clear()
                next_t = now()
            if not self._paused.is_set() and self._connected.is_set():
                self._seq += 1
                info = self.client.publish(self.topic, f"seq:{self._seq}", qos=1)
                self.sent.append((self._seq, now(), info))
            next_t += PUBLISH_INTERVAL
            delay = next_t - now()
            if delay < 0:  # fell behind (e.g. paused): do not burst to catch up
                next_t = now()
                delay = 0
            # Waiting on the stop event is an interruptible sleep.  While
            # paused, poll every 10 ms so resume() takes effect at once.
            self._stop.wait(min(delay, 0.01) if self._paused.is_set() else delay)

    @staticmethod
    def _acked(info) -> bool:
        try:
            return bool(info.is_published())
        except (RuntimeError, ValueError):  # publish() itself failed (not connected, queue full)
            return False

    def wait_acks(self, timeout: float) -> None:
        deadline = now() + timeout
        while now() < deadline and not all(self._acked(i) for _, _, i in list(self.sent)):
            time.sleep(0.02)

    def acked(self) -> dict[int, float]:
        """seq -> send time, for every seq the broker acknowledged."""
        return {seq: t for seq, t, info in list(self.sent) if self._acked(info)}

    def close(self) -> None:
        self.stop()
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - may already be disconnected
            pass
        self.client.loop_stop()


# --------------------------------------------------------------------------
# Subscriber clients
# --------------------------------------------------------------------------

def client_argv(name: str, port: int, topic: str) -> list[str]:
    cid = CLIENT_IDS[name]
    if name == "tether":
        # Tether's default reconnection policy: no tuning flags on purpose.
        return [TETHER_BIN, "watch", f"mqtt://127.0.0.1:{port}", "--sub", topic,
                "--qos", "1", "--client-id", cid, "--json"]
    if name == "paho":
        return [sys.executable, "-u", str(BENCH_DIR / "peers" / "paho_sub.py"),
                "--host", "127.0.0.1", "--port", str(port), "--topic", topic, "--client-id", cid]
    if name == "mqttjs":
        return [shutil.which("node") or "node", str(BENCH_DIR / "peers" / "mqttjs_sub.js"),
                "--host", "127.0.0.1", "--port", str(port), "--topic", topic, "--client-id", cid]
    raise ValueError(name)


def client_missing(name: str) -> str | None:
    """Why a client cannot run here, or None if it can."""
    if name == "tether":
        if not (os.path.isfile(TETHER_BIN) and os.access(TETHER_BIN, os.X_OK)):
            return (f"Tether binary not found at {TETHER_BIN} "
                    "(build it with `cargo build --release`, or set TETHER_BIN)")
    elif name == "paho":
        if mqtt is None:
            return "paho-mqtt is not importable (run via `bash bench/run.sh`)"
    elif name == "mqttjs":
        if shutil.which("node") is None:
            return "node is not on PATH"
        if not (BENCH_DIR / "peers" / "node_modules" / "mqtt" / "package.json").exists():
            return "bench/peers/node_modules/mqtt is missing (run via `bash bench/run.sh`)"
    return None


@dataclass
class ClientProc:
    """One subscriber process and everything read from its stdout."""

    name: str
    topic: str
    proc: subprocess.Popen
    stdout_log: Path
    stderr_log: Path
    messages: list[tuple[float, int]] = field(default_factory=list)      # (read time, seq)
    events: list[tuple[float, dict]] = field(default_factory=list)       # non-message JSON lines
    noise: int = 0                                                       # non-JSON / foreign lines
    _thread: threading.Thread | None = None

    def start_reader(self) -> None:
        self._thread = threading.Thread(target=self._read, name=f"read-{self.name}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # Timestamp each line the moment it is read: that is "delivered to the
        # client" as far as the benchmark is concerned (all three clients print
        # on receipt and flush per line).
        with open(self.stdout_log, "w", encoding="utf-8") as log:
            for raw in iter(self.proc.stdout.readline, b""):
                t = now()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(f"{t:.6f} {line}\n")
                try:
                    obj = json.loads(line)
                except ValueError:
                    self.noise += 1
                    continue
                if not isinstance(obj, dict):
                    self.noise += 1
                    continue
                if obj.get("event") == "message":
                    m = PAYLOAD_RE.search(str(obj.get("payload", "")))
                    if obj.get("topic") == self.topic and m:
                        self.messages.append((t, int(m.group(1))))
                    else:
                        self.noise += 1
                else:
                    self.events.append((t, obj))

    def first_message_after(self, t0: float) -> float | None:
        for t, _ in list(self.messages):
            if t >= t0:
                return t
        return None


# --------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------

@dataclass
class Config:
    runs: int
    outages: list[float]
    kinds: list[str]
    clients: list[str]
    recovery_timeout: float
    settle: float
    tail: float
    subscribe_timeout: float
    results_dir: Path


def seq_ranges(seqs: list[int]) -> list[list[int]]:
    """[1,2,3,7] -> [[1,3],[7,7]]: compact lost-seq lists in the raw JSON."""
    out: list[list[int]] = []
    for s in sorted(seqs):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def run_once(cfg: Config, kind: str, outage: float, run_id: str, children: Children,
             hub: ProxyHub, logdir: Path) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    port = free_port()
    topic = f"bench/{run_id}/seq"
    broker = Broker(children, workdir, port)
    publisher: Publisher | None = None
    clients: dict[str, ClientProc] = {}
    result: dict = {"run_id": run_id, "kind": kind, "outage_s": outage, "topic": topic,
                    "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    raw: dict = {}
    try:
        broker.start()
        proxy_ports = {name: hub.add(name, port) for name in cfg.clients}
        publisher = Publisher(port, topic)
        publisher.connect()
        publisher.start()

        for name in cfg.clients:
            stderr_log = logdir / f"{run_id}-{name}.stderr.log"
            with open(stderr_log, "wb") as err:  # the child keeps its own copy of the fd
                proc = children.spawn(client_argv(name, proxy_ports[name], topic),
                                      stdout=subprocess.PIPE, stderr=err)
            cp = ClientProc(name, topic, proc, logdir / f"{run_id}-{name}.stdout.log", stderr_log)
            cp.start_reader()
            clients[name] = cp

        # Ready = every client has received a message, which proves it is
        # connected and subscribed.  Messages published before that are not
        # expected by it (see baseline below).
        deadline = now() + cfg.subscribe_timeout
        while now() < deadline and not all(c.messages for c in clients.values()):
            for c in clients.values():
                if c.proc.poll() is not None:
                    raise RuntimeError(f"{c.name} exited with {c.proc.returncode} before receiving "
                                       f"anything:\n{tail_text(c.stderr_log)}")
            time.sleep(0.05)
        silent = [c.name for c in clients.values() if not c.messages]
        if silent:
            raise RuntimeError(f"no message received by {silent} within {cfg.subscribe_timeout}s; "
                               + "; ".join(f"{n}: {tail_text(clients[n].stderr_log, 500)!r}" for n in silent))
        time.sleep(cfg.settle)

        # ---- the outage --------------------------------------------------
        if kind == "broker-stop":
            publisher.pause()
            publisher.wait_acks(2.0)
            publisher.disconnect()
            t_down = now()
            result["broker_stop"] = broker.stop()
            sleep_until(t_down + outage)
            t_back = broker.start()
            publisher.connect()
            publisher.resume()
        else:
            hub.set_mode("cut")  # returns once every link is down
            t_down = now()
            sleep_until(t_down + outage)
            hub.set_mode("pass")
            t_back = now()
        result["outage_actual_s"] = round(t_back - t_down, 3)

        # ---- recovery ----------------------------------------------------
        deadline = t_back + cfg.recovery_timeout
        while now() < deadline and not all(c.first_message_after(t_back) for c in clients.values()):
            time.sleep(0.02)
        # Keep publishing a little after the last client is back, so every
        # client also gets live (not only queued) traffic before we stop.
        time.sleep(cfg.tail)
        publisher.stop()
        publisher.wait_acks(5.0)
        t_pub_stop = now()
        acked = publisher.acked()
        sent_seqs = [s for s, _, _ in publisher.sent]

        # ---- wait for delivery (bounded by each client's loss window) ---
        def client_deadline(c: ClientProc) -> float:
            rec = c.first_message_after(t_back)
            if rec is None:
                return t_pub_stop  # never came back: nothing more to wait for
            return max(rec + LOSS_WINDOW, t_pub_stop + MIN_DRAIN_AFTER_LAST_PUB)

        def expected(c: ClientProc) -> set[int]:
            # Baseline: the first seq this client ever received; earlier seqs
            # were published before it had subscribed.
            base = min(s for _, s in c.messages)
            return {s for s in acked if s >= base}

        while True:
            pending = [c for c in clients.values()
                       if not expected(c) <= {s for _, s in c.messages} and now() < client_deadline(c)]
            if not pending:
                break
            time.sleep(0.1)

        # ---- metrics -----------------------------------------------------
        result["published"] = len(sent_seqs)
        result["acked"] = len(acked)
        result["clients"] = {}
        for name, c in clients.items():
            msgs = list(c.messages)
            seqs = [s for _, s in msgs]
            rec_t = c.first_message_after(t_back)
            exp = expected(c)
            got = set(seqs)
            lost = sorted(exp - got)
            attempts = hub.accepts(name)
            in_outage = [(t, o) for t, o in attempts if t_down <= t < t_back]
            until_rec = [(t, o) for t, o in attempts if t_down <= t <= (rec_t or now())]
            # Reconnection as the client itself reports it (first
            # "connected"/"recovered" event after back), for diagnosis.
            connected_evts = [(t, e) for t, e in c.events
                              if t >= t_back and e.get("event") in ("connected", "recovered")]
            result["clients"][name] = {
                "recovery_s": None if rec_t is None else round(rec_t - t_back, 3),
                "reconnected_event_s": round(connected_evts[0][0] - t_back, 3) if connected_evts else None,
                "session_present_after": [e.get("session_present") for _, e in connected_evts
                                          if "session_present" in e],
                "attempts_outage": len(in_outage),
                "attempts_until_recovered": len(until_rec),
                "attempt_times_s": [round(t - t_down, 3) for t, _ in until_rec],
                "baseline_seq": min(seqs) if seqs else None,
                "expected": len(exp),
                "received_unique": len(got & exp),
                "lost": len(lost),
                "lost_seqs": seq_ranges(lost),
                "lost_published_before_down": sum(1 for s in lost if acked[s] < t_down),
                "dups": len(seqs) - len(got),
                "msgs_during_outage": sum(1 for t, _ in msgs if t_down <= t < t_back),
                "unacked_received": len(got - set(acked)),
                "noise_lines": c.noise,
                # Tether reports on stderr when its printer lagged and dropped
                # events; such drops would otherwise look like lost messages.
                "stderr_skipped_events": sum(int(n) for n in SKIPPED_RE.findall(tail_text(c.stderr_log, 1 << 20))),
                "exit_code": c.proc.poll(),  # None = still running, as it should be
            }
            raw[name] = {
                "messages": [[round(t - t_back, 4), s] for t, s in msgs],
                "events": [[round(t - t_back, 4), e] for t, e in c.events],
                "accepts": [[round(t - t_back, 4), o] for t, o in attempts],
            }
        raw["published"] = [[s, round(t - t_back, 4), s in acked] for s, t, _ in publisher.sent]
        result["t_down_rel_back_s"] = round(t_down - t_back, 4)
    finally:
        for c in clients.values():
            children.stop(c.proc)
        if publisher is not None:
            publisher.close()
        broker.kill()
        try:
            hub.remove_all()
        except Exception:  # noqa: BLE001 - cleanup must not mask the real error
            pass
        if broker.log.exists():
            shutil.copy(broker.log, logdir / f"{run_id}-mosquitto.log")
        shutil.rmtree(workdir, ignore_errors=True)
    result["_raw"] = raw
    return result


# --------------------------------------------------------------------------
# Statistics and report
# --------------------------------------------------------------------------

def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (with 10 runs this is the maximum)."""
    s = sorted(values)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def fmt(x, nd: int = 2) -> str:
    """Seconds with nd decimals; counts (nd=0) as plain numbers (a median may be x.5)."""
    if x is None:
        return "n/a"
    return f"{x:g}" if nd == 0 else f"{x:.{nd}f}"


def scenario_label(kind: str, outage: float) -> str:
    return f"{kind} {outage:g} s"


def aggregate(cfg: Config, results: list[dict]) -> list[dict]:
    rows = []
    for outage in cfg.outages:
        for kind in cfg.kinds:
            runs = [r for r in results if r["kind"] == kind and r["outage_s"] == outage and "clients" in r]
            for name in cfg.clients:
                per = [r["clients"][name] for r in runs if name in r["clients"]]
                if not per:
                    continue
                rec = [p["recovery_s"] for p in per if p["recovery_s"] is not None]
                rows.append({
                    "scenario": scenario_label(kind, outage), "kind": kind, "outage_s": outage,
                    "client": name, "runs": len(per), "not_recovered": len(per) - len(rec),
                    "recovery_median_s": statistics.median(rec) if rec else None,
                    "recovery_p95_s": p95(rec) if rec else None,
                    "attempts_median": statistics.median([p["attempts_outage"] for p in per]),
                    "lost_median": statistics.median([p["lost"] for p in per]),
                    "lost_max": max(p["lost"] for p in per),
                    "dup_median": statistics.median([p["dups"] for p in per]),
                })
    return rows


def environment() -> dict:
    def cmd(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (out.stdout or out.stderr).strip()
            # mosquitto -h exits non-zero but prints its version; others must succeed.
            if out.returncode != 0 and "mosquitto" not in argv[0]:
                return "unknown"
            return text.splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            return "unknown"

    env = {
        "host": platform.node(), "os": platform.platform(), "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "mosquitto": cmd([MOSQUITTO_BIN, "-h"]),
        "node": cmd(["node", "--version"]),
        "paho_mqtt": getattr(sys.modules.get("paho.mqtt"), "__version__", "unknown") if mqtt else "missing",
        "tether_bin": TETHER_BIN,
        "tether_version": cmd([TETHER_BIN, "--version"]) if os.path.exists(TETHER_BIN) else "missing",
        "git_commit": cmd(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"]),
    }
    try:
        env["mqttjs"] = json.loads((BENCH_DIR / "peers/node_modules/mqtt/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        env["mqttjs"] = "missing"
    return env


def write_report(cfg: Config, meta: dict, results: list[dict], final: bool) -> None:
    rows = aggregate(cfg, results)
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    summary = {"meta": meta, "aggregate": rows,
               "runs": [{k: v for k, v in r.items() if k != "_raw"} for r in results]}
    (cfg.results_dir / "recovery.json").write_text(json.dumps(summary, indent=1) + "\n")

    env = meta["env"]
    lines = [
        "# Recovery benchmark",
        "",
        f"- command: `{meta['command']}`",
        f"- date: {meta['started_utc']} (UTC){'' if final else ' — INCOMPLETE, run still in progress or interrupted'}",
        f"- runs per scenario: {cfg.runs}; outages: {', '.join(f'{o:g} s' for o in cfg.outages)}; "
        f"kinds: {', '.join(cfg.kinds)}; clients: {', '.join(cfg.clients)}",
        f"- machine: {env['cpus']} CPUs, {env['os']}",
        f"- versions: {env['mosquitto']}; paho-mqtt {env['paho_mqtt']}; MQTT.js {env['mqttjs']}; "
        f"node {env['node']}; tether {env['tether_version']} (commit {env['git_commit']})",
        f"- raw per-run JSON and logs: `{meta['raw_dir']}`",
        "",
        "| scenario | client | recovery median (s) | recovery p95 (s) | attempts median | lost median | lost max | dup median |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rec_note = f" ({r['not_recovered']}/{r['runs']} never)" if r["not_recovered"] else ""
        lines.append(
            f"| {r['scenario']} (n={r['runs']}) | {r['client']} | {fmt(r['recovery_median_s'])}{rec_note} | "
            f"{fmt(r['recovery_p95_s'])} | {fmt(r['attempts_median'], 0)} | {fmt(r['lost_median'], 0)} | "
            f"{r['lost_max']} | {fmt(r['dup_median'], 0)} |")
    lines += [
        "",
        "How to read: *recovery* = seconds from the broker/link being back to the first message the",
        "client printed; *attempts* = TCP connections the client opened to its proxy during the outage",
        "(one per CONNECT attempt); *lost* = QoS 1 messages acked by the broker (from the client's first",
        f"received one on) that the client never printed within {LOSS_WINDOW:g} s of its recovery; *dup* = extra",
        "deliveries of an already received message. p95 is nearest-rank (with fewer than 20 runs it is the",
        "maximum). \"Back\" is when the proxies return to pass mode (link-cut) or when the restarted",
        "broker first accepts TCP, polled every 5 ms (broker-stop); the publisher reconnects and resumes",
        "right then, so after a broker stop a client that is already back waits a few ms for traffic.",
        "",
    ]
    errors = [r for r in results if "error" in r]
    if errors:
        lines += ["## Failed runs", ""]
        lines += [f"- {r['run_id']} ({scenario_label(r['kind'], r['outage_s'])}): {r['error'].splitlines()[0]}"
                  for r in errors]
        lines.append("")
    lines += ["<details><summary>Per-run values</summary>", "",
              "| run | scenario | client | recovery (s) | reconnect event (s) | attempts | lost | dup "
              "| session present after | notes |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name, c in r.get("clients", {}).items():
            # Flag what would make a row suspect rather than silently averaging it in.
            notes = []
            if c["exit_code"] is not None:
                notes.append(f"client exited early ({c['exit_code']})")
            if c["msgs_during_outage"]:
                notes.append(f"{c['msgs_during_outage']} msgs during outage")
            if c["lost"]:
                notes.append(f"lost seqs {c['lost_seqs'][:5]}")
            if c.get("stderr_skipped_events"):
                notes.append(f"client output skipped {c['stderr_skipped_events']} events")
            if c["noise_lines"]:
                notes.append(f"{c['noise_lines']} unparsed lines")
            lines.append(f"| {r['run_id']} | {scenario_label(r['kind'], r['outage_s'])} | {name} | "
                         f"{fmt(c['recovery_s'])} | {fmt(c['reconnected_event_s'])} | {c['attempts_outage']} | "
                         f"{c['lost']} | {c['dups']} | {c['session_present_after']} | {'; '.join(notes)} |")
    lines += ["", "</details>", ""]
    (cfg.results_dir / "recovery.md").write_text("\n".join(lines))


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv: list[str]) -> tuple[Config, bool]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="runs per (outage, kind) (default 10)")
    ap.add_argument("--outages", default="5,60", help="outage lengths in seconds, comma-separated (default 5,60)")
    ap.add_argument("--kinds", default=",".join(ALL_KINDS), help="broker-stop,link-cut (default both)")
    ap.add_argument("--clients", default=",".join(ALL_CLIENTS), help="tether,paho,mqttjs (default all)")
    ap.add_argument("--allow-missing", action="store_true",
                    help="skip (with a message) a client whose binary/deps are missing instead of failing")
    ap.add_argument("--recovery-timeout", type=float, default=150.0,
                    help="max seconds after back to wait for a client's first message (default 150; "
                         "paho's backoff tops out at 120 s)")
    ap.add_argument("--settle", type=float, default=2.0, help="steady-state seconds before the outage")
    ap.add_argument("--tail", type=float, default=3.0,
                    help="seconds to keep publishing after the last client recovered")
    ap.add_argument("--subscribe-timeout", type=float, default=30.0,
                    help="max seconds for all clients to receive their first message")
    ap.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    a = ap.parse_args(argv)

    def csv(s: str) -> list[str]:
        return [x.strip() for x in s.split(",") if x.strip()]

    try:
        outages = [float(x) for x in csv(a.outages)]
    except ValueError:
        ap.error(f"--outages must be numbers, got {a.outages!r}")
    kinds, clients = csv(a.kinds), csv(a.clients)
    for k in kinds:
        if k not in ALL_KINDS:
            ap.error(f"unknown kind {k!r} (choose from {', '.join(ALL_KINDS)})")
    for c in clients:
        if c not in ALL_CLIENTS:
            ap.error(f"unknown client {c!r} (choose from {', '.join(ALL_CLIENTS)})")
    if a.runs < 1 or not outages or any(o <= 0 for o in outages) or not kinds or not clients:
        ap.error("need --runs >= 1 and at least one positive outage, kind and client")
    cfg = Config(runs=a.runs, outages=outages, kinds=kinds, clients=clients,
                 recovery_timeout=a.recovery_timeout, settle=a.settle, tail=a.tail,
                 subscribe_timeout=a.subscribe_timeout, results_dir=a.results_dir.resolve())
    return cfg, a.allow_missing


def main(argv: list[str]) -> int:
    cfg, allow_missing = parse_args(argv)
    if mqtt is None:
        print("error: paho-mqtt is not installed for this Python; run `bash bench/run.sh`", file=sys.stderr)
        return 2
    if not os.access(MOSQUITTO_BIN, os.X_OK):
        print(f"error: mosquitto not found at {MOSQUITTO_BIN} (set MOSQUITTO_BIN)", file=sys.stderr)
        return 2
    for name in list(cfg.clients):
        why = client_missing(name)
        if why is None:
            continue
        if not allow_missing:
            print(f"error: client {name!r} cannot run: {why}\n"
                  f"       pass --allow-missing to skip it, or --clients to choose others", file=sys.stderr)
            return 2
        print(f"SKIP {name}: {why}", file=sys.stderr)
        cfg.clients.remove(name)
    if not cfg.clients:
        print("error: no client left to benchmark", file=sys.stderr)
        return 2

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    raw_dir = cfg.results_dir / "raw" / stamp
    logdir = raw_dir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": os.environ.get("BENCH_COMMAND") or " ".join(["python3", "bench/recovery.py", *argv]),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "raw_dir": str(raw_dir.relative_to(REPO_DIR)) if raw_dir.is_relative_to(REPO_DIR) else str(raw_dir),
        "config": {"runs": cfg.runs, "outages": cfg.outages, "kinds": cfg.kinds, "clients": cfg.clients,
                   "recovery_timeout": cfg.recovery_timeout, "settle": cfg.settle, "tail": cfg.tail,
                   "publish_interval": PUBLISH_INTERVAL, "loss_window": LOSS_WINDOW},
        "env": environment(),
    }

    # SIGTERM (e.g. from a CI timeout) takes the same clean-up path as Ctrl-C.
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    plan = [(i, outage, kind) for i in range(cfg.runs) for outage in cfg.outages for kind in cfg.kinds]
    # Interleave scenarios (run 1 of everything, then run 2, ...) so slow drift
    # on the machine spreads over all scenarios instead of biasing one.
    print(f"recovery benchmark: {len(plan)} runs, clients {cfg.clients}, raw output in {raw_dir}", flush=True)
    children = Children()
    hub = ProxyHub()
    results: list[dict] = []
    interrupted = False
    try:
        for n, (i, outage, kind) in enumerate(plan, 1):
            run_id = f"{stamp}-{n:03d}"
            print(f"[{n}/{len(plan)}] {scenario_label(kind, outage)} (repeat {i + 1}) ...", flush=True)
            try:
                res = run_once(cfg, kind, outage, run_id, children, hub, logdir)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - record, keep going, fail at the end
                res = {"run_id": run_id, "kind": kind, "outage_s": outage,
                       "error": f"{exc}\n{traceback.format_exc()}"}
                print(f"    FAILED: {exc}", flush=True)
            raw = res.pop("_raw", None)
            (raw_dir / f"{run_id}.json").write_text(json.dumps({**res, "raw": raw}) + "\n")
            results.append(res)
            for name, c in res.get("clients", {}).items():
                print(f"    {name:7s} recovery={fmt(c['recovery_s'])}s attempts={c['attempts_outage']} "
                      f"lost={c['lost']} dups={c['dups']} session_present_after={c['session_present_after']}",
                      flush=True)
            write_report(cfg, meta, results, final=False)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping all processes", file=sys.stderr, flush=True)
    finally:
        children.stop_all()
        hub.close()
    write_report(cfg, meta, results, final=not interrupted)
    print(f"\nwrote {cfg.results_dir / 'recovery.md'}\n")
    print((cfg.results_dir / "recovery.md").read_text().split("\nHow to read")[0])
    if interrupted:
        return 130
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
