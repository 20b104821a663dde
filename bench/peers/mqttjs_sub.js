#!/usr/bin/env node
// MQTT.js peer for the recovery benchmark (bench/recovery.py).
//
// Subscribes with a persistent session and prints one JSON object per line on
// stdout; the driver timestamps each line as it reads it.  Reconnection is left
// at MQTT.js's defaults (reconnectPeriod 1000 ms, resubscribe: true) because
// the benchmark measures what users get out of the box.
'use strict';

const mqtt = require('mqtt');

function parseArgs(argv) {
  const out = { host: '127.0.0.1', port: 1883, topic: null, clientId: null };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    const val = argv[i + 1];
    if (val === undefined) throw new Error(`missing value for ${key}`);
    if (key === '--host') out.host = val;
    else if (key === '--port') out.port = Number(val);
    else if (key === '--topic') out.topic = val;
    else if (key === '--client-id') out.clientId = val;
    else throw new Error(`unknown argument ${key}`);
  }
  if (!out.topic || !out.clientId) throw new Error('--topic and --client-id are required');
  return out;
}

// Writes to a pipe are synchronous on Linux, so each line reaches the driver
// as soon as it is emitted (no buffering that would skew the timestamps).
function emit(obj) {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), ...obj }) + '\n');
}

const args = parseArgs(process.argv.slice(2));
const client = mqtt.connect(`mqtt://${args.host}:${args.port}`, {
  clientId: args.clientId,
  clean: false,          // persistent session: the broker queues QoS 1 while we are away
  protocolVersion: 4,    // MQTT 3.1.1, same as the other clients
  // reconnectPeriod: default (1000 ms, fixed)
});

// Subscribe once: MQTT.js queues it until the first CONNACK, and its default
// resubscribe option re-sends it after a reconnect whose session was lost.
client.subscribe(args.topic, { qos: 1 }, (err) => {
  emit(err ? { event: 'subscribe_failed', error: String(err) } : { event: 'subscribed' });
});

client.on('connect', (connack) => emit({ event: 'connected', session_present: !!connack.sessionPresent }));
client.on('reconnect', () => emit({ event: 'reconnecting' }));
client.on('close', () => emit({ event: 'disconnected' }));
client.on('offline', () => emit({ event: 'offline' }));
client.on('error', (err) => emit({ event: 'error', error: String(err && err.message ? err.message : err) }));
client.on('message', (topic, payload, packet) => {
  emit({ event: 'message', topic, payload: payload.toString('utf8'), qos: packet.qos, dup: !!packet.dup });
});

// The driver stops us with SIGTERM; exit without a DISCONNECT-driven session
// change (persistent session survives either way) and without hanging.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { client.end(true, () => process.exit(0)); setTimeout(() => process.exit(0), 500).unref(); });
}
