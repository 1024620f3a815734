//! The flags `get`, `run` and `listen` share (--io, --ctxsw, --format, --enable-delayacct),
//! read in one place so that the commands spell and check them alike.

use taskwire_cli::Failure;
use taskwire_cli::args::{Args, Format, parse_format};

/// The shared flags, as given.
#[derive(Debug, Default)]
pub struct Flags {
    /// --io
    pub io: bool,
    /// --ctxsw
    pub ctxsw: bool,
    /// --format text|json
    pub format: Format,
    /// --enable-delayacct
    pub enable_delayacct: bool,
}

impl Flags {
    /// Takes option `--name` (inline value `v`) if it is a shared flag; returns false when
    /// it is not one.
    pub fn take(
        &mut self,
        args: &mut Args,
        name: &str,
        v: Option<String>,
    ) -> Result<bool, Failure> {
        match name {
            "io" => self.io = flag(args, name, v)?,
            "ctxsw" => self.ctxsw = flag(args, name, v)?,
            "enable-delayacct" => self.enable_delayacct = flag(args, name, v)?,
            "format" => {
                let s = args.value(name, v)?;
                self.format = parse_format(&s, Format::TEXT_JSON).map_err(|e| args.usage(e))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn flag(args: &Args, name: &str, v: Option<String>) -> Result<bool, Failure> {
    args.no_value(name, v).map(|()| true)
}
