// The web console in a real Chromium, measured in the page: time from the Connect click to
// the first prompt, and keystroke echo through `stty raw -echo; exec cat`, from xterm.js's input
// (what a key event becomes) to the echo in xterm.js's buffer (`echo_ms`, what the CLI's figure
// is: the byte back at the terminal) and to the cell drawn on the next animation frame
// (`drawn_ms`). Prints one JSON object.
//
//   node bench/console.mjs URL USER PASSWORD TARGET [SAMPLES]
//
// Needs `npm ci` in crates/testkit/browser (playwright-core) and Debian's chromium.
import { createRequire } from "node:module";

const require = createRequire(new URL("../crates/testkit/browser/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [url, user, password, target, samplesArg] = process.argv.slice(2);
const samples = Number(samplesArg ?? 300);
const browser = await chromium.launch({
  executablePath: process.env.WICKET_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
});
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1100, height: 700 } });
const page = await context.newPage();

// What the first load transfers, compressed as sent.
let transferred = 0;
page.on("response", async (r) => {
  if (/\/assets\/.*\.(js|css)$/.test(r.url())) {
    const sizes = await r.request().sizes().catch(() => null);
    if (sizes) transferred += sizes.responseBodySize;
  }
});
await page.goto(url, { waitUntil: "networkidle" });
await page.fill("#user", user);
await page.fill("#password", password);
await page.click("#sign-in");
await page.waitForSelector(`[data-connect="${target}"]`);

// Click to prompt: the click, then the first output drawn.
const clickToPrompt = [];
for (let i = 0; i < 5; i++) {
  // The previous terminal must not be taken for the new one.
  await page.evaluate(() => { window.wicketTerminal = null; window.__clicked = performance.now(); });
  await page.click(`[data-connect="${target}"]`);
  const ms = await page.evaluate(() => new Promise((resolve) => {
    const poll = () => {
      const t = window.wicketTerminal;
      if (t && t.buffer.active.getLine(0)?.translateToString(true).trim()) {
        t.onRender ? requestAnimationFrame(() => resolve(performance.now() - window.__clicked))
          : resolve(performance.now() - window.__clicked);
      } else setTimeout(poll, 1);
    };
    poll();
  }));
  clickToPrompt.push(ms);
  if (i < 4) {
    await page.evaluate(() => { location.hash = "#/targets"; });
    await page.waitForSelector(`[data-connect="${target}"]`);
  }
}

// Echo: a raw remote cat, then one key at a time.
await page.evaluate(() => window.wicketTerminal.input("stty raw -echo; exec cat\r", true));
await page.waitForTimeout(1000);
const echo = await page.evaluate((n) => new Promise((resolve) => {
  const t = window.wicketTerminal;
  const parsed = [];
  const drawn = [];

  let i = 0;
  let t0 = 0;
  let state = "idle"; // "sent": waiting for the echo in the buffer; "parsed": for it drawn
  const want = () => String.fromCharCode(97 + (i % 26));
  const echoed = () => {
    const b = t.buffer.active;
    const line = b.getLine(b.cursorY + b.viewportY)?.translateToString(true) ?? "";
    return line.length > 0 && line.endsWith(want());
  };
  const next = () => {
    if (i === n) { subs.forEach((s) => s.dispose()); return resolve({ parsed, drawn }); }
    state = "sent";
    t0 = performance.now();
    t.input(want(), true);
  };
  const subs = [
    // The echo is in xterm.js's buffer: what the CLI's figure is (bytes back at the terminal).
    // After user input xterm.js parses a write at once, inside the WebSocket's message event,
    // so this is also when the echo reached the page.
    t.onWriteParsed(() => {
      if (state === "sent" && echoed()) { parsed.push(performance.now() - t0); state = "parsed"; }
    }),
    // xterm.js has drawn the rows that changed (on the browser's next animation frame).
    t.onRender(() => {
      if (state === "parsed") {
        drawn.push(performance.now() - t0);
        state = "idle";
        i++;
        setTimeout(next, 10);
      }
    }),
  ];
  next();
}), samples);
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
console.log(JSON.stringify({
  chromium: browser.version(),
  js_css_gzip_bytes: transferred,
  click_to_prompt_ms: { median: pct(clickToPrompt, 50), all: clickToPrompt.map((x) => +x.toFixed(1)) },
  echo_ms: { p50: pct(echo.parsed, 50), p99: pct(echo.parsed, 99), n: echo.parsed.length },
  drawn_ms: { p50: pct(echo.drawn, 50), p99: pct(echo.drawn, 99) },
}));
await browser.close();
