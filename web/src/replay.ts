// Replaying a finished session and watching a live one, read-only, in xterm.js.
//
// Replay streams the recording (`GET /v1/sessions/{id}/recording`: the stored zstd chunks)
// and plays it as it arrives: a recording of hundreds of megabytes starts at once, and the
// page holds only a bounded queue of events ahead of the playback (reading pauses while it is
// full). A second, unpaced read of the same bytes computes their SHA-256 and compares it with
// the hash sealed when the session ended, as `wicket replay` does.

import { Terminal } from "@xterm/xterm";
import { Unicode11Addon } from "@xterm/addon-unicode11";
import { Decompress, decompress } from "fzstd";
import { sha256 } from "@noble/hashes/sha2.js";
import { h } from "./dom";

/** Events parsed and waiting to be played; reading pauses above this. */
const QUEUE = 20000;

type Event = [number, string, string];

function readOnlyTerminal(box: HTMLElement, cols: number, rows: number): Terminal {
  const term = new Terminal({
    allowProposedApi: true, cols, rows, scrollback: 5000, disableStdin: true,
    fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, monospace', fontSize: 14,
  });
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = "11";
  term.open(box);
  (window as any).wicketTerminal = term; // for the end-to-end tests
  return term;
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Hashes the stored bytes as they come and says whether they match the sealed hash. */
async function verify(id: string, status: HTMLElement) {
  status.textContent = "checking the recording against its sealed hash…";
  status.className = "offline";
  try {
    const r = await fetch(`/v1/sessions/${encodeURIComponent(id)}/recording`, { credentials: "same-origin" });
    if (!r.ok || !r.body) throw new Error(`wicketd answered ${r.status}`);
    const sealed = r.headers.get("x-wicket-recording-sha256");
    const hash = sha256.create();
    const reader = r.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
    }
    const got = hex(hash.digest());
    if (!sealed) {
      status.textContent = "no sealed hash (the session is still running, or its recording failed)";
    } else if (sealed === got) {
      status.textContent = "✓ matches the hash sealed when the session ended";
      status.className = "online";
    } else {
      status.textContent = `✗ does not match the sealed hash (sealed ${sealed}, got ${got}): the recording was altered`;
      status.className = "bad";
    }
  } catch (err) {
    status.textContent = `could not check the recording: ${err instanceof Error ? err.message : err}`;
    status.className = "bad";
  }
}

export async function showReplay(app: HTMLElement, bar: HTMLElement, id: string) {
  const speed = h("select", { id: "replay-speed" }, ...["1", "2", "4", "8"].map((s) => h("option", { value: s }, `${s}x`)));
  const idle = h("select", { id: "replay-idle" },
    h("option", { value: "2" }, "pauses up to 2 s"),
    h("option", { value: "0.1" }, "skip idle time"),
    h("option", { value: "Infinity" }, "real pauses"));
  const pause = h("button", { id: "replay-pause" }, "Pause");
  const state = h("span.offline", { id: "replay-state" }, "loading…");
  const verified = h("span", { id: "replay-verified" });
  const markers = h("ul.problems", { id: "replay-markers" });
  const box = h("div.term", { id: "terminal" });
  app.replaceChildren(h("div.term-page", {}, bar,
    h("div.replay-bar", {}, h("strong", {}, `Replay of ${id}`), speed, idle, pause, state, verified),
    box, markers));
  verify(id, verified);

  const r = await fetch(`/v1/sessions/${encodeURIComponent(id)}/recording`, { credentials: "same-origin" });
  if (!r.ok || !r.body) {
    let message = `wicketd answered ${r.status}`;
    try { message = (await r.json()).error ?? message; } catch { /* not JSON */ }
    state.textContent = message;
    state.className = "bad";
    return;
  }
  const compressed = r.headers.get("x-wicket-recording-encoding") === "zstd";
  const reader = r.body.getReader();
  const text = new TextDecoder();
  const queue: Event[] = [];
  let partial = "";
  let ended = false;
  let header: { width?: number; height?: number } | null = null;
  let failed = "";
  const lines = (s: string) => {
    partial += s;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (!line.trim()) continue;
      const v = JSON.parse(line);
      if (!header) header = v;
      else queue.push(v as Event);
    }
  };
  const inflate = new Decompress((chunk) => lines(text.decode(chunk, { stream: true })));
  // Reads until the queue is full (or the recording ends); called again as it drains.
  let reading = false;
  const fill = async () => {
    if (reading || ended) return;
    reading = true;
    try {
      while (!ended && queue.length < QUEUE) {
        const { done, value } = await reader.read();
        if (done) { ended = true; if (partial.trim()) lines("\n"); break; }
        if (compressed) inflate.push(value);
        else lines(text.decode(value, { stream: true }));
      }
    } catch (err) {
      failed = err instanceof Error ? err.message : String(err);
      ended = true;
    } finally {
      reading = false;
    }
  };
  await fill();
  while (!header && !ended) await fill();
  const hdr = header as { width?: number; height?: number } | null;
  const term = readOnlyTerminal(box, hdr?.width ?? 80, hdr?.height ?? 24);

  let paused = false;
  pause.addEventListener("click", () => { paused = !paused; pause.textContent = paused ? "Play" : "Pause"; });
  let last = 0;
  state.textContent = "playing";
  for (;;) {
    if (queue.length < QUEUE / 2) fill();
    if (!queue.length) {
      if (ended) break;
      await fill();
      continue;
    }
    const [t, kind, data] = queue.shift()!;
    const gap = Math.min(Math.max(0, t - last), Number(idle.value)) / Number(speed.value);
    last = t;
    if (gap > 0.002) await new Promise((res) => setTimeout(res, gap * 1000));
    while (paused) await new Promise((res) => setTimeout(res, 100));
    if (kind === "o") await new Promise<void>((res) => term.write(data, res));
    else if (kind === "z") await new Promise<void>((res) => term.write(decompress(fromBase64(data)), res));
    else if (kind === "r") {
      const [c, rr] = data.split("x").map(Number);
      if (c > 0 && rr > 0) term.resize(c, rr);
    } else if (kind === "m") markers.append(h("li", {}, `${t.toFixed(1)} s: ${data}`));
  }
  state.textContent = failed ? `stopped: ${failed}` : "ended";
  state.className = failed ? "bad" : "offline";
}

/** A live session, read-only: its screen as it is now, then its output as it happens. */
export async function showWatch(app: HTMLElement, bar: HTMLElement, id: string) {
  const state = h("span.offline", { id: "watch-state" }, "connecting…");
  const box = h("div.term", { id: "terminal" });
  app.replaceChildren(h("div.term-page", {}, bar, h("div.replay-bar", {}, h("strong", {}, `Watching ${id}`), state), box));
  const term = readOnlyTerminal(box, 120, 36);
  const controller = new AbortController();
  window.addEventListener("hashchange", () => controller.abort(), { once: true });
  try {
    const r = await fetch(`/v1/sessions/${encodeURIComponent(id)}/watch`, { credentials: "same-origin", signal: controller.signal });
    if (!r.ok || !r.body) {
      let message = `wicketd answered ${r.status}`;
      try { message = (await r.json()).error ?? message; } catch { /* not JSON */ }
      throw new Error(message);
    }
    state.textContent = "live, read-only";
    const reader = r.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await new Promise<void>((res) => term.write(value, res));
    }
    state.textContent = "the session ended";
  } catch (err) {
    if (!controller.signal.aborted) {
      state.textContent = err instanceof Error ? err.message : String(err);
      state.className = "bad";
    }
  }
}
