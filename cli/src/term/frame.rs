//! One screen of text as the bytes that paint it in place, with VT100 sequences only, so
//! that it works on a serial console with TERM=vt100, TERM=linux or no TERM and no
//! terminfo: cursor home (`ESC [ H`), erase to end of line (`ESC [ K`), erase below
//! (`ESC [ J`).
//!
//! Nothing is cleared first (a clear shows as a blank flash on a slow line): each line
//! overwrites the last frame's and erases what is left of it, and the rows below the last
//! line are erased once. The frame never holds more than `rows` lines nor a line wider
//! than `cols`: every byte is one column (anything outside printable ASCII is shown as
//! `?`, which also keeps a task's name from sending escape sequences), and no newline
//! follows the last row, so the screen never scrolls.

/// Cursor home: row 1, column 1.
pub const HOME: &[u8] = b"\x1b[H";
/// Erase from the cursor to the end of the line.
pub const ERASE_LINE: &[u8] = b"\x1b[K";
/// Erase from the cursor to the end of the screen.
pub const ERASE_BELOW: &[u8] = b"\x1b[J";

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl Size {
    /// What a terminal that does not know its size gets: a serial console reports 0x0.
    pub const FALLBACK: Size = Size { cols: 80, rows: 24 };

    /// `cols` x `rows`, each taken from [`Size::FALLBACK`] where it is zero.
    pub fn or_fallback(cols: u16, rows: u16) -> Size {
        let pick = |v: u16, fallback: u16| if v == 0 { fallback } else { v };
        Size {
            cols: pick(cols, Size::FALLBACK.cols),
            rows: pick(rows, Size::FALLBACK.rows),
        }
    }
}

/// Replaces `buf` with the bytes that paint `screen` (lines each ended or separated by
/// `\n`) at `size`,
/// starting each line after the first with `newline` (`\r\n`, or `\n` where the terminal's
/// output processing turns it into `\r\n`: a byte a line less on a slow line); returns
/// whether the cursor is left on the last row, after its text (so that whoever writes
/// after the frame starts a new line first).
pub fn paint(buf: &mut Vec<u8>, screen: &str, size: Size, newline: &[u8]) -> bool {
    buf.clear();
    buf.extend_from_slice(HOME);
    let width = usize::from(size.cols);
    let mut lines = 0;
    // Not `lines()`: its CR handling is code the board pays for, and no screen has CRs.
    let body = screen.strip_suffix('\n').unwrap_or(screen);
    let lines_in = body.split('\n').filter(|_| !body.is_empty());
    for line in lines_in.take(usize::from(size.rows)) {
        if lines > 0 {
            buf.extend_from_slice(newline);
        }
        let line = &line.as_bytes()[..line.len().min(width)];
        buf.extend(line.iter().map(|&b| match b {
            0x20..=0x7e => b,
            _ => b'?',
        }));
        // A full-width line leaves the cursor waiting to wrap on its last column, where an
        // erase would take that column's character; there is nothing to erase then anyway.
        if line.len() < width {
            buf.extend_from_slice(ERASE_LINE);
        }
        lines += 1;
    }
    if lines < size.rows {
        if lines > 0 {
            buf.extend_from_slice(newline);
        }
        buf.extend_from_slice(ERASE_BELOW);
        false
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn painted(screen: &str, cols: u16, rows: u16) -> (String, bool) {
        let mut buf = b"stale".to_vec();
        let last_row = paint(&mut buf, screen, Size { cols, rows }, b"\r\n");
        (String::from_utf8(buf).unwrap(), last_row)
    }

    #[test]
    fn lines_overwrite_in_place_and_the_rest_is_erased() {
        let (s, last_row) = painted("ab\ncd\n", 10, 5);
        assert_eq!(s, "\x1b[Hab\x1b[K\r\ncd\x1b[K\r\n\x1b[J");
        assert!(!last_row);
        // An empty screen is cursor home and erase.
        assert_eq!(painted("", 10, 5), ("\x1b[H\x1b[J".into(), false));
    }

    #[test]
    fn newline_as_the_terminal_wants_it() {
        let mut buf = Vec::new();
        paint(&mut buf, "a\nb", Size { cols: 9, rows: 3 }, b"\n");
        assert_eq!(buf, b"\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J");
    }

    #[test]
    fn clipped_to_width_and_height() {
        let screen = "0123456789\nabcdefghij\nABCDEFGHIJ\nnever";
        let (s, last_row) = painted(screen, 4, 3);
        // Full-width lines get no erase, and no newline follows the last row.
        assert_eq!(s, "\x1b[H0123\r\nabcd\r\nABCD");
        assert!(last_row);
        // Every row holds at most `cols` bytes and there are at most `rows` of them.
        let text = s.strip_prefix("\x1b[H").unwrap();
        assert_eq!(text.split("\r\n").count(), 3);
        assert!(text.split("\r\n").all(|l| l.len() <= 4));
        // A line exactly as wide as the terminal is not cut, and one row fills it.
        assert_eq!(painted("abcd", 4, 1), ("\x1b[Habcd".into(), true));
    }

    #[test]
    fn control_and_non_ascii_bytes_cannot_reach_the_terminal() {
        // An ESC in a task name, a tab, a CR and a two-byte UTF-8 character: one '?' per
        // byte, so the column count stays exact.
        let (s, _) = painted("a\x1b[2Jb\tc\rdé", 80, 2);
        assert_eq!(s, "\x1b[Ha?[2Jb?c?d??\x1b[K\r\n\x1b[J");
        // An empty line in the middle is a line (erased); only a last "\n" ends none.
        assert_eq!(
            painted("x\n\ny\n", 80, 3).0,
            "\x1b[Hx\x1b[K\r\n\x1b[K\r\ny\x1b[K"
        );
    }

    #[test]
    fn unknown_size_falls_back_to_80x24() {
        assert_eq!(Size::or_fallback(0, 0), Size::FALLBACK);
        assert_eq!(
            Size::or_fallback(132, 0),
            Size {
                cols: 132,
                rows: 24
            }
        );
        assert_eq!(Size::or_fallback(40, 10), Size { cols: 40, rows: 10 });
    }
}
