//! `zenhook check`: prints the doctor's findings and fails when any is an error.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context};

/// Runs every check; the findings go to standard output, one line each (or JSON).
pub async fn run_check(config: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let report = crate::check::check(config).await;
    let text = if json {
        format!("{:#}\n", report.to_json())
    } else {
        report.render_text()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(error).context("cannot write to standard output")
        }
        _ => {}
    }
    let errors = report.count(crate::check::Level::Error);
    if errors > 0 {
        bail!("the check found {errors} error(s)");
    }
    Ok(())
}
