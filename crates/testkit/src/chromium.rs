//! A real Chromium (Debian's `chromium`) for the web console's tests, driven through
//! `browser/driver.mjs` (npm `playwright-core`, pinned by `browser/package-lock.json`; install
//! it with `npm ci` in `crates/testkit/browser`). Tests that need it carry
//! `#[cfg_attr(not(has_chromium), ignore = "…")]` from the test crate's build script.
//!
//! One command per call: each method sends a JSON line and waits for its answer, so a test
//! reads as the steps a person takes (go to, fill, click, wait for text).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The driver's directory (`package.json`, `driver.mjs`, `node_modules`).
pub fn driver_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Where screenshots go: `target/console-screenshots/`, kept as the tests' artifacts.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
}

/// How long one step may take (a page load, a wait for text).
const STEP: Duration = Duration::from_secs(30);

/// A running browser; killed on drop.
pub struct Chromium {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next: u64,
    /// The browser's version, as it reports it.
    pub version: String,
}

impl Chromium {
    /// Starts Chromium headless with one fresh context (1100x700, no cookies).
    pub async fn start() -> Result<Chromium> {
        let dir = driver_dir();
        if !dir.join("node_modules/playwright-core").is_dir() {
            bail!(
                "playwright-core is missing: run `npm ci` in {}",
                dir.display()
            );
        }
        let mut child = Command::new("node")
            .arg("driver.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawn node driver.mjs")?;
        let stdin = child.stdin.take().context("driver stdin")?;
        let lines = BufReader::new(child.stdout.take().context("driver stdout")?).lines();
        let mut browser = Chromium {
            child,
            stdin,
            lines,
            next: 1,
            version: String::new(),
        };
        browser.version = browser
            .answer(0)
            .await
            .context("Chromium did not start")?
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(browser)
    }

    /// Runs one driver operation and returns its value.
    pub async fn call(&mut self, op: &str, args: Value) -> Result<Value> {
        let id = self.next;
        self.next += 1;
        let line = json!({ "id": id, "op": op, "args": args }).to_string() + "\n";
        self.stdin.write_all(line.as_bytes()).await?;
        self.answer(id)
            .await
            .with_context(|| format!("browser: {op} {args}"))
    }

    async fn answer(&mut self, id: u64) -> Result<Value> {
        let line = tokio::time::timeout(STEP + Duration::from_secs(5), self.lines.next_line())
            .await
            .context("the browser did not answer")??
            .context("the browser exited")?;
        let v: Value =
            serde_json::from_str(&line).with_context(|| format!("driver said {line}"))?;
        if v["id"].as_u64() != Some(id) {
            bail!("driver answered {line} to request {id}");
        }
        match v["ok"].as_bool() {
            Some(true) => Ok(v["value"].clone()),
            _ => bail!("{}", v["error"].as_str().unwrap_or("failed")),
        }
    }

    /// A fresh context (no cookies) with a viewport of `width` x `height`.
    pub async fn fresh(&mut self, width: u32, height: u32) -> Result<()> {
        self.call("context", json!([width, height])).await.map(drop)
    }

    /// Loads `url`; returns the HTTP status.
    pub async fn goto(&mut self, url: &str) -> Result<Option<u16>> {
        Ok(self
            .call("goto", json!([url]))
            .await?
            .as_u64()
            .map(|s| s as u16))
    }

    pub async fn fill(&mut self, selector: &str, text: &str) -> Result<()> {
        self.call("fill", json!([selector, text])).await.map(drop)
    }

    pub async fn click(&mut self, selector: &str) -> Result<()> {
        self.call("click", json!([selector])).await.map(drop)
    }

    /// Types `text` into whatever has the focus, key by key.
    pub async fn type_text(&mut self, text: &str) -> Result<()> {
        self.call("keyboard", json!([text])).await.map(drop)
    }

    /// Presses one key or chord (`Enter`, `Control+C`).
    pub async fn key(&mut self, key: &str) -> Result<()> {
        self.call("key", json!([key])).await.map(drop)
    }

    /// Pastes `text` as the browser's paste would.
    pub async fn paste(&mut self, text: &str) -> Result<()> {
        self.call("paste", json!([text])).await.map(drop)
    }

    /// Waits until `selector` is on the page.
    pub async fn wait(&mut self, selector: &str) -> Result<()> {
        self.call("wait", json!([selector, STEP.as_millis() as u64]))
            .await
            .map(drop)
    }

    /// Waits until nothing matches `selector` any more.
    pub async fn gone(&mut self, selector: &str) -> Result<()> {
        self.call("gone", json!([selector, STEP.as_millis() as u64]))
            .await
            .map(drop)
    }

    /// The visible text of `selector`.
    pub async fn text(&mut self, selector: &str) -> Result<String> {
        Ok(self
            .call("text", json!([selector]))
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// How many elements match `selector`.
    pub async fn count(&mut self, selector: &str) -> Result<u64> {
        Ok(self
            .call("count", json!([selector]))
            .await?
            .as_u64()
            .unwrap_or(0))
    }

    /// Evaluates a JavaScript expression in the page.
    pub async fn eval(&mut self, source: &str) -> Result<Value> {
        self.call("eval", json!([source])).await
    }

    /// Waits until a JavaScript expression is truthy, within `timeout`; returns its value.
    pub async fn wait_for(&mut self, source: &str, timeout: Duration) -> Result<Value> {
        self.call("waitFor", json!([source, timeout.as_millis() as u64]))
            .await
    }

    pub async fn viewport(&mut self, width: u32, height: u32) -> Result<()> {
        self.call("viewport", json!([width, height]))
            .await
            .map(drop)
    }

    /// Saves a screenshot as `target/console-screenshots/<name>.png`; returns the path.
    pub async fn screenshot(&mut self, name: &str) -> Result<PathBuf> {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        self.call("screenshot", json!([path])).await?;
        Ok(path)
    }

    /// The cookies of the current context.
    pub async fn cookies(&mut self) -> Result<Vec<Value>> {
        Ok(self
            .call("cookies", json!([]))
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// What the console's terminal shows: its buffer's lines, trailing spaces cut.
    pub async fn terminal_text(&mut self) -> Result<String> {
        Ok(self
            .eval(TERMINAL_TEXT)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Waits until the terminal shows `needle` somewhere in its buffer.
    pub async fn wait_terminal(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let check = format!(
            "(() => {{ const t = {TERMINAL_TEXT}; return t.includes({}); }})()",
            serde_json::to_string(needle)?
        );
        match self.wait_for(&check, timeout).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let shown = self.terminal_text().await.unwrap_or_default();
                bail!("the terminal never showed {needle:?} ({e}); it shows:\n{shown}")
            }
        }
    }
}

/// The console keeps its xterm.js `Terminal` as `window.wicketTerminal`.
const TERMINAL_TEXT: &str = "(() => { const t = window.wicketTerminal; if (!t) return ''; \
    const b = t.buffer.active; const out = []; \
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true)); \
    return out.join('\\n'); })()";

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
