// The UI's state: what the backend last told us, kept bounded. Batches arrive at most about ten
// times a second and may carry a thousand topic updates; each is folded in with plain loops and
// published as a few `$state.raw` values (one reactive write per batch, no per-message reactivity).

import type { Batch, DeviceCard, DeviceStatus, LinkState, Overview, TopicUpdate, UiError } from "./ipc";
import { clock, describeEvent } from "./format";

export const MAX_EVENTS = 300;
export const MAX_TOPICS = 500;
export const MAX_POINTS = 2000;
export const HISTORY_S = 2 * 3600;

export type TimelineEntry = { id: number; time: string; text: string; tone: string };

/** A bounded time series for uPlot: x in Unix seconds. */
export class Series {
  x: number[] = [];
  y: number[] = [];
  push(x: number, y: number) {
    this.x.push(x);
    this.y.push(y);
    const cutoff = x - HISTORY_S;
    let drop = Math.max(0, this.x.length - MAX_POINTS);
    while (drop < this.x.length && this.x[drop] < cutoff) drop++;
    if (drop > 0) {
      this.x.splice(0, drop);
      this.y.splice(0, drop);
    }
  }
  clear() {
    this.x = [];
    this.y = [];
  }
}

class Store {
  /** Active profile, demo flag, keychain availability (from get_overview / switch_profile). */
  overview = $state.raw<Overview | null>(null);
  link = $state.raw<LinkState>({ state: "connecting" });
  /** One card per device of the active link, in the profile's order (empty for plain MQTT). */
  devices = $state.raw<DeviceCard[]>([]);
  /** Newest first, at most MAX_EVENTS. */
  events = $state.raw<TimelineEntry[]>([]);
  /** At most MAX_TOPICS rows (the most recently updated), sorted by topic. */
  topics = $state.raw<TopicUpdate[]>([]);
  /** Whether topics were forgotten to keep the table bounded. */
  topicsCapped = $state(false);
  /** An error that belongs to no form field. */
  error = $state.raw<UiError | null>(null);
  /** Bumped when the chart series change, so charts redraw at most once per change. */
  chartVersion = $state(0);

  readonly temperature = new Series();
  readonly connected = new Series();

  #nextId = 1;
  #topicMap = new Map<string, TopicUpdate>(); // iteration order = least recently updated first
  #sortedTopics: string[] = [];
  #sawBatchState = false;
  #batchStates = 0;

  /** How many link states batches have brought so far. An overview asked for before the last of
   * them carries an older state than the window shows: pass this, read before asking, to
   * `applyOverview`. */
  get batchStates() {
    return this.#batchStates;
  }
  /** The newest status seen per device MAC, also from before the overview listed the device. */
  #latest = new Map<string, DeviceStatus>();

  applyOverview(o: Overview, fromStartup = false, askedAt?: number) {
    const switched = this.overview !== null && this.overview.profile !== o.profile;
    this.overview = o;
    if (switched) {
      this.#topicMap.clear();
      this.#sortedTopics = [];
      this.topics = [];
      this.topicsCapped = false;
      this.temperature.clear();
      this.connected.clear();
      this.#latest.clear();
      this.#note(`Switched to ${o.demo ? "the demo" : `profile ${o.profile}`}`);
    }
    // A window opened on a running link starts with what already happened on it.
    if ((fromStartup || switched) && this.events.filter((e) => e.tone !== "info").length === 0) {
      this.applyBatch({ state: null, events: o.recent_events, skipped_events: 0, topics: [] });
    }
    // A batch that arrived while get_overview was in flight is newer than the overview's state.
    const newerBatch = askedAt !== undefined && askedAt !== this.#batchStates;
    if (!(fromStartup && this.#sawBatchState) && !newerBatch) this.#setLink(o.state);
    // A status event that arrived while get_overview was in flight may be newer than the card's.
    this.devices = o.devices.map((c) => {
      const seen = this.#latest.get(c.mac);
      return seen && (c.status === null || newer(seen, c.status)) ? { ...c, status: seen } : c;
    });
    for (const c of this.devices) if (c.status) this.#latest.set(c.mac, c.status);
    const first = this.devices[0]?.status;
    if (first) this.#plot(first);
  }

  /**
   * The controls from a fresh overview of the same profile: a heater's feature object arrives
   * without an event, so cards still waiting for it ask the overview again.
   */
  applyControls(o: Overview) {
    if (this.overview?.profile !== o.profile) return;
    let changed = false;
    const next = this.devices.map((c) => {
      const fresh = o.devices.find((f) => f.mac === c.mac);
      if (!fresh || fresh.controls.known === c.controls.known) return c;
      changed = true;
      return { ...c, controls: fresh.controls };
    });
    if (changed) this.devices = next;
  }

  applyBatch(b: Batch) {
    if (b.state) {
      this.#sawBatchState = true;
      this.#batchStates++;
      this.#setLink(b.state);
    }
    if (b.events.length > 0 || b.skipped_events > 0) {
      const fresh: TimelineEntry[] = [];
      if (b.skipped_events > 0) {
        fresh.push({ id: this.#nextId++, time: clock(Date.now()), text: `${b.skipped_events} events skipped (too many to show)`, tone: "info" });
      }
      // Per-message events would flood the timeline; the messages table shows them.
      for (let i = b.events.length - 1; i >= 0 && fresh.length < MAX_EVENTS; i--) {
        const e = b.events[i];
        if (e.event === "message") continue;
        const { text, tone } = describeEvent(e);
        fresh.push({ id: this.#nextId++, time: clock(e.ts), text, tone });
      }
      if (fresh.length > 0) this.events = fresh.concat(this.events).slice(0, MAX_EVENTS);
    }
    if (b.topics.length > 0) this.#mergeTopics(b.topics);
  }

  /** A status from the device-status event or a confirmed command: goes to the card with its MAC. */
  applyDevice(d: DeviceStatus) {
    const seen = this.#latest.get(d.mac);
    if (seen && newer(seen, d)) return;
    this.#latest.set(d.mac, d);
    const i = this.devices.findIndex((c) => c.mac === d.mac);
    if (i < 0) return;
    const next = this.devices.slice();
    next[i] = { ...next[i], status: d };
    this.devices = next;
    // The chart follows the first device only.
    if (i === 0) this.#plot(d);
  }

  #plot(d: DeviceStatus) {
    const t = Date.parse(d.at);
    const x = (Number.isNaN(t) ? Date.now() : t) / 1000;
    const last = this.temperature.x.at(-1);
    if (last === undefined || x > last) {
      this.temperature.push(x, d.tank_f);
      this.chartVersion++;
    }
  }

  #setLink(s: LinkState) {
    const was = this.link.state === "connected";
    const now = s.state === "connected";
    this.link = s;
    if (this.connected.x.length === 0 || was !== now) {
      this.connected.push(Date.now() / 1000, now ? 1 : 0);
      this.chartVersion++;
    }
  }

  #note(text: string) {
    this.events = [{ id: this.#nextId++, time: clock(Date.now()), text, tone: "info" }, ...this.events].slice(0, MAX_EVENTS);
  }

  #mergeTopics(updates: TopicUpdate[]) {
    // Map order is recency, oldest first. Within one batch all updates are equally recent; new
    // topics go in before the updated ones already shown, so when more than MAX_TOPICS topics are
    // live the table keeps its rows instead of swapping hundreds of them every batch.
    const map = this.#topicMap;
    const known: TopicUpdate[] = [];
    let membershipChanged = false;
    for (const u of updates) {
      if (map.has(u.topic)) known.push(u);
      else {
        map.set(u.topic, u);
        membershipChanged = true;
      }
    }
    for (const u of known) {
      map.delete(u.topic);
      map.set(u.topic, u);
    }
    if (map.size > MAX_TOPICS) {
      let excess = map.size - MAX_TOPICS;
      this.topicsCapped = true;
      for (const key of map.keys()) {
        if (excess-- <= 0) break;
        map.delete(key);
      }
    }
    if (membershipChanged) this.#sortedTopics = [...map.keys()].sort();
    this.topics = this.#sortedTopics.map((k) => map.get(k)!);
  }
}

/** Whether status `a` arrived after status `b`. */
function newer(a: DeviceStatus, b: DeviceStatus): boolean {
  return Date.parse(a.at) > Date.parse(b.at);
}

export const store = new Store();
