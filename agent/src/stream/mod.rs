//! `taskwire stream`: exit records framed (core's wire format) and written to a UART, a
//! socket, a file or stdout.
//!
//! Two threads. The reader (the command's main thread, running the shared listener loop)
//! turns each exit record into a postcard payload and pushes it on a bounded [`queue`],
//! which numbers it; it never waits on the sink. What the two share is a [`link`]. The
//! [`writer`] thread pops and frames records ([`framer`]) into a [`batch`], writes
//! batches to the [`sink`], sends heartbeats, and reconnects with backoff when the sink
//! fails or its collector closes; on a two-way link it keeps what it wrote until the
//! collector acknowledges it ([`ack`]). Records dropped in bulk are reported through one
//! [`loss_run`]. A sampler of live tasks pushes intervals and samples on the same link
//! ([`link::Link::push_samples`], or [`sampling`]'s `Link::push_sweep` straight from the
//! live engine's sweep): numbered in the records' sequence, queued, lost and framed
//! exactly as records are. [`spec`] parses sink specs (a UART is set up by `taskwire_cli::serial`,
//! which `decode` shares). [`logfile`] is getdelays' `-w FILE`.

pub mod ack;
pub mod backlog;
pub mod batch;
pub mod framer;
pub mod header;
pub mod link;
pub mod logfile;
pub mod loss_run;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod queue;
pub mod reopen;
pub mod sampling;
pub mod say;
pub mod sink;
pub mod spec;
pub mod writer;

/// Starts one of the stream's threads (the writer, the sampler): named `name`, with a
/// `stack`-byte stack, running `f`. Through `pthread_create` ([`taskwire_cli::sys::thread`]),
/// not std's thread builder, whose start-up carries more than these threads need.
pub fn spawn_thread(
    name: &'static std::ffi::CStr,
    stack: usize,
    f: Box<dyn FnOnce() + Send>,
) -> std::io::Result<taskwire_cli::sys::thread::Thread> {
    taskwire_cli::sys::thread::spawn(name, stack, f)
}
