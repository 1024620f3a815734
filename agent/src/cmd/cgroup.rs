//! `taskwire cgroup PATH`: cgroupstats of a cgroup v1 directory.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use taskwire_core::cgroupstats::CgroupStats;

use crate::cgroupdir::{open_dir, require_v1};
use crate::client::Client;
use taskwire_cli::Failure;
use taskwire_cli::args::{Arg, Args, Format, Parsed, parse_format};
use taskwire_cli::help::{EXIT_STATUS, PRIVILEGE};
use taskwire_cli::output::{json, text};

/// Options of `taskwire cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    /// The cgroup v1 directory.
    pub path: PathBuf,
    /// Output format.
    pub format: Format,
}

/// Parses `cgroup` arguments.
pub fn parse(items: Vec<OsString>) -> Result<Parsed<Opts>, Failure> {
    let mut args = Args::new("cgroup", items);
    let mut format = Format::Text;
    let mut path = None;
    while let Some(arg) = args.next_arg()? {
        match arg {
            a if a.is_help() => return Ok(Parsed::Help),
            Arg::Long(name, v) if name == "format" => {
                let s = args.value(&name, v)?;
                format = parse_format(&s, Format::TEXT_JSON).map_err(|e| args.usage(e))?;
            }
            Arg::Positional(p) if path.is_none() => {
                if p.is_empty() {
                    return Err(args.usage("the cgroup path is empty"));
                }
                path = Some(PathBuf::from(p));
            }
            Arg::Separator => {
                let mut rest = args.rest().into_iter();
                match (path.is_none(), rest.next(), rest.next()) {
                    (true, Some(p), None) if !p.is_empty() => path = Some(PathBuf::from(p)),
                    _ => return Err(Failure::usage("cgroup", "give exactly one cgroup path")),
                }
                break;
            }
            a => return Err(args.unexpected(&a)),
        }
    }
    let Some(path) = path else {
        return Err(Failure::usage(
            "cgroup",
            "a cgroup directory path is required",
        ));
    };
    Ok(Parsed::Run(Opts { path, format }))
}

/// `taskwire cgroup --help`.
pub fn help() -> String {
    format!(
        "Usage: taskwire cgroup [--format text|json] PATH\n\n\
         Prints how many tasks of a cgroup v1 directory are sleeping, running, stopped, in\n\
         uninterruptible sleep and waiting for I/O. The kernel serves cgroupstats for\n\
         cgroup v1 only: a cgroup v2 path is refused.\n\n\
         Options:\n\
         \x20 --format text|json   output format\n\
         \x20 -h, --help           this text\n\n{PRIVILEGE}\n{EXIT_STATUS}"
    )
}

/// Runs `taskwire cgroup`.
pub fn main(opts: Opts) -> Result<i32, Failure> {
    let (dir, h) = open_dir(&opts.path)?;
    require_v1(&opts.path, h)?;
    let mut client = Client::connect()?;
    let stats = client.cgroup(dir.as_fd())?;
    taskwire_cli::output::print(&render(&opts.path, &stats, opts.format))?;
    Ok(0)
}

fn render(path: &Path, c: &CgroupStats, format: Format) -> String {
    match format {
        Format::Text => text::cgroup(c),
        Format::Json => {
            let mut j = json::Json::new();
            j.str("path", &path.to_string_lossy())
                .u64("nr_sleeping", c.nr_sleeping)
                .u64("nr_running", c.nr_running)
                .u64("nr_stopped", c.nr_stopped)
                .u64("nr_uninterruptible", c.nr_uninterruptible)
                .u64("nr_io_wait", c.nr_io_wait);
            j.finish() + "\n"
        }
        // --format takes Format::TEXT_JSON here.
        Format::Csv => unreachable!("cgroup prints text or json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::test_args::{usage_msg, v};

    #[test]
    fn cgroup_takes_one_path() {
        let Parsed::Run(o) = parse(v(&["/sys/fs/cgroup/cpu"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.path, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert!(usage_msg(parse(v(&[]))).contains("required"));
        assert!(usage_msg(parse(v(&[""]))).contains("empty"));
        assert!(usage_msg(parse(v(&["/a", "/b"]))).contains("unexpected argument"));
        let Parsed::Run(o) = parse(v(&["--", "-odd"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.path, PathBuf::from("-odd"));
    }

    #[test]
    fn help_documents_exit_codes() {
        let text = help();
        assert!(text.contains("2  usage error"), "{text}");
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
    }

    #[test]
    fn json_has_every_count() {
        let c = CgroupStats {
            nr_sleeping: 1,
            nr_running: 2,
            nr_stopped: 3,
            nr_uninterruptible: 4,
            nr_io_wait: 5,
        };
        let s = render(Path::new("/cg"), &c, Format::Json);
        assert_eq!(
            s,
            "{\"path\":\"/cg\",\"nr_sleeping\":1,\"nr_running\":2,\"nr_stopped\":3,\
             \"nr_uninterruptible\":4,\"nr_io_wait\":5}\n"
        );
    }
}
