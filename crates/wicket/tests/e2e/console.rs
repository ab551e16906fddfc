//! The web console: in a real Chromium ([`in_chromium`], needs Debian's `chromium` and
//! `playwright-core`), and the refusals a page cannot get around, checked with raw HTTPS
//! ([`forged_requests_are_refused`]).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wicket_testkit::chromium::Chromium;
use wicket_testkit::harness::ADMIN_PASSWORD;
use wicket_testkit::{bins, Harness};

/// alice may reach the targets tagged env=prod, as anyone; everyone may list targets.
const POLICY: &str = r#"
permit(principal, action, resource) when { principal.admin };
permit(principal, action == Wicket::Action::"list_targets", resource);
permit(principal, action == Wicket::Action::"connect", resource)
  when { principal.name == "alice" && resource.hasTag("env") && resource.getTag("env") == "prod" };
"#;

async fn setup() -> Result<Harness> {
    let mut h = Harness::start(bins!()).await?;
    h.add_agent_tagged("web-1", &["env=prod"]).await?;
    h.add_agent_tagged("db-1", &["env=db"]).await?;
    let file = h.dir.path().join("policy.cedar");
    std::fs::write(&file, POLICY)?;
    h.admin
        .ok(&["admin", "policies", "set", file.to_str().context("path")?])
        .await?;
    h.create_user("alice", "alice-password", false).await?;
    Ok(h)
}

/// Signs in through the page's form and waits for the targets.
async fn sign_in(b: &mut Chromium, h: &Harness, user: &str, password: &str) -> Result<()> {
    b.goto(&h.server.url).await?;
    b.wait("#user").await?;
    b.fill("#user", user).await?;
    b.fill("#password", password).await?;
    b.click("#sign-in").await?;
    b.wait("table#targets").await
}

/// The terminal's rows and columns, as xterm.js has them.
async fn term_size(b: &mut Chromium) -> Result<(u64, u64)> {
    let v = b
        .eval("[window.wicketTerminal.rows, window.wicketTerminal.cols]")
        .await?;
    Ok((v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0)))
}

/// Waits until the terminal's session is open (and the terminal has the focus).
async fn wait_connected(b: &mut Chromium) -> Result<()> {
    b.wait_for(
        "document.querySelector('#term-status')?.textContent.startsWith('connected')",
        Duration::from_secs(10),
    )
    .await
    .map(drop)
}

/// Types a command line into the terminal and waits for `expect` in its output.
async fn run(b: &mut Chromium, line: &str, expect: &str) -> Result<()> {
    b.type_text(line).await?;
    b.key("Enter").await?;
    b.wait_terminal(expect, Duration::from_secs(10)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_chromium),
    ignore = "needs Debian's chromium and playwright-core (`npm ci` in crates/testkit/browser)"
)]
async fn in_chromium() -> Result<()> {
    let h = setup().await?;
    let mut b = Chromium::start().await?;

    // Sign-in: a wrong password is told on the page; the right one shows the targets.
    b.goto(&h.server.url).await?;
    b.wait("#user").await?;
    b.screenshot("sign-in").await?;
    b.fill("#user", "alice").await?;
    b.fill("#password", "wrong").await?;
    b.click("#sign-in").await?;
    b.wait_for(
        "document.querySelector('#login-error')?.textContent.includes('invalid')",
        Duration::from_secs(10),
    )
    .await?;
    sign_in(&mut b, &h, "alice", "alice-password").await?;
    let cookies = b.cookies().await?;
    let cookie = cookies
        .iter()
        .find(|c| c["name"] == "__Host-wicket")
        .context("no session cookie")?;
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["secure"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert_eq!(b.count("#nav-admin").await?, 0, "alice is no administrator");

    // Targets: both listed; Connect only where the policy allows it; filters by text and tag.
    b.wait_for(
        "document.querySelectorAll('#targets tbody tr').length === 2",
        Duration::from_secs(10),
    )
    .await?;
    assert_eq!(b.count("[data-connect='web-1']").await?, 1);
    assert_eq!(
        b.count("[data-connect='db-1']").await?,
        0,
        "db-1 is not alice's to reach"
    );
    b.fill("#filter", "db").await?;
    assert_eq!(b.count("#targets tbody tr").await?, 1);
    assert_eq!(b.count("tr[data-name='db-1']").await?, 1);
    b.fill("#filter", "").await?;
    b.fill("#tag-filter", "env=prod").await?;
    assert_eq!(b.count("#targets tbody tr").await?, 1);
    assert_eq!(b.count("tr[data-name='web-1']").await?, 1);
    b.fill("#tag-filter", "").await?;
    b.screenshot("targets").await?;

    // Connect: the shell starts at the browser's size, and echoes what is typed.
    let clicked = Instant::now();
    b.click("[data-connect='web-1']").await?;
    wait_connected(&mut b).await?;
    run(&mut b, "echo console-$((6 * 7))-ok", "console-42-ok").await?;
    eprintln!("first echo {:?} after the click", clicked.elapsed());
    let (rows, cols) = term_size(&mut b).await?;
    assert!(
        cols > 80 && rows > 24,
        "{cols}x{rows}: not the browser's size"
    );
    run(&mut b, "stty size", &format!("{rows} {cols}")).await?;

    // OSC 52 from the remote puts text on the clipboard; a query gets nothing back.
    run(
        &mut b,
        r"printf '\033]52;c;%s\a' $(printf osc52-copied | base64); echo osc-sent",
        "osc-sent",
    )
    .await?;
    b.wait_for(
        "navigator.clipboard.readText().then((t) => t === 'osc52-copied')",
        Duration::from_secs(5),
    )
    .await
    .context("OSC 52 did not reach the clipboard")?;

    // Resize the window: `stty size` follows.
    b.viewport(760, 480).await?;
    b.wait_for(
        &format!("window.wicketTerminal.cols !== {cols}"),
        Duration::from_secs(10),
    )
    .await?;
    let (rows2, cols2) = term_size(&mut b).await?;
    run(&mut b, "clear; stty size", &format!("{rows2} {cols2}")).await?;
    b.viewport(1100, 700).await?;

    // CJK: two cells each, so what follows lands in the fifth column.
    run(
        &mut b,
        r"clear; printf '\346\274\242\345\255\227|\n'",
        "漢字|",
    )
    .await?;
    let cell = b
        .eval(
            "(() => { const b = window.wicketTerminal.buffer.active; \
             for (let y = 0; y < b.length; y++) { const l = b.getLine(y); \
               if (l.translateToString(true).startsWith('漢字|')) \
                 return [l.getCell(0).getWidth(), l.getCell(4).getChars()]; } return null; })()",
        )
        .await?;
    assert_eq!(cell, json!([2, "|"]), "wide characters misplaced");

    // Ctrl-C stops `yes` at once, though it floods the page.
    b.type_text("yes wicket-flood").await?;
    b.key("Enter").await?;
    b.wait_terminal("wicket-flood\nwicket-flood", Duration::from_secs(10))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let interrupted = Instant::now();
    b.key("Control+C").await?;
    run(&mut b, "clear; echo stopped-$((1 + 1))", "stopped-2").await?;
    let stop = interrupted.elapsed();
    assert!(
        stop < Duration::from_secs(3),
        "Ctrl-C took {stop:?} to stop yes"
    );
    eprintln!("Ctrl-C to prompt: {stop:?}");

    // Heavy output does not freeze the page: it answers while three million lines go by,
    // and the prompt comes back after them.
    b.type_text("clear; seq 1 3000000; echo seq-$((3 * 3))-done")
        .await?;
    b.key("Enter").await?;
    b.wait_for(
        "window.wicketTerminal.buffer.active.length > 2000",
        Duration::from_secs(10),
    )
    .await?;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let asked = Instant::now();
        b.eval("document.title").await?;
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "the page froze for {slowest:?}"
    );
    b.wait_terminal("seq-9-done", Duration::from_secs(120))
        .await?;
    eprintln!("the page answered within {slowest:?} during the flood");

    // A pasted block of ten lines arrives once, line for line.
    let file = format!("/tmp/wicket-console-paste-{}", std::process::id());
    run(&mut b, &format!("clear; cat > {file}"), "").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let block: String = (1..=10).map(|i| format!("pasted line {i}\n")).collect();
    b.paste(&block).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.key("Control+D").await?;
    run(
        &mut b,
        &format!("clear; echo lines=$(wc -l < {file}) unique=$(sort -u {file} | wc -l)"),
        "lines=10 unique=10",
    )
    .await?;
    let pasted = std::fs::read_to_string(&file)?;
    let _ = std::fs::remove_file(&file);
    assert_eq!(pasted, block);
    b.screenshot("terminal").await?;

    // An administrator's console: alice's live session on the sessions page, terminated
    // from there (her page says by whom); the audit page shows her session's start.
    let mut admin = Chromium::start().await?;
    sign_in(&mut admin, &h, "admin", ADMIN_PASSWORD).await?;
    admin
        .goto(&format!("{}/#/sessions?active=true", h.server.url))
        .await?;
    admin.wait("#sessions [data-terminate]").await?;
    assert_eq!(
        admin.count("#sessions tbody tr").await?,
        1,
        "one live session"
    );
    assert!(admin.text("#sessions tbody tr").await?.contains("alice"));
    admin.screenshot("sessions").await?;
    admin.click("#sessions [data-terminate]").await?;
    b.wait_for(
        "document.querySelector('#end-reason')?.textContent.includes('terminated by admin')",
        Duration::from_secs(5),
    )
    .await?;
    // Disabling alice ends her terminal within a second, with the reason on the page.
    b.goto(&format!("{}/#/targets", h.server.url)).await?;
    b.wait("[data-connect='web-1']").await?;
    b.click("[data-connect='web-1']").await?;
    wait_connected(&mut b).await?;
    run(&mut b, "echo again-$((2 * 3))", "again-6").await?;

    // The administrator watches the new session live, read-only.
    admin
        .goto(&format!(
            "{}/#/sessions?user=alice&active=true",
            h.server.url
        ))
        .await?;
    admin.wait("#sessions [data-watch]").await?;
    admin.click("#sessions [data-watch]").await?;
    admin
        .wait_for(
            "document.querySelector('#watch-state')?.textContent.startsWith('live')",
            Duration::from_secs(10),
        )
        .await?;
    run(&mut b, "echo watched-$((5 * 5))", "watched-25").await?;
    admin
        .wait_terminal("watched-25", Duration::from_secs(10))
        .await?;
    admin.screenshot("watch").await?;

    // ... and replays the first one, checked against its sealed hash.
    admin.goto(&format!("{}/#/sessions", h.server.url)).await?;
    admin.wait("#sessions [data-replay]").await?;
    admin
        .eval("[...document.querySelectorAll('#sessions [data-replay]')].pop().click()")
        .await?;
    admin
        .wait_terminal("console-42-ok", Duration::from_secs(30))
        .await?;
    admin
        .wait_for(
            "document.querySelector('#replay-verified')?.textContent.includes('matches the hash sealed')",
            Duration::from_secs(30),
        )
        .await?;
    admin.screenshot("replay").await?;

    admin
        .goto(&format!("{}/#/audit?action=session.start", h.server.url))
        .await?;
    admin.wait("#audit tbody tr[data-seq]").await?;
    let rows = admin.text("#audit tbody").await?;
    assert!(rows.contains("alice") && rows.contains("console"), "{rows}");
    admin.screenshot("audit").await?;

    drop(admin);

    h.admin.ok(&["admin", "users", "disable", "alice"]).await?;
    let disabled = Instant::now();
    b.wait_for(
        "document.querySelector('#end-reason')?.textContent.includes('disabled')",
        Duration::from_secs(1),
    )
    .await
    .context("the terminal did not end within a second of disabling alice")?;
    eprintln!("ended {:?} after the disable", disabled.elapsed());
    b.screenshot("terminal-ended").await?;

    // The session was audited as the console's and recorded, input and output.
    let starts: Vec<Value> = serde_json::from_str(
        &h.admin
            .ok(&[
                "audit",
                "search",
                "--output",
                "json",
                "--action",
                "session.start",
                "--user",
                "alice",
            ])
            .await?,
    )?;
    let start = starts.first().context("no session.start for alice")?;
    assert_eq!(start["details"]["via"], "console", "{start}");
    let id = start["details"]["session_id"]
        .as_str()
        .context("session id")?;
    let replay = h.admin.ok(&["replay", id, "--raw"]).await?;
    assert!(
        replay.contains("console-42-ok"),
        "output not in the recording"
    );
    // Typed keys are input events of their own (a key per event as the page sends them).
    let inputs: String = replay
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e[1] == "i")
        .filter_map(|e| e[2].as_str().map(str::to_string))
        .collect();
    assert!(
        inputs.contains("stty size\r"),
        "typed input not recorded: {inputs:?}"
    );
    Ok(())
}

/// The admin page: a user created (its generated password shown once), disabled and enabled;
/// a policy set with a mistake refused with its line and column and nothing changed, then a
/// good one activated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(has_chromium),
    ignore = "needs Debian's chromium and playwright-core (`npm ci` in crates/testkit/browser)"
)]
async fn admin_pages_in_chromium() -> Result<()> {
    let h = setup().await?;
    let mut b = Chromium::start().await?;
    sign_in(&mut b, &h, "admin", ADMIN_PASSWORD).await?;
    b.click("#nav-admin").await?;
    b.wait("#users tr[data-user='alice']").await?;

    b.fill("#new-user", "carol").await?;
    b.click("#create-user").await?;
    b.wait("#users tr[data-user='carol']").await?;
    let created = b.text("#created").await?;
    assert!(created.contains("Password (shown once): "), "{created}");
    b.click("[data-act='disable-carol']").await?;
    b.wait("[data-act='enable-carol']").await?;
    let users = h
        .admin
        .ok(&["admin", "users", "list", "--output", "json"])
        .await?;
    let users: Vec<Value> = serde_json::from_str(&users)?;
    let carol = users
        .iter()
        .find(|u| u["name"] == "carol")
        .context("no carol")?;
    assert_eq!(carol["disabled"], true, "{carol}");
    b.click("[data-act='enable-carol']").await?;
    b.wait("[data-act='disable-carol']").await?;

    // A group, a member added and removed, the group deleted: as the CLI sees it.
    b.fill("#new-group", "ops").await?;
    b.click("#create-group").await?;
    b.wait("#groups tr[data-group='ops']").await?;
    b.fill("[data-member-of='ops']", "alice").await?;
    b.click("[data-add-to='ops']").await?;
    b.wait("[data-remove='ops/alice']").await?;
    let listed = h.admin.ok(&["admin", "groups", "list"]).await?;
    assert!(
        listed.contains("ops") && listed.contains("alice"),
        "{listed}"
    );
    b.click("[data-remove='ops/alice']").await?;
    b.gone("[data-remove='ops/alice']").await?;
    b.click("[data-delete-group='ops']").await?;
    b.gone("#groups tr[data-group='ops']").await?;

    // An activation: its code and register line shown once, and they enrol a host.
    b.fill("#new-activation-tags", "env=test").await?;
    b.click("#create-activation").await?;
    b.wait_for(
        "document.querySelector('#activation-code')?.textContent.includes('wicket-agent register')",
        Duration::from_secs(10),
    )
    .await?;
    let shown = b.text("#activation-code").await?;
    let arg = |flag: &str| {
        shown
            .split_whitespace()
            .skip_while(|w| *w != flag)
            .nth(1)
            .map(str::to_string)
            .with_context(|| format!("no {flag} in {shown}"))
    };
    let out = h
        .register(
            "from-console",
            &arg("--activation-id")?,
            &arg("--activation-code")?,
        )
        .await?;
    assert!(out.status.success(), "{}", wicket_testkit::cli::show(&out));
    b.click("#nav-targets").await?;
    b.wait("tr[data-name='from-console']").await?;
    b.click("#nav-admin").await?;
    b.wait("#activations tr[data-activation]").await?;
    let used = b.text("#activations").await?;
    assert!(
        used.contains("1 / 1") && used.contains("env=test"),
        "{used}"
    );

    // The editor shows the active set; a mistake is pointed at and nothing changes.
    let shown = b
        .eval("document.querySelector('#policy-text').value")
        .await?;
    assert_eq!(shown.as_str(), Some(POLICY));
    let bad =
        format!("{POLICY}permit(principal, action == Wicket::Action::\"conect\", resource);\n");
    b.fill("#policy-text", &bad).await?;
    b.click("#policy-activate").await?;
    b.wait("#policy-problems li").await?;
    let problem = b.text("#policy-problems").await?;
    assert!(problem.contains("line 6, column"), "{problem}");
    assert!(b.text("#policy-status").await?.contains("Not valid"));
    assert_eq!(h.admin.ok(&["admin", "policies", "get"]).await?, POLICY);
    b.screenshot("admin").await?;

    let good = format!("{POLICY}permit(principal, action == Wicket::Action::\"exec\", resource) when {{ principal.name == \"carol\" }};\n");
    b.fill("#policy-text", &good).await?;
    b.click("#policy-activate").await?;
    b.wait_for(
        "document.querySelector('#policy-status')?.textContent.startsWith('Activated version')",
        Duration::from_secs(10),
    )
    .await?;
    assert_eq!(h.admin.ok(&["admin", "policies", "get"]).await?, good);
    Ok(())
}

/// A WebSocket upgrade of the console's terminal sent by hand over HTTP/1.1 with `cookie` and
/// `origin`; the response's status and, after a 101, the first text message.
async fn upgrade(
    h: &Harness,
    target: &str,
    cookie: &str,
    origin: Option<&str>,
) -> Result<(u16, String)> {
    let mut s = h.server.tls_connect(false).await?;
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /v1/console/terminal?target={target}&cols=80&rows=24 HTTP/1.1\r\n\
         Host: 127.0.0.1:{}\r\nCookie: __Host-wicket={cookie}\r\n{origin}\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        h.server.port
    );
    s.write_all(request.as_bytes()).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n = tokio::time::timeout_at(deadline.into(), s.read(&mut buf))
            .await
            .context("no answer to the upgrade")??;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_string();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status")?;
        if status != 101 {
            return Ok((status, head));
        }
        // The first frame: unmasked, FIN + text, a 7- or 16-bit length.
        let mut frame = got[end + 4..].to_vec();
        loop {
            if frame.len() >= 2 {
                let (len, at) = match frame[1] & 0x7f {
                    126 if frame.len() >= 4 => {
                        (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4)
                    }
                    126 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && frame.len() >= at + len {
                    return Ok((101, String::from_utf8_lossy(&frame[at..at + len]).into()));
                }
            }
            let n = tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await??;
            if n == 0 {
                bail!("the socket closed before a message");
            }
            frame.extend_from_slice(&buf[..n]);
        }
    }
    bail!("the server closed the connection without answering")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_requests_are_refused() -> Result<()> {
    let h = setup().await?;
    let client = h.server.https(None)?;
    let url = &h.server.url;

    // The page carries a strict policy and the usual headers.
    let page = client.get(format!("{url}/")).send().await?;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()?
        .to_string();
    let script = csp
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .context("no script-src")?;
    assert_eq!(script.trim(), "script-src 'self'", "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");

    // A console login sets the cookie and shows no token.
    let login = client
        .post(format!("{url}/v1/console/login"))
        .json(&json!({ "user": "alice", "password": "alice-password" }))
        .send()
        .await?;
    assert_eq!(login.status(), 200);
    let set = login.headers()["set-cookie"].to_str()?.to_string();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing from {set}");
    }
    let token = set
        .strip_prefix("__Host-wicket=")
        .and_then(|s| s.split(';').next())
        .context("cookie value")?
        .to_string();
    let session: Value = login.json().await?;
    assert!(
        session.get("token").is_none(),
        "the token reached the page: {session}"
    );
    let csrf = session["csrf"].as_str().context("csrf")?.to_string();
    let cookie = format!("__Host-wicket={token}");

    // Reads need only the cookie.
    let me = client
        .get(format!("{url}/v1/console/me"))
        .header("cookie", &cookie)
        .send()
        .await?;
    assert_eq!(me.status(), 200);

    // A state-changing request without the CSRF token, or with a wrong one, is refused.
    for header in [None, Some("0123456789abcdef")] {
        let mut req = client
            .post(format!("{url}/v1/console/logout"))
            .header("cookie", &cookie);
        if let Some(v) = header {
            req = req.header("x-wicket-csrf", v);
        }
        let r = req.send().await?;
        assert_eq!(r.status(), 403, "logout without the right CSRF token");
    }

    // A cross-origin (or origin-less) WebSocket with the cookie is refused; the console's own
    // origin is let in, and a target the policy keeps from alice is refused by the broker.
    let own = format!("https://127.0.0.1:{}", h.server.port);
    for origin in [
        Some("https://evil.example"),
        Some("https://127.0.0.1:1"),
        None,
    ] {
        let (status, _) = upgrade(&h, "web-1", &token, origin).await?;
        assert_eq!(status, 403, "origin {origin:?} let in");
    }
    let (status, first) = upgrade(&h, "web-1", &token, Some(&own)).await?;
    assert_eq!((status, first.as_str()), (101, r#"{"type":"started"}"#));
    let (status, first) = upgrade(&h, "db-1", &token, Some(&own)).await?;
    assert_eq!(status, 101);
    let ended: Value = serde_json::from_str(&first)?;
    assert_eq!(ended["type"], "ended", "{first}");
    assert!(
        ended["message"].as_str().unwrap_or("").contains("may not"),
        "{first}"
    );

    // Signing out with the CSRF token revokes the cookie's token.
    let out = client
        .post(format!("{url}/v1/console/logout"))
        .header("cookie", &cookie)
        .header("x-wicket-csrf", &csrf)
        .send()
        .await?;
    assert_eq!(out.status(), 200);
    let me = client
        .get(format!("{url}/v1/console/me"))
        .header("cookie", &cookie)
        .send()
        .await?;
    assert_eq!(me.status(), 401);
    Ok(())
}

/// Single sign-on from the page: wicketd's own callback, the provider's login and consent
/// forms in the browser, the cookie set on the way back; a refusal at the provider is told on
/// the sign-in page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(all(has_chromium, has_oidc)),
    ignore = "needs chromium, playwright-core and the OpenID Provider's packages"
)]
async fn single_sign_on_in_chromium() -> Result<()> {
    let provider = wicket_testkit::oidc::Provider::start()?;
    let dir = tempfile::tempdir()?;
    let h = crate::oidc::start(&provider, dir.path()).await?;
    let mut b = Chromium::start().await?;
    b.goto(&h.server.url).await?;
    b.wait("#sso").await?;
    b.click("#sso").await?;
    // The provider's development login form, then its consent form.
    b.wait("input[name=login]").await?;
    b.fill("input[name=login]", "dave").await?;
    b.fill("input[name=password]", "any password").await?;
    b.click("button[type=submit]").await?;
    b.wait("button[type=submit]").await?;
    b.click("button[type=submit]").await?;
    b.wait("table#targets").await?;
    assert_eq!(b.text("#who").await?, "dave");
    let cookies = b.cookies().await?;
    assert!(
        cookies.iter().any(|c| c["name"] == "__Host-wicket"),
        "{cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c["name"] == "__Host-wicket-sso"),
        "the login's cookie outlived it: {cookies:?}"
    );
    // dave is in idp-ops, mapped to operators, who may connect.
    b.wait("[data-connect='web-1']").await?;

    // A callback without the login's cookie (a forged or replayed redirect) gets nowhere.
    b.fresh(1100, 700).await?;
    b.goto(&format!(
        "{}/v1/console/sso/callback?code=forged&state=forged",
        h.server.url
    ))
    .await?;
    b.wait_for(
        "document.querySelector('#login-error')?.textContent.includes('did not come back complete')",
        Duration::from_secs(10),
    )
    .await?;
    assert_eq!(b.count("table#targets").await?, 0);
    Ok(())
}
