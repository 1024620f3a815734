//! `taskwire report`: a recorded stream as one self-contained HTML page.
//!
//! The stream is read and decoded exactly as by `decode` (the same sources, [`crate::pump`]
//! and [`crate::session::Decoder`], so the same counts); the decoder hands every frame it
//! took to an [`aggregate::Aggregate`] ([`crate::observer::Observer`]) instead of the
//! renderer. The aggregate keeps per board a bounded summary, never the frames: exits
//! and losses along a timeline of at most [`timeline::MAX_BUCKETS`] buckets, delay totals
//! of at most [`comms::MAX_COMMS`] command names, a log-scale histogram per delay
//! category, exit codes and signals, the first losses and gaps, and live tasks' delay over
//! time ([`samples`]). [`page`] draws it: HTML with inline CSS, SVG charts written by
//! [`svg`], and a small inline script for sorting and hover tips; every name from the
//! stream passes through [`html::name`].

pub mod aggregate;
pub mod command;
pub mod comms;
pub mod histogram;
pub mod html;
pub mod page;
pub mod samples;
pub mod svg;
pub mod timeline;

#[cfg(test)]
mod tests;
