//! One task's statistics as `get` and `run` print them: the delay table (or a JSON
//! object), and for `run` how the command ended.

use taskwire_core::taskstats::{Aggregate, Kind, Reply};

use crate::client::Target;
use taskwire_cli::args::Format;
use taskwire_cli::output::json;
use taskwire_cli::output::text::{self, Sections};

/// The aggregate a GET for `target` asked for, with its kind.
pub fn pick<'a>(reply: &Reply<'a>, target: Target) -> Option<(Kind, Aggregate<'a>)> {
    let kind = target.kind();
    reply.get(kind).map(|a| (kind, a))
}

/// A record in `format`; `exit` (the shell-style status and its description) is added when
/// known.
pub fn render(
    kind: Kind,
    agg: &Aggregate<'_>,
    format: Format,
    sections: Sections,
    exit: Option<(i32, &str)>,
) -> String {
    match format {
        Format::Text => {
            let mut s = text::block(agg, kind, sections);
            if let Some((_, status)) = exit {
                s.push_str(&format!("\nstatus    {status}\n"));
            }
            s
        }
        Format::Json => {
            let mut j = json::aggregate(kind.name(), agg);
            if let Some((code, status)) = exit {
                j.i64("exit_status", i64::from(code)).str("status", status);
            }
            let mut s = j.finish();
            s.push('\n');
            s
        }
        // get and run take Format::TEXT_JSON.
        Format::Csv => unreachable!("get and run print text or json"),
    }
}
