//! `taskwire stream`: exit records framed (core's wire format) and written to a UART, a
//! socket, a file or stdout.
//!
//! Two threads. The reader (the command's main thread, running the shared listener loop)
//! turns each exit record into a postcard payload and pushes it on a bounded [`queue`],
//! which numbers it; it never waits on the sink. The [`writer`] thread pops and frames
//! records ([`framer`]), writes batches to the [`sink`], sends heartbeats, and reconnects
//! with backoff when the sink fails or its collector closes. [`spec`] parses sink and source endpoints and [`serial`]
//! sets up a UART; both serve `decode` too. [`logfile`] is getdelays' `-w FILE`.

pub mod batch;
pub mod framer;
pub mod header;
pub mod logfile;
pub mod loss_run;
pub mod queue;
pub mod serial;
pub mod sink;
pub mod spec;
pub mod writer;
