//! What the printing consumers of the listener (`listen`, getdelays `-m`) share: output
//! whose first error stops the loop and is kept for the command to report.

use std::io::{self, Write};

use crate::listener::Flow;

/// An output stream for a [`crate::listener::Consumer`]: each write or flush says whether
/// the loop goes on.
pub struct Printer<W: Write> {
    out: W,
    error: Option<io::Error>,
}

impl<W: Write> Printer<W> {
    /// Prints to `out`.
    pub fn new(out: W) -> Self {
        Printer { out, error: None }
    }

    /// Writes `s`; on an error (a closed pipe, a full disk) keeps it and says stop.
    pub fn write(&mut self, s: &str) -> Flow {
        let written = self.out.write_all(s.as_bytes());
        self.check(written)
    }

    /// Flushes, for the moment the loop is about to block.
    pub fn flush(&mut self) -> Flow {
        let flushed = self.out.flush();
        self.check(flushed)
    }

    fn check(&mut self, r: io::Result<()>) -> Flow {
        match r {
            Ok(()) => Flow::Continue,
            Err(e) => {
                // The first error is the one that explains the others.
                self.error.get_or_insert(e);
                Flow::Stop
            }
        }
    }

    /// Whether a write or flush has failed.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The first write or flush error, taken.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// The output stream, for the command's last flush or a test's inspection.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails every write with a different error kind each time.
    struct Full {
        room: usize,
        failures: u32,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                self.failures += 1;
                let kind = match self.failures {
                    1 => io::ErrorKind::BrokenPipe,
                    _ => io::ErrorKind::Other,
                };
                return Err(kind.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_first_error_stops_and_is_kept() {
        let mut p = Printer::new(Full {
            room: 4,
            failures: 0,
        });
        assert_eq!(p.write("abc"), Flow::Continue);
        assert_eq!(p.flush(), Flow::Continue);
        assert!(!p.failed());
        assert_eq!(p.write("defg"), Flow::Stop);
        assert_eq!(p.write("h"), Flow::Stop);
        assert!(p.failed());
        let e = p.take_error().map(|e| e.kind());
        assert_eq!(e, Some(io::ErrorKind::BrokenPipe));
    }
}
