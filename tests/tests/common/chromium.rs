//! A real browser for the pages taskwire writes: Debian's `chromium`, headless. Each run
//! gets a profile directory of its own, so tests run in parallel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::output;

/// The browser, or why there is none.
pub fn find() -> Result<PathBuf, String> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("chromium");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err("no chromium on PATH (scripts/setup installs Debian's)".into())
}

/// What the browser made of a page.
pub struct Visit {
    /// The DOM once the page's script ran (`--dump-dom`).
    pub dom: String,
    /// Console lines: messages, errors, uncaught exceptions. A page of ours logs none.
    pub console: Vec<String>,
    /// The screenshot, PNG.
    pub png: Vec<u8>,
}

fn run(browser: &Path, profile: &Path, args: &[String]) -> super::Out {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args);
    output(cmd, Duration::from_secs(120))
}

/// Opens `page` twice: once with `#selftest` (its script sorts every table and shows a
/// tip, and says on <body> whether that worked) for the DOM, once for a screenshot of
/// `width` x `height`.
pub fn visit(browser: &Path, page: &Path, (width, height): (u32, u32)) -> Visit {
    let url = format!("file://{}", page.display());
    let profile = page.with_extension("chromium-profile");
    let shot = page.with_extension("png");
    let _ = std::fs::remove_file(&shot);
    let dom = run(
        browser,
        &profile,
        &["--dump-dom".into(), format!("{url}#selftest")],
    );
    let taken = run(
        browser,
        &profile,
        &[
            format!("--window-size={width},{height}"),
            format!("--screenshot={}", shot.display()),
            url,
        ],
    );
    let _ = std::fs::remove_dir_all(&profile);
    let console = dom
        .stderr
        .lines()
        .chain(taken.stderr.lines())
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_owned)
        .collect();
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}); chromium said: {}",
            shot.display(),
            taken.stderr
        )
    });
    Visit {
        dom: dom.stdout,
        console,
        png,
    }
}
