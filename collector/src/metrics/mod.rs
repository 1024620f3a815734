//! `decode --metrics`: the decoder's counts for Prometheus (or anything that scrapes its
//! text format).
//!
//! The counts themselves are the tally's ([`crate::tally`]): per board, records, losses,
//! gaps, rejected frames, duplicates, when it was last seen. What only the metrics need
//! is kept beside them in each board's row, as a [`Series`]: exits and delays per command
//! name, bounded to the board's top comms ([`comms`]), and the most delayed tasks of its
//! last sampling interval ([`tasks`]). The decoder adds to them as it takes each record,
//! interval and sample ([`Metrics`]); [`exposition`] writes the text a scrape reads, and
//! [`http`] serves it from the decoder's own loop, so a scrape sees the counts as they
//! are between two reads of the streams, and no lock is taken per record.

pub mod comms;
pub mod exposition;
pub mod http;
pub mod tasks;

use taskwire_core::wire::{Interval, Kind, Record, Sample};

use crate::session::Decoder;

/// Comms with series of their own per board, unless `--metrics-top-comms` says.
pub const DEFAULT_TOP_COMMS: usize = 10;
/// The most `--metrics-top-comms` takes: a bound on every board's series.
pub const MAX_TOP_COMMS: usize = 100;

/// What the metrics keep of one board beside its counts.
#[derive(Debug, Default)]
pub struct Series {
    /// Exits and delays by comm.
    pub comms: comms::Comms,
    /// The last interval's most delayed tasks.
    pub tasks: tasks::Tasks,
}

/// `decode --metrics`: how many comms and tasks a board exports, and the server.
#[derive(Debug)]
pub struct Metrics {
    /// Comms with a series of their own per board, and tasks exported per board.
    pub top: usize,
    /// The HTTP listener; `None` in tests that only count.
    pub server: Option<http::Server>,
}

impl Metrics {
    /// A record the board's numbering took (not a duplicate). Per-task records only: a
    /// thread group's record repeats what its threads' records carried.
    pub fn record(&self, series: &mut Series, r: &Record) {
        if r.kind == Kind::Pid {
            series.comms.exit(r, self.top);
        }
    }

    /// An interval the board's numbering took.
    pub fn interval(&self, series: &mut Series, i: &Interval) {
        series.tasks.interval(i);
    }

    /// A sample the board's numbering took.
    pub fn sample(&self, series: &mut Series, s: &Sample) {
        series.tasks.sample(s, self.top);
    }
}

/// Serves the scrapers of `decoder`'s metrics, if it has a server.
pub fn serve(decoder: &mut Decoder) {
    let Decoder { metrics, tally, .. } = decoder;
    if let Some(s) = metrics.as_mut().and_then(|m| m.server.as_mut()) {
        s.serve(tally);
    }
}

/// The descriptor the loop polls for `decoder`'s metrics server, and when its oldest
/// connection's time is up.
pub fn polled(
    decoder: &Decoder,
) -> Option<(std::os::fd::BorrowedFd<'_>, Option<std::time::Instant>)> {
    let s = decoder.metrics.as_ref()?.server.as_ref()?;
    Some((s.fd(), s.deadline()))
}
