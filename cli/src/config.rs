//! A command's options from a config file and the environment as well as its command line,
//! so that a board's service sets them without a rebuild or a new unit. Both become
//! `--name[=value]` items put before the command line's, each remembering its origin
//! (`FILE:LINE`, `TASKWIRE_NAME`): the command's own parser checks them like any other,
//! and its usage errors name the line or the variable. A name given on a higher layer
//! (command line over environment over file) drops it from the lower ones, so an option
//! the parser takes once (`--to`) can still be overridden.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::args::Args;
use crate::failure::Failure;

/// The prefix of the variables that set options: `--sample-top` is `TASKWIRE_SAMPLE_TOP`.
pub const ENV_PREFIX: &str = "TASKWIRE_";

/// The arguments of `cmd`: `cmdline` less its `--config FILE`, after the options of
/// `names` set in the environment (read through `env`), after the lines of the config
/// file (`--config FILE`, else `default` if it exists).
// Out of line: inlined into the board's command dispatcher it costs more bytes than the call.
#[inline(never)]
pub fn layered(
    cmd: &'static str,
    names: &[&str],
    cmdline: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<OsString>,
    default: &Path,
) -> Result<Args, Failure> {
    let usage = |msg: String| Failure::usage(cmd, msg);
    let mut rest = Vec::with_capacity(cmdline.len());
    let mut explicit = None;
    let mut given: Vec<String> = Vec::new();
    let mut items = cmdline.into_iter();
    while let Some(item) = items.next() {
        let Some(long) = item.to_str().and_then(|t| t.strip_prefix("--")) else {
            rest.push(item);
            continue;
        };
        if long.is_empty() {
            // `--`: the rest is positional.
            rest.push(item);
            rest.extend(items.by_ref());
            break;
        }
        let name = long.split_once('=').map_or(long, |(n, _)| n);
        if name == "config" {
            let path = match long.split_once('=') {
                Some((_, v)) => OsString::from(v),
                None => items
                    .next()
                    .ok_or_else(|| usage("--config needs a value".to_owned()))?,
            };
            explicit = Some(path);
            continue;
        }
        given.push(name.to_owned());
        rest.push(item);
    }

    let mut layered = Vec::new();
    let mut origins = Vec::new();
    let mut from_env = Vec::new();
    for &name in names {
        let var = env_name(name);
        if given.iter().any(|g| g == name) {
            continue;
        }
        if let Some(value) = env(&var) {
            let value = value
                .into_string()
                .map_err(|_| usage(format!("{var}: the value is not UTF-8")))?;
            from_env.push((name, var, value));
        }
    }
    given.extend(from_env.iter().map(|(n, _, _)| (*n).to_owned()));

    let text = match &explicit {
        Some(path) => Some(
            crate::textfile::read(Path::new(path))
                .map_err(|e| usage(format!("--config {}: {e}", path.to_string_lossy())))?,
        ),
        None => crate::textfile::read(default).ok(),
    };
    if let Some(text) = text {
        let file = explicit.as_deref().unwrap_or(default.as_os_str());
        let file = Path::new(file).display();
        for (n, line) in text.lines().enumerate() {
            let Some((name, value)) = config_line(line) else {
                continue;
            };
            let origin = format!("{file}:{}", n + 1);
            if name.is_empty() {
                return Err(usage(format!("{origin}: no option name before the '='")));
            }
            if given.iter().any(|g| g == name) {
                continue;
            }
            layered.push(item(name, value));
            origins.push(origin);
        }
    }
    for (name, var, value) in from_env {
        layered.push(item(name, Some(&value)));
        origins.push(var);
    }
    layered.extend(rest);
    Ok(Args::with_origins(cmd, layered, origins))
}

/// The variable of option `name`: `sample-top` is `TASKWIRE_SAMPLE_TOP`.
pub fn env_name(name: &str) -> String {
    let mut var = String::from(ENV_PREFIX);
    var.extend(name.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    var
}

/// `name = value`, `name` or `name =` (no value: a flag, or a missing value the parser
/// names); None for a blank line or a `#` comment. Only a whole line is a comment: a
/// value keeps its `#` (a path may hold one).
fn config_line(line: &str) -> Option<(&str, Option<&str>)> {
    let line = crate::textfile::trim(line);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    Some(match line.split_once('=') {
        Some((name, value)) => {
            let value = crate::textfile::trim(value);
            (
                crate::textfile::trim(name),
                (!value.is_empty()).then_some(value),
            )
        }
        None => (line, None),
    })
}

/// `--name` or `--name=value`; an empty value is the bare option.
fn item(name: &str, value: Option<&str>) -> OsString {
    let mut s = OsString::from("--");
    s.push(name);
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        s.push("=");
        s.push(OsStr::new(v));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Arg;

    fn tmp(name: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("twconf-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The items the parser sees, or the usage error's text.
    fn scan(cmdline: &[&str], env: &[(&str, &str)], default: &Path) -> Result<Vec<Arg>, String> {
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut args = layered(
            "stream",
            &["to", "id", "enable-delayacct", "sample-top"],
            cmdline.iter().map(OsString::from).collect(),
            &lookup,
            default,
        )
        .map_err(|f| f.to_string())?;
        let mut out = Vec::new();
        while let Some(a) = args.next_arg().map_err(|f| f.to_string())? {
            if let Arg::Long(n, v) = &a {
                if n == "to" || n == "id" || n == "sample-top" {
                    let v = args.value(n, v.clone()).map_err(|f| f.to_string())?;
                    out.push(Arg::Long(n.clone(), Some(v)));
                    continue;
                }
                if n != "enable-delayacct" {
                    return Err(args.unexpected(&a).to_string());
                }
                args.no_value(n, v.clone()).map_err(|f| f.to_string())?;
            }
            out.push(a);
        }
        Ok(out)
    }

    fn long(n: &str, v: Option<&str>) -> Arg {
        Arg::Long(n.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn variable_names() {
        assert_eq!(env_name("to"), "TASKWIRE_TO");
        assert_eq!(env_name("sample-top"), "TASKWIRE_SAMPLE_TOP");
    }

    #[test]
    fn lines_comments_and_flags() {
        let f = tmp(
            "lines",
            "# a comment\n\n  to = tcp:h:1 # not a comment\nenable-delayacct\r\nid=\tb1 \n",
        );
        let got = scan(&[], &[], &f).unwrap();
        assert_eq!(
            got,
            [
                long("to", Some("tcp:h:1 # not a comment")),
                long("enable-delayacct", None),
                long("id", Some("b1")),
            ]
        );
        std::fs::remove_file(f).unwrap();
    }

    #[test]
    fn command_line_over_environment_over_file() {
        let f = tmp("layers", "to = file:/a\nid = fromfile\nsample-top = 3\n");
        let got = scan(
            &["--config", f.to_str().unwrap(), "--to=-"],
            &[("TASKWIRE_TO", "file:/b"), ("TASKWIRE_ID", "fromenv")],
            Path::new("/nonexistent/taskwire.conf"),
        )
        .unwrap();
        assert_eq!(
            got,
            [
                long("sample-top", Some("3")),
                long("id", Some("fromenv")),
                long("to", Some("-")),
            ]
        );
        // `--config=FILE` too; an empty variable is a bare flag.
        let got = scan(
            &[&format!("--config={}", f.display())],
            &[("TASKWIRE_ENABLE_DELAYACCT", "")],
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert!(got.contains(&long("enable-delayacct", None)), "{got:?}");
        assert!(got.contains(&long("to", Some("file:/a"))), "{got:?}");
        std::fs::remove_file(f).unwrap();
    }

    #[test]
    fn the_default_file_only_if_it_exists() {
        let f = tmp("default", "id = d\n");
        assert_eq!(scan(&[], &[], &f).unwrap(), [long("id", Some("d"))]);
        assert_eq!(scan(&[], &[], Path::new("/nonexistent")).unwrap(), []);
        // `--config` replaces it, and a missing one is an error.
        let e = scan(&["--config", "/nonexistent/x.conf"], &[], &f).unwrap_err();
        assert!(
            e.starts_with("--config /nonexistent/x.conf: No such file"),
            "{e}"
        );
        let e = scan(&["--config"], &[], &f).unwrap_err();
        assert!(e.contains("--config needs a value"), "{e}");
        std::fs::remove_file(f).unwrap();
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        for (text, want) in [
            ("to = -\nfrob = 1\n", ":2: unknown option '--frob'"),
            ("# c\nto\n", ":2: --to needs a value"),
            ("to =  \n", ":1: --to needs a value"),
            (
                "enable-delayacct = yes\n",
                ":1: --enable-delayacct takes no value",
            ),
            ("= x\n", ":1: no option name before the '='"),
        ] {
            let f = tmp("bad", text);
            let e = scan(&[], &[], &f).unwrap_err();
            assert!(
                e.starts_with(&format!("{}{want}", f.display())),
                "{text}: {e}"
            );
            assert!(e.ends_with("(see `taskwire stream --help`)"), "{e}");
        }
        let e = scan(&[], &[("TASKWIRE_ENABLE_DELAYACCT", "1")], Path::new("/x")).unwrap_err();
        assert!(
            e.starts_with("TASKWIRE_ENABLE_DELAYACCT: --enable-delayacct takes no value"),
            "{e}"
        );
        // The command line's own errors name no origin.
        let e = scan(&["--to"], &[("TASKWIRE_ID", "b")], Path::new("/x")).unwrap_err();
        assert!(e.starts_with("--to needs a value"), "{e}");
    }

    #[test]
    fn items_after_the_separator_stay_as_given() {
        let args = layered(
            "run",
            &[],
            ["--", "--config", "x"].map(OsString::from).to_vec(),
            &|_| None,
            Path::new("/x"),
        )
        .unwrap();
        assert_eq!(args.rest(), ["--", "--config", "x"].map(OsString::from));
    }
}
