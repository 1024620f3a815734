//! Keys: bytes from a terminal in non-canonical mode decoded into [`Key`]s, and the one
//! table of what each key does on a live screen ([`KEYS`]), so that `taskwire top` and
//! `decode --view top` answer the same keys and print the same help.
//!
//! Only what a serial console or a terminal emulator sends for the keys a user presses
//! here is decoded: single bytes, and the escape sequences of cursor and function keys
//! (CSI `ESC [ ... final`, SS3 `ESC O x`, the Linux console's `ESC [ [ x`), which are
//! consumed whole so that the `A` of an up arrow is never read as a key of its own.

use taskwire_core::taskstats::{Delay, SortKey};

use crate::output::live;

const ESC: u8 = 0x1b;

/// One key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A single-byte key: printable ASCII, space, or a control character (Ctrl-C is 0x03,
    /// Enter 0x0a or 0x0d).
    Char(u8),
    /// Cursor up (`ESC [ A` or `ESC O A`, with or without modifiers).
    Up,
    /// Cursor down.
    Down,
    /// Cursor right.
    Right,
    /// Cursor left.
    Left,
    /// Escape pressed alone (nothing followed it in time).
    Esc,
    /// Any other sequence or a non-ASCII character, consumed whole.
    Other,
}

/// Decodes the first key of `bytes`: the key and how many bytes it took, or None when
/// `bytes` is empty or, while `more` bytes may still come, ends inside an escape sequence
/// (the caller waits briefly, then asks again with `more == false`, which decodes a lone
/// ESC as [`Key::Esc`] and a cut sequence as [`Key::Other`]).
pub fn decode(bytes: &[u8], more: bool) -> Option<(Key, usize)> {
    let (&first, rest) = bytes.split_first()?;
    if first != ESC {
        if first.is_ascii() {
            return Some((Key::Char(first), 1));
        }
        // A UTF-8 character: its lead byte and continuation bytes are one key.
        let cont = rest.iter().take_while(|&&b| b & 0xc0 == 0x80).count();
        return Some((Key::Other, 1 + cont));
    }
    let cut = |n: usize| (!more).then_some((Key::Other, n));
    match rest {
        [] if more => None,
        [] => Some((Key::Esc, 1)),
        // ESC ESC: the first one was pressed alone.
        [ESC, ..] => Some((Key::Esc, 1)),
        [b'[', b'[', tail @ ..] => match tail {
            // The Linux console's F1..F5: ESC [ [ A..E.
            [_, ..] => Some((Key::Other, 4)),
            [] => cut(3),
        },
        [b'[', tail @ ..] => {
            // Parameter and intermediate bytes (0x20..=0x3f), then one final byte
            // (0x40..=0x7e); anything else ends a malformed sequence before it.
            let params = tail
                .iter()
                .take_while(|b| (0x20..=0x3f).contains(*b))
                .count();
            match tail.get(params) {
                Some(&f) if (0x40..=0x7e).contains(&f) => Some((arrow(f), 3 + params)),
                Some(_) => Some((Key::Other, 2 + params)),
                None => cut(2 + params),
            }
        }
        [b'O', tail @ ..] => match tail.first() {
            Some(&f) => Some((arrow(f), 3)),
            None => cut(2),
        },
        // Alt (Meta) plus a key.
        [_, ..] => Some((Key::Other, 2)),
    }
}

/// The key a CSI or SS3 sequence ending in `last` stands for.
fn arrow(last: u8) -> Key {
    match last {
        b'A' => Key::Up,
        b'B' => Key::Down,
        b'C' => Key::Right,
        b'D' => Key::Left,
        _ => Key::Other,
    }
}

/// What a key does on a live screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Restore the terminal and exit with status 0.
    Quit,
    /// Sort by this key and redraw at once from the rows already there.
    Sort(SortKey),
    /// Sweep and redraw now instead of at the end of the interval.
    Refresh,
    /// Show (or hide) the line listing these keys.
    Help,
    /// Show the next board (`decode --view top` of several boards; nothing in `top`).
    NextBoard,
}

const fn delay(d: Delay) -> Action {
    Action::Sort(SortKey::Delay(d))
}

/// Every key of a live screen and what it does. Lower case only, so that a stuck Caps
/// Lock is noticed rather than half working. A sort key's word on the help line is its
/// `--sort` name ([`live::sort_name`]), so the two never disagree.
pub const KEYS: &[(u8, Action)] = &[
    (b'q', Action::Quit),
    (b'c', Action::Sort(SortKey::Cpu)),
    (b'd', delay(Delay::Cpu)),
    (b'i', delay(Delay::Blkio)),
    (b'm', Action::Sort(SortKey::Mem)),
    (b's', delay(Delay::Swapin)),
    (b'r', delay(Delay::Freepages)),
    (b't', delay(Delay::Thrashing)),
    (b'p', delay(Delay::Compact)),
    (b'w', delay(Delay::Wpcopy)),
    (b'n', delay(Delay::Irq)),
    (b'b', Action::Sort(SortKey::Io)),
    (b' ', Action::Refresh),
    (b'h', Action::Help),
    (b'?', Action::Help),
    // Ctrl-C and Ctrl-\: the terminal is in raw mode (no ISIG), so they arrive as bytes.
    (0x03, Action::Quit),
    (0x1c, Action::Quit),
    // Ctrl-L, the usual "redraw the screen".
    (0x0c, Action::Refresh),
    (b'\t', Action::NextBoard),
];

/// What `key` does, if anything.
pub fn action(key: Key) -> Option<Action> {
    let Key::Char(b) = key else { return None };
    KEYS.iter().find(|k| k.0 == b).map(|k| k.1)
}

/// The word for `action` on the help line.
pub fn word(action: Action) -> &'static str {
    match action {
        Action::Quit => "quit",
        Action::Sort(key) => live::sort_name(key),
        Action::Refresh => "refresh",
        Action::Help => "help",
        Action::NextBoard => "next board",
    }
}

/// The help text: each printable key of [`KEYS`] and its word ("q quit  c cpu  ..."),
/// the first key of an action only, in lines of at most `cols` columns, each ended by
/// `\n`. Without the board key: `top` has one board.
pub fn help_lines(cols: usize) -> String {
    help(cols, false)
}

/// [`help_lines`] with the key that shows the next board (`tab next board`), for a
/// screen of several boards (`decode --view top`).
pub fn board_help_lines(cols: usize) -> String {
    help(cols, true)
}

/// The name of a key on the help line: a printable byte as itself.
fn key_name(b: u8) -> Option<&'static str> {
    match b {
        b' ' => Some("space"),
        b'\t' => Some("tab"),
        _ => None,
    }
}

fn help(cols: usize, boards: bool) -> String {
    let mut s = String::new();
    let mut line = 0;
    for (i, &(b, act)) in KEYS.iter().enumerate() {
        let named = b.is_ascii_graphic() || key_name(b).is_some();
        let wanted = boards || act != Action::NextBoard;
        if !named || !wanted || KEYS[..i].iter().any(|k| k.1 == act) {
            continue;
        }
        let item = key_name(b).map_or(1, str::len) + 1 + word(act).len();
        if line > 0 && line + 2 + item > cols {
            s.push('\n');
            line = 0;
        } else if line > 0 {
            s.push_str("  ");
            line += 2;
        }
        match key_name(b) {
            Some(name) => s.push_str(name),
            None => s.push(char::from(b)),
        }
        s.push(' ');
        s.push_str(word(act));
        line += item;
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of `bytes` in order, as a final read would decode them.
    fn all(mut bytes: &[u8]) -> Vec<Key> {
        let mut keys = Vec::new();
        while let Some((k, n)) = decode(bytes, false) {
            assert!(n >= 1 && n <= bytes.len(), "{n} of {bytes:?}");
            keys.push(k);
            bytes = &bytes[n..];
        }
        keys
    }

    #[test]
    fn single_bytes() {
        assert_eq!(decode(b"", false), None);
        assert_eq!(decode(b"", true), None);
        assert_eq!(decode(b"qx", true), Some((Key::Char(b'q'), 1)));
        assert_eq!(all(b"c \x03\r"), [b'c', b' ', 3, b'\r'].map(Key::Char));
        // "é" and "€" are one key each, not two or three.
        assert_eq!(
            all("é€q".as_bytes()),
            [Key::Other, Key::Other, Key::Char(b'q')]
        );
    }

    #[test]
    fn arrows_are_consumed_whole() {
        // Normal and application cursor mode, and with a modifier (Ctrl-Up).
        assert_eq!(
            all(b"\x1b[A\x1bOB\x1b[1;5C\x1b[Dq"),
            [Key::Up, Key::Down, Key::Right, Key::Left, Key::Char(b'q')]
        );
        // Function keys of xterm (ESC [ 1 5 ~, ESC O P) and of the Linux console
        // (ESC [ [ A): nothing of them is left to read as a letter.
        assert_eq!(
            all(b"\x1b[15~\x1bOP\x1b[[Ac"),
            [Key::Other, Key::Other, Key::Other, Key::Char(b'c')]
        );
    }

    #[test]
    fn escape_alone_and_cut_sequences() {
        // While more may come, a sequence cut short is not decoded yet.
        for partial in [&b"\x1b"[..], b"\x1b[", b"\x1b[1;5", b"\x1bO", b"\x1b[["] {
            assert_eq!(decode(partial, true), None, "{partial:?}");
            let (_, n) = decode(partial, false).unwrap();
            assert_eq!(n, partial.len(), "{partial:?}");
        }
        assert_eq!(decode(b"\x1b", false), Some((Key::Esc, 1)));
        assert_eq!(all(b"\x1b\x1b[A"), [Key::Esc, Key::Up]);
        // Alt-q is not q.
        assert_eq!(all(b"\x1bq"), [Key::Other]);
        // A malformed CSI ends before the byte that broke it, which is read again.
        assert_eq!(all(b"\x1b[1\x03"), [Key::Other, Key::Char(3)]);
    }

    #[test]
    fn the_key_table() {
        assert_eq!(action(Key::Char(b'q')), Some(Action::Quit));
        assert_eq!(action(Key::Char(3)), Some(Action::Quit));
        assert_eq!(action(Key::Char(b'c')), Some(Action::Sort(SortKey::Cpu)));
        assert_eq!(
            action(Key::Char(b'i')),
            Some(Action::Sort(SortKey::Delay(Delay::Blkio)))
        );
        assert_eq!(action(Key::Char(b'm')), Some(Action::Sort(SortKey::Mem)));
        assert_eq!(action(Key::Char(b' ')), Some(Action::Refresh));
        assert_eq!(action(Key::Char(b'Q')), None);
        assert_eq!(action(Key::Up), None);
        // One row per byte, and every --sort key has a key.
        for (i, k) in KEYS.iter().enumerate() {
            assert!(KEYS[..i].iter().all(|o| o.0 != k.0), "{:?} twice", k.0);
        }
        for &(name, key, _) in live::SORT_KEYS {
            let sort = Action::Sort(key);
            assert!(KEYS.iter().any(|k| k.1 == sort), "no key for --sort {name}");
            assert_eq!(word(sort), name);
        }
    }

    #[test]
    fn help_lines_list_each_action_once_within_the_width() {
        let h = help_lines(80);
        assert!(h.starts_with("q quit  c cpu  d cpu-delay  i blkio"), "{h}");
        assert!(
            h.contains("space refresh") && h.ends_with("h help\n"),
            "{h}"
        );
        // Ctrl-C, Ctrl-\\ and ? say nothing new; no control byte reaches the screen.
        assert_eq!(h.matches("quit").count(), 1, "{h}");
        assert_eq!(h.matches("help").count(), 1, "{h}");
        assert!(
            h.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b)),
            "{h}"
        );
        for cols in [80, 40, 20] {
            let h = help_lines(cols);
            assert!(h.lines().all(|l| l.len() <= cols), "{cols}: {h}");
        }
        assert_eq!(help_lines(80).lines().count(), 2);
        // The board key only where there are boards to switch between.
        assert!(!h.contains("tab"), "{h}");
        let b = board_help_lines(80);
        assert!(
            b.starts_with(h.trim_end()) && b.ends_with("tab next board\n"),
            "{b}"
        );
        assert_eq!(action(Key::Char(b'\t')), Some(Action::NextBoard));
        // Narrower than one item: one item a line, cut later by the frame.
        assert!(help_lines(3).lines().all(|l| l.split("  ").count() == 1));
    }
}
