//! `decode --view top`: the boards' live top drawn on the host from their samples, the
//! screen of `taskwire top` ([`taskwire_cli::output::live::screen`]).
//!
//! [`View`] keeps, per board, the last complete interval ([`assembly`]) and the board's
//! kernel from its stream header; it turns one into a screen on demand. In batch mode
//! (standard output is no terminal) it appends a screen to the output each time an
//! interval completes; on a terminal, [`front::Screen`] draws the chosen board's last
//! interval and answers keys, served by the decoder's poll loop ([`crate::pump`]).

pub mod assembly;
pub mod front;

use taskwire_cli::output::live::{self, DelayAcct, Header, Pressure, Psi, Size};
use taskwire_core::taskstats::SortKey;
use taskwire_core::wire::{Interval, PsiResource, Sample, StreamHeader};

use crate::boards::MAX_BOARDS;
use assembly::{Assembled, Assembly};

/// One board's part of the view.
#[derive(Debug)]
struct Board {
    label: String,
    /// The kernel release of its stream header ("" until one arrives).
    kernel: String,
    asm: Assembly,
}

/// Every board's last interval, and how screens are made of them.
#[derive(Debug)]
pub struct View {
    /// Boards in the order they were first seen, at most [`MAX_BOARDS`].
    boards: Vec<Board>,
    /// What the rows are sorted by.
    pub sort: SortKey,
    /// `--board`: in batch mode, the only board printed.
    only: Option<String>,
    /// Batch mode: the size of the screen printed per completed interval.
    batch: Option<Size>,
    /// Whether a batch screen was printed already (the next one follows a blank line).
    printed: bool,
    /// Boards added: a change of the board list.
    added: u64,
    /// Every stream ended (a file read to its end): nothing more will come.
    pub ended: bool,
}

impl View {
    /// A view sorted by `sort`; `batch` prints a screen of that size per completed
    /// interval (of board `only`, when given), else screens are drawn on demand.
    pub fn new(sort: SortKey, only: Option<String>, batch: Option<Size>) -> View {
        View {
            boards: Vec::new(),
            sort,
            only,
            batch,
            printed: false,
            added: 0,
            ended: false,
        }
    }

    /// The board `--board` named.
    pub fn only(&self) -> Option<&str> {
        self.only.as_deref()
    }

    /// Boards seen so far.
    pub fn board_count(&self) -> usize {
        self.boards.len()
    }

    /// The label of board `i`, in the order first seen.
    pub fn label(&self, i: usize) -> Option<&str> {
        self.boards.get(i).map(|b| b.label.as_str())
    }

    /// The position of board `label`.
    pub fn position(&self, label: &str) -> Option<usize> {
        self.boards.iter().position(|b| b.label == label)
    }

    /// Counts every change a screen could show: a new board, an interval completed, a
    /// late row. A screen drawn at one value is current until it moves.
    pub fn generation(&self) -> u64 {
        self.boards
            .iter()
            .fold(self.added + u64::from(self.ended), |n, b| {
                n.wrapping_add(b.asm.changes)
            })
    }

    /// The position of board `label`, added now if new; `None` past [`MAX_BOARDS`].
    fn index(&mut self, label: &str) -> Option<usize> {
        if let Some(i) = self.position(label) {
            return Some(i);
        }
        if self.boards.len() >= MAX_BOARDS {
            return None;
        }
        self.added += 1;
        self.boards.push(Board {
            label: label.to_owned(),
            kernel: String::new(),
            asm: Assembly::default(),
        });
        Some(self.boards.len() - 1)
    }

    /// A stream header of `label`: its kernel names the screen.
    pub fn header(&mut self, label: &str, h: &StreamHeader) {
        if let Some(i) = self.index(label) {
            self.boards[i].kernel = h.kernel_release.as_str().to_owned();
        }
    }

    /// An `Interval` frame of `label`; batch screens of what it completes go to `out`.
    pub fn interval(&mut self, label: &str, i: &Interval, out: &mut String) {
        self.with_board(label, out, |asm, done| asm.interval(i, done));
    }

    /// A `Sample` row of `label`; batch screens of what it completes go to `out`.
    pub fn sample(&mut self, label: &str, x: &Sample, out: &mut String) {
        self.with_board(label, out, |asm, done| asm.sample(x, done));
    }

    /// `label`'s stream ended: its interval being assembled is complete.
    pub fn finish(&mut self, label: &str, out: &mut String) {
        self.with_board(label, out, |asm, done| asm.finish(done));
    }

    /// Every stream ended: every interval being assembled is complete.
    pub fn finish_all(&mut self, out: &mut String) {
        self.ended = true;
        let labels: Vec<String> = self.boards.iter().map(|b| b.label.clone()).collect();
        for l in labels {
            self.finish(&l, out);
        }
    }

    /// Runs `step` on `label`'s assembly, printing a batch screen of each interval it
    /// completes.
    fn with_board(
        &mut self,
        label: &str,
        out: &mut String,
        step: impl FnOnce(&mut Assembly, &mut dyn FnMut(&Assembled)),
    ) {
        let Some(i) = self.index(label) else {
            return;
        };
        let wanted = self.only.as_deref().is_none_or(|o| o == label);
        let (sort, batch, printed) = (self.sort, self.batch, &mut self.printed);
        let b = &mut self.boards[i];
        let (label, kernel) = (&b.label, &b.kernel);
        step(&mut b.asm, &mut |a| {
            let Some(size) = batch.filter(|_| wanted) else {
                return;
            };
            if std::mem::replace(printed, true) {
                out.push('\n');
            }
            render(out, &title(label, kernel, None, a), a, sort, size);
        });
    }

    /// The screen of board `i`'s last complete interval at `size`, its title saying which
    /// of the boards it is; false (nothing written) before that board has one.
    pub fn screen(&self, i: usize, size: Size, out: &mut String) -> bool {
        let Some(b) = self.boards.get(i) else {
            return false;
        };
        let Some(a) = b.asm.shown() else {
            return false;
        };
        let of = (self.boards.len() > 1).then_some((i + 1, self.boards.len()));
        render(out, &title(&b.label, &b.kernel, of, a), a, self.sort, size);
        true
    }
}

/// The title of a board's screen: `rpi4 [1/3] 6.1.0-rpi`, and what is missing.
/// The board's names are written as text output writes them: nothing from a board reaches
/// the terminal raw.
fn title(label: &str, kernel: &str, of: Option<(usize, usize)>, a: &Assembled) -> String {
    use taskwire_cli::output::escape_token;
    let mut t = escape_token(label.as_bytes());
    let kernel = escape_token(kernel.as_bytes());
    if let Some((i, n)) = of {
        t.push_str(&format!(" [{i}/{n}]"));
    }
    if !kernel.is_empty() {
        t.push(' ');
        t.push_str(&kernel);
    }
    if a.interval.is_none() {
        t.push_str(" (interval frame lost)");
    }
    let lost = a.missing() + a.dropped;
    if lost > 0 {
        t.push_str(&format!(" ({lost} rows lost)"));
    }
    t
}

/// Appends the screen of `a`, sorted by `sort`, to `out`.
fn render(out: &mut String, title: &str, a: &Assembled, sort: SortKey, size: Size) {
    let mut rows = a.rows.clone();
    live::sort_rows(&mut rows, sort);
    let (pressure, delayacct, total) = match &a.interval {
        Some(i) => (
            pressure(i),
            match i.delay_accounting {
                Some(true) => DelayAcct::On,
                Some(false) => DelayAcct::Off,
                None => DelayAcct::Unknown,
            },
            i.tasks_total as usize,
        ),
        // Not known without the frame: every average shown as '-', not as "no PSI".
        None => {
            let unknown = Psi::Avg10 {
                some: None,
                full: None,
            };
            let p = Pressure {
                cpu: unknown,
                memory: unknown,
                io: unknown,
                irq: unknown,
            };
            (p, DelayAcct::Unknown, rows.len())
        }
    };
    let header = Header {
        title,
        interval_ms: a.interval_ms(),
        pressure,
        cgroup: None,
        delayacct,
        shown: rows.len(),
        total: total.max(rows.len()),
        sort,
        threads: false,
    };
    live::screen(out, &header, &rows, size);
}

/// The system's pressure an `Interval` frame carries, as the screen shows it: a resource
/// with neither line is one without a pressure file.
fn pressure(i: &Interval) -> Pressure {
    let psi = |r| match (i.avg10(r, false), i.avg10(r, true)) {
        (None, None) => Psi::Absent,
        (some, full) => Psi::Avg10 { some, full },
    };
    Pressure {
        cpu: psi(PsiResource::Cpu),
        memory: psi(PsiResource::Memory),
        io: psi(PsiResource::Io),
        irq: psi(PsiResource::Irq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskwire_core::taskstats::{Delay, DelayCounter, Deltas};
    use taskwire_core::wire::testutil::{named_header, small_interval};
    use taskwire_core::wire::{Message, Sample};

    fn interval(sample: u64, rows: u32) -> Interval {
        let Message::Interval(i) = small_interval(0, sample, rows) else {
            unreachable!()
        };
        i
    }

    /// Task `tgid` over 2 s using `cpu_ms` of CPU and waiting `io_ms` on block IO.
    fn row(sample: u64, tgid: u32, cpu_ms: u64, io_ms: u64) -> Sample {
        let mut d = Deltas::empty(2_000_000_000);
        d.cpu_us = Some(cpu_ms * 1000);
        d.delays[1] = Some(DelayCounter {
            count: 1,
            total_ns: io_ms * 1_000_000,
        });
        Sample::new(sample, tgid, Some(format!("t{tgid}").as_bytes()), &d)
    }

    fn kernel(board: &str, release: &str) -> StreamHeader {
        let Message::Header(mut h) = named_header(board) else {
            unreachable!()
        };
        h.kernel_release = release.try_into().unwrap();
        h
    }

    /// The tgids of a screen's rows, top to bottom.
    fn ids(screen: &str) -> Vec<u32> {
        screen
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("TGID"))
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
            .collect()
    }

    #[test]
    fn batch_prints_a_screen_per_completed_interval_of_each_board() {
        let mut v = View::new(SortKey::Cpu, None, Some(Size::BATCH));
        let mut out = String::new();
        v.header("a", &kernel("a", "6.1.0-arm64"));
        v.interval("a", &interval(0, 2), &mut out);
        v.sample("a", &row(0, 10, 100, 900), &mut out);
        // Another board's frames between: assembled apart.
        v.interval("b", &interval(3, 1), &mut out);
        assert!(out.is_empty(), "{out}");
        v.sample("a", &row(0, 11, 500, 0), &mut out);
        let first = out.clone();
        assert!(
            first.starts_with("a 6.1.0-arm64  every 2.0 s  2 of 100 thread groups  sort cpu"),
            "{first}"
        );
        assert!(first.contains("io 2.71/1.26"), "{first}");
        assert_eq!(ids(&first), [11, 10]);
        v.sample("b", &row(3, 20, 1, 1), &mut out);
        let second = &out[first.len()..];
        assert!(second.starts_with("\nb  every 2.0 s  1 of 100"), "{second}");
        assert_eq!(v.board_count(), 2);
        // Sorted by blkio the same rows come the other way round.
        let mut screen = String::new();
        v.sort = SortKey::Delay(Delay::Blkio);
        assert!(v.screen(0, Size::BATCH, &mut screen));
        assert!(screen.starts_with("a [1/2] 6.1.0-arm64  every"), "{screen}");
        assert_eq!(ids(&screen), [10, 11]);
    }

    #[test]
    fn only_the_board_asked_for_is_printed() {
        let mut v = View::new(SortKey::Cpu, Some("b".into()), Some(Size::BATCH));
        let mut out = String::new();
        v.interval("a", &interval(0, 1), &mut out);
        v.sample("a", &row(0, 1, 1, 1), &mut out);
        assert!(out.is_empty(), "{out}");
        v.interval("b", &interval(0, 1), &mut out);
        v.sample("b", &row(0, 2, 1, 1), &mut out);
        assert!(out.starts_with("b  every"), "{out}");
        // Interactive: nothing printed, screens on demand.
        let mut v = View::new(SortKey::Cpu, None, None);
        v.interval("a", &interval(0, 1), &mut out);
        let g = v.generation();
        v.sample("a", &row(0, 1, 1, 1), &mut out);
        assert_ne!(v.generation(), g);
        assert!(
            out.starts_with("b  every") && !out.contains("\na  "),
            "{out}"
        );
    }

    #[test]
    fn a_lost_interval_frame_and_lost_rows_are_said() {
        let mut v = View::new(SortKey::Cpu, None, None);
        let mut out = String::new();
        v.sample("a", &row(5, 1, 1, 1), &mut out);
        let mut screen = String::new();
        assert!(!v.screen(0, Size::BATCH, &mut screen), "not complete yet");
        v.finish_all(&mut out);
        assert!(v.screen(0, Size::BATCH, &mut screen));
        let lines: Vec<&str> = screen.lines().collect();
        assert!(
            lines[0].starts_with("a (interval frame lost)  every 2.0 s  1 of 1 thread groups"),
            "{screen}"
        );
        assert_eq!(
            lines[1],
            "PSI some/full avg10 %:  cpu -/-  mem -/-  io -/-  irq -/-"
        );
        v.interval("a", &interval(6, 3), &mut out);
        v.sample("a", &row(6, 1, 1, 1), &mut out);
        v.finish("a", &mut out);
        screen.clear();
        v.screen(0, Size::BATCH, &mut screen);
        assert!(screen.starts_with("a (2 rows lost)  every"), "{screen}");
    }
}
