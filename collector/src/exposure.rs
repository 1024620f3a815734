//! Who can send records to a listener. Without `--key` a TCP stream carries no
//! authentication: whoever reaches the port can send a stream under any board's name
//! (README, "Threat model"). On loopback that is this machine only; on any other address
//! a decoder without a key says so.

use std::net::SocketAddr;

/// The warning for a `tcp-listen:` bound to `addr`, None on loopback.
pub fn warning(addr: SocketAddr) -> Option<String> {
    if addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "taskwire decode: warning: tcp-listen:{addr} takes records from anyone who can reach \
         this port, under any board's name (no --key); give --key FILE here and to the \
         boards' `stream`, or listen on 127.0.0.1 behind an SSH tunnel or VPN"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_loopback_addresses_are_warned_about() {
        for a in ["127.0.0.1:9000", "[::1]:9000", "127.0.0.2:1"] {
            assert_eq!(warning(a.parse().unwrap()), None, "{a}");
        }
        for a in ["0.0.0.0:9000", "[::]:9000", "192.168.1.5:9000"] {
            let w = warning(a.parse().unwrap()).unwrap_or_default();
            assert!(w.contains("anyone who can reach"), "{a}: {w}");
            assert!(w.contains(a.trim_start_matches('[')), "{a}: {w}");
            assert!(!w.contains('\n'));
        }
    }
}
