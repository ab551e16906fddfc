// The terminal page: xterm.js on a WebSocket to /v1/console/terminal. Binary messages are
// keystrokes and output; text messages are JSON controls. Output is acknowledged once drawn,
// which is what lets wicketd hold the session back when the page cannot keep up.

import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { Unicode11Addon } from "@xterm/addon-unicode11";
import { ClipboardAddon, type IClipboardProvider } from "@xterm/addon-clipboard";
import { h } from "./dom";

/** The most text a remote program may put on the clipboard with OSC 52. */
const MAX_OSC52 = 1 << 20;

/**
 * OSC 52 from the remote, one way: a program on the target (tmux, vim, `printf`) may put text
 * on the system clipboard, as in a local terminal; it may never read it (a query is answered
 * with nothing), or it could take what the user copied from elsewhere.
 */
const writeOnlyClipboard: IClipboardProvider = {
  readText: () => "",
  writeText: (selection, text) => {
    if (String(selection) === "c" && text.length <= MAX_OSC52) {
      return navigator.clipboard?.writeText(text).catch(() => {});
    }
  },
};

/** Acknowledge drawn output in steps of this many bytes (wicketd's window is 512 KiB). */
const ACK_STEP = 32 * 1024;

export function openTerminal(
  app: HTMLElement,
  target: string,
  runAs: string,
  topBar: (...extra: Node[]) => HTMLElement,
) {
  const status = h("span.term-status", { id: "term-status" }, `connecting to ${target}…`);
  const box = h("div.term", { id: "terminal" });
  const page = h("div.term-page", {}, topBar(h("span", {}, target), status), box);
  app.replaceChildren(page);

  const term = new Terminal({
    allowProposedApi: true, // the Unicode 11 width tables
    cursorBlink: true,
    scrollback: 5000,
    fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 14,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new Unicode11Addon());
  term.loadAddon(new ClipboardAddon(undefined, writeOnlyClipboard));
  term.unicode.activeVersion = "11";
  term.open(box);
  fit.fit();
  (window as any).wicketTerminal = term; // for the end-to-end tests and the console bench

  // Copy on selection: Ctrl-C and Ctrl-V stay the terminal's (an interrupt, a literal ^V);
  // paste comes through the browser's own paste (Ctrl-Shift-V, the context menu, the middle
  // button), which xterm.js turns into input.
  term.onSelectionChange(() => {
    const text = term.getSelection();
    if (text) navigator.clipboard?.writeText(text).catch(() => {});
  });

  const q = new URLSearchParams({ target, cols: String(term.cols), rows: String(term.rows) });
  if (runAs) q.set("run_as", runAs);
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/console/terminal?${q}`);
  ws.binaryType = "arraybuffer";
  const encoder = new TextEncoder();
  let ended = false;
  let unacked = 0;
  let ackTimer: number | undefined;
  const ack = () => {
    if (ackTimer !== undefined) { clearTimeout(ackTimer); ackTimer = undefined; }
    if (unacked > 0 && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: "ack", bytes: unacked }));
      unacked = 0;
    }
  };
  const send = (data: string) => { if (!ended && ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data)); };
  term.onData(send);
  term.onBinary((data) => {
    if (!ended && ws.readyState === WebSocket.OPEN) ws.send(Uint8Array.from(data, (c) => c.charCodeAt(0)));
  });
  term.onResize(({ cols, rows }) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
  });
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(box);

  const finish = (message: string) => {
    if (ended) return;
    ended = true;
    observer.disconnect();
    term.options.disableStdin = true;
    term.options.cursorBlink = false;
    status.textContent = "ended";
    page.append(h("div.ended", { id: "ended", role: "status" },
      h("span", { id: "end-reason" }, message),
      h("button", { onclick: () => { location.hash = "#/targets"; } }, "Back to targets")));
  };

  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      const event = JSON.parse(e.data);
      if (event.type === "started") {
        status.textContent = `connected${runAs ? ` as ${runAs}` : ""}`;
        term.focus();
      } else if (event.type === "ended") {
        finish(event.message);
      }
      return;
    }
    const bytes = new Uint8Array(e.data as ArrayBuffer);
    term.write(bytes, () => {
      unacked += bytes.length;
      if (unacked >= ACK_STEP) ack();
      else if (ackTimer === undefined) ackTimer = window.setTimeout(ack, 20);
    });
  };
  ws.onclose = () => finish("the connection to wicketd was lost");
  window.addEventListener("hashchange", () => { if (!ended) ws.close(); }, { once: true });
}
