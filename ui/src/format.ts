// Words for states and events, and time formatting. Pure functions, no DOM.

import type { EventKind, LinkState, RecoveryStrategy } from "./ipc";

export const strategyWords: Record<RecoveryStrategy, string> = {
  simple_retry: "simple retry",
  recreate: "recreate the client",
  refresh_and_recreate: "refresh the token and recreate",
  backoff: "back off",
};

/** The link state in words, for the header's status line. */
export function describeState(s: LinkState): string {
  switch (s.state) {
    case "idle": return "Idle";
    case "connecting": return "Connecting…";
    case "connected": return s.session_present ? "Connected (session resumed)" : "Connected";
    case "reconnecting": return `Reconnecting: attempt ${s.attempt} of ${s.max_attempts}`;
    case "recovering":
      return `Recovering (${strategyWords[s.strategy] ?? s.strategy}): cycle ${s.cycle} of ${s.max_cycles}`;
    case "gave_up": return `Gave up: ${s.reason}`;
    case "auth_rejected": return `Credentials refused: ${s.reason}`;
    case "paused": return "Paused";
    case "stopped": return "Stopped";
  }
}

/** A colour class for the state badge: ok, busy, bad or off. */
export function stateTone(s: LinkState): "ok" | "busy" | "bad" | "off" {
  switch (s.state) {
    case "connected": return "ok";
    case "connecting": case "reconnecting": case "recovering": return "busy";
    case "gave_up": case "auth_rejected": return "bad";
    default: return "off";
  }
}

/** When the next attempt is due, if the state has one. */
export function retryAt(s: LinkState): number | null {
  if ((s.state === "reconnecting" || s.state === "recovering") && s.retry_at) {
    const t = Date.parse(s.retry_at);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A duration for people: "850 ms", "28.8 s", "4 min 05 s", "3 h 12 min". */
export function duration(ms: number | null | undefined): string {
  if (ms == null) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return seconds(ms);
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  const m = Math.floor(s / 60);
  if (m < 1440) return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
  return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Local time as HH:MM:SS.mmm. */
export function clock(ts: string | number): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** How far `ts` is from `now`, for people: "in 45 s", "3 min ago", "in 1 h 05 min", "2 d ago". */
export function relative(ts: string | number, now = Date.now()): string {
  const t = typeof ts === "number" ? ts : Date.parse(ts);
  if (Number.isNaN(t)) return "";
  const ms = t - now;
  const a = Math.abs(ms);
  if (a < 1000) return "now";
  const s = Math.floor(a / 1000);
  const m = Math.floor(s / 60);
  const span =
    s < 60 ? `${s} s` : m < 60 ? `${m} min` : m < 2880 ? `${Math.floor(m / 60)} h ${pad(m % 60)} min` : `${Math.floor(m / 1440)} d`;
  return ms > 0 ? `in ${span}` : `${span} ago`;
}

/** A size in KiB, as the message limits are set. */
function kib(bytes: number): string {
  return `${Math.ceil(bytes / 1024).toLocaleString("en")} KiB`;
}

/** A link event in words, and how it should look. */
export function describeEvent(e: EventKind): { text: string; tone: "ok" | "busy" | "bad" | "info" } {
  switch (e.event) {
    case "connected":
      return { text: e.session_present ? "Connected (session resumed)" : "Connected", tone: "ok" };
    case "connection_interrupted": return { text: `Connection lost (${e.cause}): ${e.error}`, tone: "bad" };
    case "attempt_failed": return { text: `Attempt failed (${e.cause}): ${e.error}`, tone: "bad" };
    case "reconnecting":
      return { text: `Reconnecting: attempt ${e.attempt} of ${e.max_attempts} in ${seconds(e.delay_ms)}`, tone: "busy" };
    case "reconnection_failed":
      return { text: `Reconnection failed after ${e.attempts} attempt${e.attempts === 1 ? "" : "s"}`, tone: "bad" };
    case "recovery_attempt": {
      const how = strategyWords[e.strategy as RecoveryStrategy] ?? e.strategy;
      const refresh = e.refresh ? ", refreshing the token" : "";
      return { text: `Recovery: cycle ${e.cycle} of ${e.max_cycles} (${how}${refresh}) in ${seconds(e.delay_ms)}`, tone: "busy" };
    }
    case "recovered":
      return { text: `Recovered after ${duration(e.downtime_ms)}`, tone: "ok" };
    case "gave_up": return { text: `Gave up: ${e.reason}`, tone: "bad" };
    case "auth_rejected": return { text: `Credentials refused: ${e.reason}`, tone: "bad" };
    case "token_refreshed": return { text: "Token refreshed", tone: "info" };
    case "subscriptions_restored":
      return {
        text: e.skipped_because_session_present
          ? "Subscriptions kept by the broker (session resumed)"
          : `Restored ${e.count} subscription${e.count === 1 ? "" : "s"}`,
        tone: "info",
      };
    case "subscribe_failed": return { text: `Subscribing to ${e.topic} failed: ${e.reason}`, tone: "bad" };
    case "message": return { text: `Message on ${e.topic}`, tone: "info" };
    case "message_too_large":
      return { text: `Skipped a ${kib(e.size)} message on ${e.topic}: over the ${kib(e.limit)} limit`, tone: "bad" };
    case "outbox_queued": return { text: `${e.count} message${e.count === 1 ? "" : "s"} queued while offline`, tone: "info" };
    case "outbox_flushed": return { text: `Sent ${e.count} queued message${e.count === 1 ? "" : "s"}`, tone: "ok" };
    case "outbox_expired": return { text: `${e.count} queued message${e.count === 1 ? "" : "s"} expired`, tone: "bad" };
    case "outbox_dropped": return { text: `${e.count} queued message${e.count === 1 ? "" : "s"} dropped: ${e.reason}`, tone: "bad" };
    case "outbox_refused":
      return { text: `A queued ${kib(e.size)} message to ${e.topic} was set aside: ${e.reason}`, tone: "bad" };
    case "outbox_set_aside":
      return { text: `The outbox file could not be read (${e.reason}); kept as ${e.path}, a fresh one started`, tone: "bad" };
    case "stale": return { text: `Nothing on ${e.topic} for ${duration(e.silent_for_ms)}`, tone: "busy" };
    case "triggered": return { text: `Reconnect triggered: ${e.trigger}`, tone: "info" };
    case "paused": return { text: "Paused", tone: "info" };
    case "resumed": return { text: "Resumed", tone: "info" };
    case "stopped": return { text: "Stopped", tone: "info" };
  }
}
