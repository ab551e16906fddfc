//! Real processes on real PTYs and pipes.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use wicket_agent::process::{
    resolve_run_as, spawn, ExitStatus, PipeProcess, ProcessError, PtyProcess, PtySize,
    SessionRequest, Spawned,
};

const LIMIT: Duration = Duration::from_secs(20);

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Runs the test `name` of this binary again as the unprivileged user `nobody`, and fails
/// unless it ran and passed. The binary is copied into a directory `nobody` may read (the
/// build's own directory may be private to root).
fn run_again_as_nobody(name: &str) {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("look up nobody")
        .expect("a user named nobody");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let exe = dir.path().join("process-tests");
    std::fs::copy(std::env::current_exe().expect("this binary"), &exe).expect("copy");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = std::process::Command::new(&exe)
        .args([name, "--exact", "--test-threads=1"])
        .uid(nobody.uid.as_raw())
        .gid(nobody.gid.as_raw())
        .current_dir("/")
        .env("HOME", "/")
        .output()
        .expect("run the test as nobody");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "as nobody: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cmd(command: &str) -> SessionRequest {
    SessionRequest {
        command: Some(command.to_owned()),
        ..SessionRequest::default()
    }
}

fn on_pty(mut req: SessionRequest, rows: u16, cols: u16) -> SessionRequest {
    req.pty = Some(("xterm-256color".to_owned(), PtySize { cols, rows }));
    req
}

async fn pipes(req: &SessionRequest) -> PipeProcess {
    match spawn(req).await.expect("spawn") {
        Spawned::Pipes(p) => p,
        Spawned::Pty(_) => panic!("expected pipes"),
    }
}

async fn pty(req: &SessionRequest) -> PtyProcess {
    match spawn(req).await.expect("spawn") {
        Spawned::Pty(p) => p,
        Spawned::Pipes(_) => panic!("expected a pty"),
    }
}

async fn read_to_end<R: AsyncRead + Unpin>(mut r: R) -> String {
    let mut out = Vec::new();
    timeout(LIMIT, r.read_to_end(&mut out))
        .await
        .expect("timed out reading output")
        .expect("read");
    String::from_utf8(out).expect("utf-8 output")
}

/// Reads into `acc` until `pred` holds for what was read so far.
async fn read_until<R: AsyncRead + Unpin>(
    r: &mut R,
    acc: &mut Vec<u8>,
    pred: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + LIMIT;
    let mut buf = [0u8; 4096];
    while !pred(&String::from_utf8_lossy(acc)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = timeout(left, r.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("timed out; got so far: {:?}", String::from_utf8_lossy(acc)))
            .expect("read");
        assert!(
            n > 0,
            "EOF before expected output; got: {:?}",
            String::from_utf8_lossy(acc)
        );
        acc.extend_from_slice(&buf[..n]);
    }
}

/// Runs a command on pipes; returns (stdout, stderr, status).
async fn run_pipes(req: &SessionRequest) -> (String, String, ExitStatus) {
    let (stdin, stdout, stderr, control) = pipes(req).await.into_parts();
    drop(stdin);
    let (out, err, status) = tokio::join!(read_to_end(stdout), read_to_end(stderr), async {
        timeout(LIMIT, control.wait())
            .await
            .expect("timed out waiting")
            .expect("wait")
    });
    (out, err, status)
}

/// Runs a command on a PTY with no input; returns (output, status).
async fn run_pty(req: &SessionRequest) -> (String, ExitStatus) {
    let (reader, _writer, control) = pty(req).await.into_parts();
    let (out, status) = tokio::join!(read_to_end(reader), async {
        timeout(LIMIT, control.wait())
            .await
            .expect("timed out waiting")
            .expect("wait")
    });
    (out, status)
}

#[tokio::test]
async fn pipes_keep_stdout_and_stderr_apart_and_report_the_code() {
    let (out, err, status) = run_pipes(&cmd("echo out; echo err >&2; exit 3")).await;
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    assert_eq!(status, ExitStatus::Code(3));
}

#[tokio::test]
async fn pipes_login_shell_reads_stdin_and_has_dash_argv0() {
    let me = resolve_run_as(None).expect("resolve self");
    let base = me
        .shell()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (mut stdin, stdout, _stderr, control) =
        pipes(&SessionRequest::default()).await.into_parts();
    stdin
        .write_all(b"echo \"argv0=$0\"\nexit 4\n")
        .await
        .unwrap();
    drop(stdin);
    let (out, status) = tokio::join!(read_to_end(stdout), async { control.wait().await.unwrap() });
    assert!(out.contains(&format!("argv0=-{base}\n")), "output: {out:?}");
    assert_eq!(status, ExitStatus::Code(4));
}

#[tokio::test]
async fn environment_is_clean_with_defaults_and_request_vars() {
    // cargo sets CARGO_PKG_NAME for the test process; it must not leak.
    let mut req =
        cmd("echo \"[$CARGO_PKG_NAME][$FOO][$PATH][$USER][$LOGNAME][$HOME][$SHELL]\"; pwd");
    req.env = vec![
        ("FOO".into(), "bar baz".into()),
        ("USER".into(), "mallory".into()),
    ];
    let me = resolve_run_as(None).unwrap();
    let (out, _err, status) = run_pipes(&req).await;
    assert_eq!(status, ExitStatus::Code(0));
    let expected = format!(
        "[][bar baz][{}][{name}][{name}][{}][{}]\n",
        wicket_agent::process::DEFAULT_PATH,
        me.home().display(),
        me.shell().display(),
        name = me.name(),
    );
    assert!(
        out.starts_with(&expected),
        "output: {out:?}, expected {expected:?}"
    );
    let cwd = out.lines().nth(1).unwrap();
    if me.home().is_dir() {
        assert_eq!(
            std::fs::canonicalize(cwd).unwrap(),
            std::fs::canonicalize(me.home()).unwrap()
        );
    } else {
        assert_eq!(cwd, "/");
    }
}

#[tokio::test]
async fn invalid_env_is_rejected() {
    let mut req = cmd("true");
    req.env = vec![("A=B".into(), "x".into())];
    let err = spawn(&req).await.unwrap_err();
    assert!(matches!(err, ProcessError::InvalidEnv { .. }), "{err}");
}

#[tokio::test]
async fn pty_command_sees_a_terminal_of_the_requested_size() {
    let req = on_pty(
        cmd("test -t 0 && test -t 1 && echo tty; stty size; echo \"TERM=$TERM\""),
        33,
        101,
    );
    let (out, status) = run_pty(&req).await;
    assert_eq!(status, ExitStatus::Code(0));
    assert!(out.contains("tty\r\n"), "output: {out:?}");
    assert!(out.contains("33 101\r\n"), "output: {out:?}");
    assert!(out.contains("TERM=xterm-256color\r\n"), "output: {out:?}");
}

#[tokio::test]
async fn pipes_are_not_a_terminal() {
    let (out, _err, status) = run_pipes(&cmd("test -t 0 || test -t 1 || echo notty")).await;
    assert_eq!((out.as_str(), status), ("notty\n", ExitStatus::Code(0)));
}

#[tokio::test]
async fn resize_is_seen_by_a_later_command_in_the_same_shell() {
    let (mut reader, mut writer, control) = pty(&on_pty(SessionRequest::default(), 24, 80))
        .await
        .into_parts();
    let mut acc = Vec::new();
    // The marker is built by the shell so the echoed input does not match.
    writer
        .write_all(b"stty size; echo \"E\"ND1\n")
        .await
        .unwrap();
    read_until(&mut reader, &mut acc, |s| s.contains("24 80\r\nEND1")).await;

    control
        .resize(PtySize {
            cols: 132,
            rows: 50,
        })
        .unwrap();
    acc.clear();
    writer
        .write_all(b"stty size; echo \"E\"ND2\n")
        .await
        .unwrap();
    read_until(&mut reader, &mut acc, |s| s.contains("50 132\r\nEND2")).await;

    writer.write_all(b"exit 7\n").await.unwrap();
    let (rest, status) = tokio::join!(read_to_end_lossy(reader), async {
        control.wait().await.unwrap()
    });
    drop(rest);
    assert_eq!(status, ExitStatus::Code(7));
}

/// The terminal says whether it is reading without echo in canonical mode (a password
/// prompt), as the program on it set it; raw mode without echo (a line editor) is not that.
#[tokio::test]
async fn the_terminal_says_when_it_reads_a_password() {
    let script = "printf 'A%s\\n' 1; read x; stty -echo; printf 'B%s\\n' 2; read x; \
                  stty echo -icanon; printf 'C%s\\n' 3; read x; exit 0";
    let (mut reader, mut writer, control) = pty(&on_pty(cmd(script), 24, 80)).await.into_parts();
    let mut acc = Vec::new();
    read_until(&mut reader, &mut acc, |s| s.contains("A1")).await;
    assert_eq!(
        control.hides_input(),
        Some(false),
        "a fresh terminal echoes"
    );
    writer.write_all(b"go\n").await.unwrap();
    read_until(&mut reader, &mut acc, |s| s.contains("B2")).await;
    assert_eq!(control.hides_input(), Some(true), "stty -echo, then a read");
    writer.write_all(b"secret\n").await.unwrap();
    read_until(&mut reader, &mut acc, |s| s.contains("C3")).await;
    assert_eq!(
        control.hides_input(),
        Some(false),
        "raw mode is not a prompt"
    );
    assert!(!String::from_utf8_lossy(&acc).contains("secret"));
    writer.write_all(b"x\n").await.unwrap();
    let (_, status) = tokio::join!(read_to_end_lossy(reader), async {
        control.wait().await.unwrap()
    });
    assert_eq!(status, ExitStatus::Code(0));
    let (_, _, _, pipes) = pipes(&cmd("true")).await.into_parts();
    assert_eq!(pipes.hides_input(), None);
}

async fn read_to_end_lossy<R: AsyncRead + Unpin>(mut r: R) -> String {
    let mut out = Vec::new();
    timeout(LIMIT, r.read_to_end(&mut out))
        .await
        .expect("timed out")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

fn assert_interrupted(status: ExitStatus) {
    assert!(
        status == ExitStatus::Signal(Signal::SIGINT as i32) || status == ExitStatus::Code(130),
        "unexpected status {status:?}"
    );
}

#[tokio::test]
async fn sigint_ends_a_sleep_on_pipes() {
    let (_stdin, stdout, stderr, control) = pipes(&cmd("sleep 30")).await.into_parts();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    control.signal(Signal::SIGINT).unwrap();
    let status = timeout(Duration::from_secs(5), control.wait())
        .await
        .expect("still running")
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_interrupted(status);
    assert_eq!(read_to_end(stdout).await, "");
    assert_eq!(read_to_end(stderr).await, "");
    // Signalling a finished process is not an error.
    control.signal(Signal::SIGTERM).unwrap();
}

#[tokio::test]
async fn sigint_reaches_children_of_the_command_on_pipes() {
    // The shell forks (two commands), so `sleep` is a grandchild of the agent.
    let (_stdin, stdout, _stderr, control) = pipes(&cmd("sleep 30; echo after")).await.into_parts();
    tokio::time::sleep(Duration::from_millis(200)).await;
    control.signal(Signal::SIGINT).unwrap();
    let status = timeout(Duration::from_secs(5), control.wait())
        .await
        .expect("still running")
        .unwrap();
    assert_interrupted(status);
    assert_eq!(read_to_end(stdout).await, "");
}

#[tokio::test]
async fn sigint_ends_a_sleep_on_a_pty() {
    let (reader, _writer, control) = pty(&on_pty(cmd("sleep 30"), 24, 80)).await.into_parts();
    tokio::time::sleep(Duration::from_millis(200)).await;
    control.signal(Signal::SIGINT).unwrap();
    let status = timeout(Duration::from_secs(5), control.wait())
        .await
        .expect("still running")
        .unwrap();
    assert_interrupted(status);
    read_to_end_lossy(reader).await;
}

#[tokio::test]
async fn sigint_interrupts_the_foreground_job_of_an_interactive_shell() {
    let (mut reader, mut writer, control) = pty(&on_pty(SessionRequest::default(), 24, 80))
        .await
        .into_parts();
    let mut acc = Vec::new();
    writer
        // READY comes from the job itself, so by then it is the terminal's
        // foreground process group.
        .write_all(b"sh -c 'echo \"RE\"ADY; exec sleep 30'; echo \"DO\"NE $?\n")
        .await
        .unwrap();
    read_until(&mut reader, &mut acc, |s| s.contains("READY\r\n")).await;
    let start = Instant::now();
    control.signal(Signal::SIGINT).unwrap();
    writer.write_all(b"echo \"ST\"ILL-HERE\n").await.unwrap();
    read_until(&mut reader, &mut acc, |s| s.contains("STILL-HERE\r\n")).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8_lossy(&acc).into_owned();
    assert!(
        !text.contains("DONE 0"),
        "sleep was not interrupted: {text:?}"
    );
    writer.write_all(b"exit\n").await.unwrap();
    let (_, status) = tokio::join!(read_to_end_lossy(reader), async {
        control.wait().await.unwrap()
    });
    assert!(matches!(status, ExitStatus::Code(_)), "{status:?}");
}

#[tokio::test]
async fn utf8_round_trips_through_cat_on_a_pty() {
    let text = "héllo ✓ 日本";
    let (mut reader, mut writer, control) = pty(&on_pty(cmd("cat"), 24, 80)).await.into_parts();
    writer
        .write_all(format!("{text}\n").as_bytes())
        .await
        .unwrap();
    let mut acc = Vec::new();
    // Once echoed by the terminal, once written back by cat.
    read_until(&mut reader, &mut acc, |s| s.matches(text).count() >= 2).await;
    assert_eq!(
        String::from_utf8(acc.clone()).expect("valid utf-8"),
        format!("{text}\r\n{text}\r\n")
    );
    writer.write_all(b"\x04").await.unwrap();
    let (_, status) = tokio::join!(read_to_end_lossy(reader), async {
        control.wait().await.unwrap()
    });
    assert_eq!(status, ExitStatus::Code(0));
}

/// Input faster than the program reads it fills the terminal's buffer: the writer waits
/// for room and nothing is lost or reordered.
#[tokio::test]
async fn a_paste_larger_than_the_terminal_buffer_arrives_whole() {
    const N: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pasted");
    let req = on_pty(
        cmd(&format!(
            "stty raw -echo; sleep 0.3; head -c {N} > '{}'; echo DO\"\"NE",
            out.display()
        )),
        24,
        80,
    );
    let (mut reader, mut writer, control) = pty(&req).await.into_parts();
    let input: Vec<u8> = (0..N).map(|i| b'a' + (i % 26) as u8).collect();
    let write = async {
        timeout(LIMIT, writer.write_all(&input))
            .await
            .expect("timed out writing")
            .unwrap();
    };
    let mut acc = Vec::new();
    let read = read_until(&mut reader, &mut acc, |s| s.contains("DONE"));
    tokio::join!(write, read);
    assert!(
        std::fs::read(&out).unwrap() == input,
        "the pasted bytes differ"
    );
    let (_, status) = tokio::join!(read_to_end_lossy(reader), async {
        control.wait().await.unwrap()
    });
    assert_eq!(status, ExitStatus::Code(0));
}

#[tokio::test]
async fn pty_output_written_just_before_exit_is_not_lost() {
    let req = on_pty(cmd("seq 1 20000; printf LAST"), 24, 80);
    for _ in 0..3 {
        let (out, status) = run_pty(&req).await;
        assert_eq!(status, ExitStatus::Code(0));
        assert!(
            out.ends_with("19999\r\n20000\r\nLAST"),
            "tail: {:?}",
            &out[out.len().saturating_sub(40)..]
        );
        assert_eq!(out.lines().count(), 20001);
    }
}

#[tokio::test]
async fn pty_reader_keeps_reporting_eof_and_writer_fails_cleanly_after_exit() {
    let (mut reader, mut writer, control) = pty(&on_pty(cmd("exit 0"), 24, 80)).await.into_parts();
    read_to_end_lossy(&mut reader).await;
    let mut buf = [0u8; 16];
    assert_eq!(reader.read(&mut buf).await.unwrap(), 0);
    assert_eq!(control.wait().await.unwrap(), ExitStatus::Code(0));
    // wait is idempotent
    assert_eq!(control.wait().await.unwrap(), ExitStatus::Code(0));
    // resize after exit does not panic (the master is still open)
    let _ = control.resize(PtySize { cols: 10, rows: 10 });
    let _ = writer.write_all(b"x\n").await;
}

#[tokio::test]
async fn resize_on_pipes_is_a_noop() {
    let (_i, _o, _e, control) = pipes(&cmd("true")).await.into_parts();
    control.resize(PtySize { cols: 1, rows: 1 }).unwrap();
    assert_eq!(control.wait().await.unwrap(), ExitStatus::Code(0));
}

#[tokio::test]
#[cfg_attr(not(has_root), ignore = "needs root: the agent switches users")]
async fn run_as_nobody_switches_user_groups_and_environment() {
    let mut req = cmd("id -un; id -G; echo \"HOME=$HOME USER=$USER LOGNAME=$LOGNAME\"; pwd");
    req.run_as = Some("nobody".into());
    let nobody = resolve_run_as(Some("nobody")).unwrap();
    let (out, err, status) = run_pipes(&req).await;
    assert_eq!(status, ExitStatus::Code(0), "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "nobody");
    assert!(
        !lines[1].split_whitespace().any(|g| g == "0"),
        "groups: {}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        format!(
            "HOME={} USER=nobody LOGNAME=nobody",
            nobody.home().display()
        )
    );
    let expected_cwd = if nobody.home().is_dir() {
        nobody.home().to_string_lossy().into_owned()
    } else {
        "/".to_owned()
    };
    assert_eq!(lines[3], expected_cwd);
}

#[tokio::test]
#[cfg_attr(not(has_root), ignore = "needs root: the agent switches users")]
async fn run_as_nobody_on_a_pty() {
    let mut req = on_pty(
        cmd("test -t 0 && echo tty; id -un; id -u; stat -c %u \"$(tty)\""),
        24,
        80,
    );
    req.run_as = Some("nobody".into());
    let (out, status) = run_pty(&req).await;
    assert_eq!(status, ExitStatus::Code(0), "output: {out:?}");
    let uid = resolve_run_as(Some("nobody")).unwrap().uid().as_raw();
    assert_eq!(out, format!("tty\r\nnobody\r\n{uid}\r\n{uid}\r\n"));
}

#[tokio::test]
async fn unknown_user_is_a_clear_error() {
    let mut req = cmd("true");
    req.run_as = Some("no-such-user-wicket".into());
    let err = spawn(&req).await.unwrap_err();
    let msg = err.to_string();
    if is_root() {
        assert!(matches!(err, ProcessError::UnknownUser { .. }), "{msg}");
    } else {
        assert!(
            matches!(err, ProcessError::CannotSwitchUser { .. }),
            "{msg}"
        );
    }
    assert!(msg.contains("no-such-user-wicket"), "{msg}");
}

#[tokio::test]
async fn run_as_self_is_allowed() {
    let me = resolve_run_as(None).unwrap();
    let mut req = cmd("id -un");
    req.run_as = Some(me.name().to_owned());
    let (out, _err, status) = run_pipes(&req).await;
    assert_eq!(status, ExitStatus::Code(0));
    assert_eq!(out.trim(), me.name());
}

/// Run as root (as CI runs the tests), this test runs itself again as `nobody`.
#[tokio::test]
async fn non_root_agent_cannot_switch_user() {
    if is_root() {
        run_again_as_nobody("non_root_agent_cannot_switch_user");
        return;
    }
    let err = resolve_run_as(Some("root")).unwrap_err();
    let me = resolve_run_as(None).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "the agent runs as {} and cannot switch to user root",
            me.name()
        )
    );
}

#[tokio::test]
async fn dropping_the_control_kills_the_process_group() {
    let (_stdin, stdout, _stderr, control) =
        pipes(&cmd("sleep 30 & sleep 30; wait")).await.into_parts();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(control);
    // Every holder of the pipe is killed, so stdout ends promptly.
    let start = Instant::now();
    assert_eq!(read_to_end(stdout).await, "");
    assert!(start.elapsed() < Duration::from_secs(5));
}
