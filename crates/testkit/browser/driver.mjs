// A real Chromium, driven one command per line: the console's end-to-end tests in Rust
// (crates/testkit/src/browser.rs) write `{"id":1,"op":"goto","args":["https://..."]}` on
// stdin and read `{"id":1,"ok":true,"value":...}` (or `"ok":false,"error":"..."`) on stdout.
// The browser trusts no certificate it is not told of: wicketd's private CA is accepted for
// the one test server only (ignoreHTTPSErrors is scoped to the context the test made).
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const executablePath = process.env.WICKET_CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
  args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
});
let context = null;
let page = null;

async function fresh(width = 1100, height = 700) {
  if (context) await context.close();
  context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width, height },
    permissions: ["clipboard-read", "clipboard-write"],
  });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") process.stderr.write(`[page] ${m.text()}\n`); });
  page.on("pageerror", (e) => process.stderr.write(`[page error] ${e.message}\n`));
}

const ops = {
  async context(width, height) { await fresh(width, height); },
  async goto(url) { const r = await page.goto(url); return r ? r.status() : null; },
  async fill(selector, text) { await page.fill(selector, text); },
  async click(selector) { await page.click(selector); },
  async press(selector, key) { await page.press(selector, key); },
  async keyboard(text) { await page.keyboard.type(text); },
  async key(key) { await page.keyboard.press(key); },
  async wait(selector, timeout) { await page.waitForSelector(selector, { timeout }); },
  async gone(selector, timeout) { await page.waitForSelector(selector, { state: "detached", timeout }); },
  async text(selector) { return await page.innerText(selector); },
  async count(selector) { return await page.locator(selector).count(); },
  async eval(source) { return await page.evaluate(source); },
  // Polls with evaluate (the DevTools protocol's, which the page's CSP does not govern):
  // waitForFunction would evaluate the string inside the page, which a CSP without
  // 'unsafe-eval' (the console's) rightly refuses.
  async waitFor(source, timeout) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const value = await page.evaluate(source).catch(() => null);
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${source}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  },
  async viewport(width, height) { await page.setViewportSize({ width, height }); },
  async screenshot(path) { await page.screenshot({ path }); },
  async cookies() { return await context.cookies(); },
  async paste(text) {
    // What the browser's paste does: a ClipboardEvent on xterm's textarea.
    await page.evaluate((t) => {
      const area = document.querySelector(".xterm-helper-textarea");
      const data = new DataTransfer();
      data.setData("text/plain", t);
      area.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    }, text);
  },
};

await fresh();
process.stdout.write(JSON.stringify({ id: 0, ok: true, value: browser.version() }) + "\n");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let id = null;
  try {
    const msg = JSON.parse(line);
    id = msg.id;
    const value = await ops[msg.op](...(msg.args ?? []));
    process.stdout.write(JSON.stringify({ id, ok: true, value: value ?? null }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ id, ok: false, error: String(e?.message ?? e) }) + "\n");
  }
}
await browser.close();
