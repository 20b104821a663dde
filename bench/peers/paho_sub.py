"""paho-mqtt peer for the recovery benchmark (bench/recovery.py).

Subscribes with a persistent session and prints one JSON object per line on
stdout (flushed per line, so the driver's read time is the delivery time).
Reconnection uses paho's documented knobs: reconnect_delay_set(1, 120) and
loop_forever(retry_first_connection=True), i.e. exponential backoff 1 s -> 120 s.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import datetime, timezone

import paho.mqtt.client as mqtt


def emit(**obj) -> None:
    ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    print(json.dumps({"ts": ts, **obj}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--client-id", required=True)
    args = ap.parse_args()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=args.client_id,
        clean_session=False,  # persistent session: the broker queues QoS 1 while we are away
        protocol=mqtt.MQTTv311,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=120)

    def on_connect(client, userdata, flags, reason_code, properties):
        emit(event="connected", session_present=bool(flags.session_present), reason=str(reason_code))
        if not reason_code.is_failure:
            # paho's documented pattern: (re)subscribe in on_connect, so a lost
            # session is repaired; with a kept session it is a harmless no-op.
            client.subscribe(args.topic, qos=1)

    def on_disconnect(client, userdata, flags, reason_code, properties):
        emit(event="disconnected", reason=str(reason_code))

    def on_connect_fail(client, userdata):
        emit(event="connect_failed")

    def on_message(client, userdata, msg):
        emit(event="message", topic=msg.topic, payload=msg.payload.decode("utf-8", "replace"),
             qos=msg.qos, dup=bool(msg.dup))

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_connect_fail = on_connect_fail
    client.on_message = on_message

    # SIGTERM from the driver: leave loop_forever promptly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    client.connect_async(args.host, args.port, keepalive=60)
    try:
        client.loop_forever(retry_first_connection=True)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
