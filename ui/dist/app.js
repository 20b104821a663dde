// A first, plain UI over Tether's commands and its batched `link-update` event. (The Svelte UI
// of issue 3 replaces it.)
const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const stateEl = document.getElementById("state");
const timeline = document.getElementById("timeline");
const topicsBody = document.querySelector("#topics tbody");
const topics = new Map();
const MAX_EVENTS = 200;

function describe(s) {
  switch (s.state) {
    case "connected": return `Connected${s.session_present ? " (session resumed)" : ""}`;
    case "reconnecting": return `Reconnecting: attempt ${s.attempt} of ${s.max_attempts}`;
    case "recovering": return `Recovering (${s.strategy}): cycle ${s.cycle} of ${s.max_cycles}`;
    case "gave_up": return `Gave up: ${s.reason}`;
    case "auth_rejected": return `Credentials refused: ${s.reason}`;
    default: return s.state;
  }
}

function showState(s) {
  stateEl.textContent = describe(s);
  document.getElementById("pause").textContent = s.state === "paused" ? "Resume" : "Pause";
}

listen("link-update", ({ payload: batch }) => {
  if (batch.state) showState(batch.state);
  for (const ev of batch.events) {
    const li = document.createElement("li");
    const { ts, event, profile, ...rest } = ev;
    li.textContent = `${ts.slice(11, 23)} ${event} ${JSON.stringify(rest)}`;
    timeline.prepend(li);
  }
  while (timeline.children.length > MAX_EVENTS) timeline.lastChild.remove();
  for (const t of batch.topics) {
    let row = topics.get(t.topic);
    if (!row) {
      row = topicsBody.insertRow();
      for (let i = 0; i < 4; i++) row.insertCell();
      row.cells[0].textContent = t.topic;
      topics.set(t.topic, row);
    }
    row.cells[1].textContent = t.count;
    row.cells[2].textContent = t.rate.toFixed(1);
    row.cells[3].textContent = t.last_payload + (t.truncated ? " …" : "");
  }
});

document.getElementById("retry").addEventListener("click", () => invoke("retry_now"));
document.getElementById("pause").addEventListener("click", async () => {
  const s = await invoke("get_state");
  await invoke(s.state === "paused" ? "resume" : "pause");
});
invoke("get_state").then(showState);
