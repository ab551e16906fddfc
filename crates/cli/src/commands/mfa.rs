//! `wicket mfa enroll|status`: multi-factor login (TOTP) for one's own account.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;
use wicket_api::{ConfirmRequest, ConfirmResponse, EnrollRequest, EnrollResponse, MfaStatus};

use crate::args::{MfaCommand, Output};
use crate::profile::Config;

pub async fn dispatch(profile_name: Option<&str>, cmd: MfaCommand) -> Result<i32> {
    let (_, profile) = Config::load()?.selected(profile_name)?;
    let api = profile.api()?;
    match cmd {
        MfaCommand::Enroll { password_stdin } => {
            let password = if password_stdin {
                read_line()?
            } else {
                if !std::io::stdin().is_terminal() {
                    bail!("no terminal to ask for the password; use --password-stdin");
                }
                rpassword::prompt_password(format!("Password for {}: ", profile.user))?
            };
            let e: EnrollResponse = api
                .post("/v1/mfa/enroll", &EnrollRequest { password })
                .await
                .context("enrolment not started")?;
            outln!("Scan this QR code with an authenticator app (TOTP, 6 digits, 30 s):");
            outln!("{}", qr(&e.uri)?);
            outln!("or enter the secret by hand:");
            outln!("secret: {}", e.secret);
            outln!("uri: {}", e.uri);
            err!("Code from the app: ");
            std::io::stderr().flush()?;
            let line = read_line()?;
            let code = line.trim();
            if code.is_empty() {
                bail!("no code given; enrolment is still pending: run `wicket mfa enroll` again");
            }
            let c: ConfirmResponse = api
                .post(
                    "/v1/mfa/confirm",
                    &ConfirmRequest {
                        code: code.to_owned(),
                    },
                )
                .await
                .context("enrolment not confirmed")?;
            outln!("Multi-factor login enrolled: `wicket login` will ask for a code.");
            outln!(
                "Recovery codes (shown only now; each works once instead of a code; keep them \
                 somewhere safe):"
            );
            for code in &c.recovery_codes {
                outln!("  {code}");
            }
            Ok(0)
        }
        MfaCommand::Status(o) => {
            let v: MfaStatus = api.get("/v1/mfa").await?;
            if o.output == Output::Json {
                crate::stdio::json(&v)?;
                return Ok(0);
            }
            let user = &v.user;
            if v.enrolled {
                outln!(
                    "{user}: multi-factor login enrolled; {} recovery code(s) left.",
                    v.recovery_codes_left
                );
            } else if v.pending {
                outln!("{user}: enrolment started but not confirmed; run `wicket mfa enroll`.");
            } else {
                outln!("{user}: multi-factor login not enrolled; run `wicket mfa enroll`.");
            }
            outln!(
                "This login {} a second factor.",
                if v.token_mfa {
                    "proved"
                } else {
                    "did not prove"
                }
            );
            Ok(0)
        }
    }
}

/// One line of stdin, without its line ending.
fn read_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The URI as a QR code of unicode half blocks (two rows per line), light on dark so it scans
/// on the usual dark terminal.
fn qr(uri: &str) -> Result<String> {
    let code = QrCode::new(uri.as_bytes()).context("QR code")?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn qr_renders_as_text() {
        let text =
            super::qr("otpauth://totp/wicket:alice?secret=GEZDGNBV&issuer=wicket").expect("qr");
        assert!(text.lines().count() > 10);
        assert!(text.contains('█') || text.contains('▀') || text.contains('▄'));
    }
}
