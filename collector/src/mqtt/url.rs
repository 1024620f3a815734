//! `decode --from mqtt://HOST[:PORT][/FILTER][,client=ID][,user=NAME][,password-file=PATH]
//! [,session-expiry=SECS]`:
//! where the broker is, what to subscribe to, and who to say this decoder is.
//!
//! FILTER is an MQTT topic filter (`+` one level, `#` the rest), `taskwire/+/stream` by
//! default: every board's stream topic as the agents name them (README, "MQTT"). A filter
//! `$share/GROUP/FILTER` is an MQTT 5 shared subscription: the broker hands each message to
//! one decoder of the group. A comma ends the filter, so a filter cannot hold one.

use std::fmt;
use std::path::PathBuf;

/// The broker's port when the URL names none (MQTT without TLS).
pub const DEFAULT_PORT: u16 = 1883;
/// What a decoder subscribes to when the URL names no filter: every board's stream.
pub const DEFAULT_FILTER: &str = "taskwire/+/stream";
/// The last level of a board's status topic (`TOPIC/status`: `online`, `stopped`, `lost`).
pub const STATUS_LEVEL: &str = "status";
/// The prefix of an MQTT 5 shared subscription.
const SHARE: &str = "$share/";

/// A parsed `mqtt://` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// A name or address, without brackets.
    pub host: String,
    /// TCP port, 1 to 65535.
    pub port: u16,
    /// The topic filter subscribed to, `$share/GROUP/...` included.
    pub filter: String,
    /// `client=`: the MQTT client id; `None`: `taskwire-decode-HOSTNAME`.
    pub client: Option<String>,
    /// `user=`: the user name sent in CONNECT.
    pub user: Option<String>,
    /// `password-file=`: the file holding the password (read once at start).
    pub password_file: Option<PathBuf>,
    /// `session-expiry=`: how long the broker keeps this decoder's session once it is
    /// gone; `None`: [`super::SESSION_EXPIRY_S`].
    pub session_expiry: Option<u32>,
}

impl Url {
    /// Parses what follows `mqtt:`. The error is one line.
    pub fn parse(rest: &str) -> Result<Url, String> {
        let rest = rest
            .strip_prefix("//")
            .ok_or("write mqtt://HOST[:PORT][/FILTER], e.g. mqtt://broker.lan/taskwire/+/stream")?;
        let mut parts = rest.split(',');
        let main = parts.next().unwrap_or_default();
        let (authority, filter) = split_authority(main)?;
        let (host, port) = host_port(authority)?;
        let filter = match filter {
            None | Some("") => DEFAULT_FILTER.to_owned(),
            Some(f) => {
                check_filter(f)?;
                f.to_owned()
            }
        };
        let mut url = Url {
            host,
            port,
            filter,
            client: None,
            user: None,
            password_file: None,
            session_expiry: None,
        };
        for opt in parts {
            let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
            let slot = match k {
                "session-expiry" => {
                    let secs = v.parse::<u32>().map_err(|_| {
                        format!(
                            "session-expiry '{v}' is not a number of seconds from 0 to \
                             {}",
                            u32::MAX
                        )
                    })?;
                    if url.session_expiry.replace(secs).is_some() {
                        return Err("session-expiry= is given twice".into());
                    }
                    continue;
                }
                "client" => &mut url.client,
                "user" => &mut url.user,
                "password-file" => {
                    if v.is_empty() {
                        return Err("password-file= needs a path".into());
                    }
                    if url.password_file.replace(PathBuf::from(v)).is_some() {
                        return Err("password-file= is given twice".into());
                    }
                    continue;
                }
                _ => {
                    return Err(format!(
                        "unknown mqtt option '{opt}' (options: client=ID, user=NAME, \
                         password-file=PATH, session-expiry=SECS; a filter cannot hold a \
                         comma)"
                    ));
                }
            };
            if v.is_empty() {
                return Err(format!("{k}= needs a value"));
            }
            if v.len() > usize::from(u16::MAX) {
                return Err(format!("{k}= is longer than MQTT allows (65535 bytes)"));
            }
            if slot.replace(v.to_owned()).is_some() {
                return Err(format!("{k}= is given twice"));
            }
        }
        Ok(url)
    }

    /// The group of a shared subscription (`$share/GROUP/...`).
    pub fn shared_group(&self) -> Option<&str> {
        self.filter
            .strip_prefix(SHARE)?
            .split_once('/')
            .map(|(g, _)| g)
    }

    /// The filter without its `$share/GROUP/` prefix: the topics it matches.
    pub fn topics(&self) -> &str {
        match self.filter.strip_prefix(SHARE) {
            Some(r) => r.split_once('/').map_or(r, |(_, f)| f),
            None => &self.filter,
        }
    }

    /// The filter of the boards' status topics (`FILTER/status`), subscribed to without
    /// sharing so that every decoder of a group hears every board come and go; `None` when
    /// the filter ends in `#` and so matches them already.
    pub fn status_filter(&self) -> Option<String> {
        let t = self.topics();
        if t == "#" || t.ends_with("/#") {
            return None;
        }
        Some(format!("{t}/{STATUS_LEVEL}"))
    }
}

impl fmt::Display for Url {
    /// The spec that parses back to this source.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "mqtt://[{}]", self.host)?,
            false => write!(f, "mqtt://{}", self.host)?,
        }
        if self.port != DEFAULT_PORT {
            write!(f, ":{}", self.port)?;
        }
        write!(f, "/{}", self.filter)?;
        if let Some(c) = &self.client {
            write!(f, ",client={c}")?;
        }
        if let Some(u) = &self.user {
            write!(f, ",user={u}")?;
        }
        if let Some(p) = &self.password_file {
            write!(f, ",password-file={}", p.display())?;
        }
        if let Some(e) = self.session_expiry {
            write!(f, ",session-expiry={e}")?;
        }
        Ok(())
    }
}

/// `HOST[:PORT]` and the filter after the first `/` past the host (a bracketed IPv6
/// address may not hold one, but is skipped whole all the same).
fn split_authority(main: &str) -> Result<(&str, Option<&str>), String> {
    let from = match main.starts_with('[') {
        true => main
            .find(']')
            .ok_or("an IPv6 address needs its closing ']'")?,
        false => 0,
    };
    Ok(match main[from..].find('/') {
        Some(i) => (&main[..from + i], Some(&main[from + i + 1..])),
        None => (main, None),
    })
}

fn host_port(a: &str) -> Result<(String, u16), String> {
    if a.is_empty() {
        return Err(
            "a broker host is needed, e.g. mqtt://127.0.0.1 or mqtt://broker.lan:1883".into(),
        );
    }
    let has_port = match a.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .is_some_and(|(_, after)| !after.is_empty()),
        None => a.contains(':'),
    };
    let full = match has_port {
        true => a.to_owned(),
        false => format!("{a}:{DEFAULT_PORT}"),
    };
    taskwire_cli::endpoint::host_port(&full, false)
}

/// The MQTT rules for a topic filter (MQTT 5 section 4.7), said before any broker refuses
/// it: `#` alone and last, `+` a whole level, no NUL, and a shared subscription with a
/// group name and a filter.
fn check_filter(f: &str) -> Result<(), String> {
    if f.len() > usize::from(u16::MAX) {
        return Err("the topic filter is longer than MQTT allows (65535 bytes)".into());
    }
    if f.contains('\0') {
        return Err("a topic filter cannot hold a NUL".into());
    }
    let topics = match f.strip_prefix(SHARE) {
        Some(r) => {
            let (group, topics) = r.split_once('/').unwrap_or((r, ""));
            if group.is_empty() || group.contains(['+', '#']) {
                return Err(format!(
                    "'{f}': a shared subscription is $share/GROUP/FILTER, GROUP a name \
                     without + or #"
                ));
            }
            if topics.is_empty() {
                return Err(format!("'{f}': a filter is needed after $share/{group}/"));
            }
            topics
        }
        None if f.starts_with("$share") => {
            return Err(format!(
                "'{f}': a shared subscription is $share/GROUP/FILTER"
            ));
        }
        None => f,
    };
    let levels: Vec<&str> = topics.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let wild = level.contains(['+', '#']);
        if wild && *level != "+" && *level != "#" {
            return Err(format!(
                "'{f}': + and # stand for whole levels (taskwire/+/stream, taskwire/#)"
            ));
        }
        if *level == "#" && i + 1 != levels.len() {
            return Err(format!("'{f}': # can only be the last level"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults() {
        let u = Url::parse("//127.0.0.1").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 1883));
        assert_eq!(u.filter, DEFAULT_FILTER);
        assert_eq!(
            u.status_filter().as_deref(),
            Some("taskwire/+/stream/status")
        );
        assert_eq!(u.shared_group(), None);
        let u =
            Url::parse("//[::1]:1884/$share/g1/fleet/+/stream,client=d1,user=u,password-file=/p")
                .unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1884));
        assert_eq!(u.shared_group(), Some("g1"));
        assert_eq!(u.topics(), "fleet/+/stream");
        assert_eq!(u.status_filter().as_deref(), Some("fleet/+/stream/status"));
        assert_eq!(u.client.as_deref(), Some("d1"));
        assert_eq!(u.user.as_deref(), Some("u"));
        assert_eq!(u.password_file, Some(PathBuf::from("/p")));
        let u = Url::parse("//broker:9/taskwire/#").unwrap();
        assert_eq!(
            u.status_filter(),
            None,
            "# matches the status topics already"
        );
        assert_eq!(Url::parse("//h/").unwrap().filter, DEFAULT_FILTER);
    }

    #[test]
    fn display_parses_back() {
        for s in [
            "//h",
            "//h:1884/a/b",
            "//[fe80::1]:7/$share/g/x/+/stream,client=c,user=u,password-file=/f",
            "//h/t,session-expiry=0",
        ] {
            let u = Url::parse(s).unwrap();
            let again = u.to_string();
            assert_eq!(
                Url::parse(again.strip_prefix("mqtt:").unwrap()),
                Ok(u),
                "{s}"
            );
        }
    }

    #[test]
    fn bad_urls_say_why() {
        for (s, why) in [
            ("h", "mqtt://HOST"),
            ("//", "a broker host is needed"),
            ("//:1883", "a host is needed"),
            ("//h:0", "port 0"),
            ("//h:x", "not a number"),
            ("//::1", "brackets"),
            ("//h/a/#/b", "last level"),
            ("//h/a+/b", "whole levels"),
            ("//h/$share/g", "a filter is needed"),
            ("//h/$share//x", "GROUP a name"),
            ("//h/$sharex/y", "$share/GROUP/FILTER"),
            ("//h,qos=2", "unknown mqtt option 'qos=2'"),
            ("//h,client=", "client= needs a value"),
            ("//h,client=a,client=b", "given twice"),
            ("//h,password-file=", "needs a path"),
            ("//h,session-expiry=-1", "seconds from 0"),
            ("//h,session-expiry=1,session-expiry=2", "given twice"),
        ] {
            let e = Url::parse(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
