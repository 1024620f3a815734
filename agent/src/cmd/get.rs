//! `taskwire get`: one query by pid or tgid.

use std::ffi::OsString;

use taskwire_core::taskstats::{Aggregate, Reply};

use crate::client::{Client, Target};
use crate::delayacct;
use crate::help;
use crate::options::{self, Parsed};
use taskwire_cli::Failure;
use taskwire_cli::args::Format;
use taskwire_cli::output::json;
use taskwire_cli::output::text::{self, Sections};

/// Entry point.
pub fn main(args: Vec<OsString>) -> Result<i32, Failure> {
    let opts = match options::get(args)? {
        Parsed::Help => return super::help(&help::get()),
        Parsed::Run(o) => o,
    };
    if opts.enable_delayacct {
        delayacct::enable().map_err(Failure::Runtime)?;
    }
    let mut client = Client::connect()?;
    let reply = client.get(opts.target)?;
    let Some((agg, tgid)) = pick(&reply, opts.target) else {
        return Err(Failure::Runtime(
            "the kernel's reply lacks the record asked for".into(),
        ));
    };
    delayacct::prepare(false, &mut std::io::stderr()).map_err(Failure::Runtime)?;
    let sections = Sections {
        io: opts.io,
        ctxsw: opts.ctxsw,
    };
    super::print(&render(&agg, tgid, opts.format, sections, None))?;
    Ok(0)
}

/// The aggregate a GET for `target` asked for, and whether it is a thread-group sum.
pub fn pick<'a>(reply: &Reply<'a>, target: Target) -> Option<(Aggregate<'a>, bool)> {
    match target {
        Target::Pid(_) => reply.pid.map(|a| (a, false)),
        Target::Tgid(_) => reply.tgid.map(|a| (a, true)),
    }
}

/// A record in `format`; `exit` (the shell-style status and its description) is added when
/// known.
pub fn render(
    agg: &Aggregate<'_>,
    tgid: bool,
    format: Format,
    sections: Sections,
    exit: Option<(i32, &str)>,
) -> String {
    match format {
        Format::Text => {
            let mut s = text::block(agg, tgid, sections);
            if let Some((_, status)) = exit {
                s.push_str(&format!("\nstatus    {status}\n"));
            }
            s
        }
        Format::Json => {
            let mut j = json::aggregate(if tgid { "tgid" } else { "pid" }, agg);
            if let Some((code, status)) = exit {
                j.i64("exit_status", i64::from(code)).str("status", status);
            }
            let mut s = j.finish();
            s.push('\n');
            s
        }
        // --format takes Format::TEXT_JSON here.
        Format::Csv => unreachable!("get and run print text or json"),
    }
}
