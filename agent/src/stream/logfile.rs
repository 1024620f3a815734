//! `getdelays -w FILE`: the records getdelays receives, written to FILE as a taskwire
//! record stream (full profile), readable with `taskwire decode --from file:FILE`.
//!
//! The kernel's tool writes raw `struct taskstats` bytes there, which only a reader built
//! for the same struct version can parse; the framed stream carries its own header and
//! survives truncation. Writes are synchronous: a file keeps up with getdelays.

use std::path::{Path, PathBuf};

use taskwire_core::taskstats::Aggregate;
use taskwire_core::wire::{Kind, LossReason, Profile, Record};

use super::framer::Framer;
use super::header::Facts;
use super::sink::{FdSink, write_all};

/// An open `-w` file.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    sink: FdSink,
    /// Made at the first record, whose struct version the header then carries.
    framer: Option<Framer>,
    /// The number the next record gets: records received so far (all are written).
    seq: u64,
    /// ENOBUFS events seen before the first record.
    early_losses: u64,
    out: Vec<u8>,
    error: Option<String>,
}

impl LogFile {
    /// Creates (or truncates) `path`, readable by its owner only, as getdelays does.
    pub fn create(path: &Path) -> Result<LogFile, String> {
        let flags = rustix::fs::OFlags::CREATE | rustix::fs::OFlags::TRUNC;
        let fd = taskwire_cli::textfile::open_write(path, flags, 0o600)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(LogFile {
            path: path.to_owned(),
            sink: FdSink::from(fd),
            framer: None,
            seq: 0,
            early_losses: 0,
            out: Vec::new(),
            error: None,
        })
    }

    /// Writes one record; false once writing has failed (see [`LogFile::finish`]).
    pub fn record(&mut self, kind: Kind, agg: &Aggregate<'_>) -> bool {
        if self.error.is_some() {
            return false;
        }
        self.out.clear();
        let framer = match &mut self.framer {
            Some(f) => f,
            None => {
                let f = Framer::new(Facts::read(None, agg.stats.version()).header());
                f.start(&mut self.out);
                self.framer.insert(f)
            }
        };
        if self.early_losses > 0 {
            framer.loss(
                LossReason::KernelEnobufs,
                std::mem::take(&mut self.early_losses),
                self.seq,
                &mut self.out,
            );
        }
        let rec = Record::from_taskstats(self.seq, kind, agg.id, &agg.stats, Profile::Full);
        self.seq += 1;
        framer.record(rec, &mut self.out);
        self.flush()
    }

    /// Notes an ENOBUFS event (records the kernel dropped, count unknown).
    pub fn loss(&mut self) -> bool {
        if self.error.is_some() {
            return false;
        }
        match &mut self.framer {
            None => {
                self.early_losses += 1;
                true
            }
            Some(f) => {
                self.out.clear();
                f.loss(LossReason::KernelEnobufs, 1, self.seq, &mut self.out);
                self.flush()
            }
        }
    }

    fn flush(&mut self) -> bool {
        match write_all(&mut self.sink, &self.out) {
            Ok(()) => true,
            Err(e) => {
                self.error = Some(format!("writing {}: {e}", self.path.display()));
                false
            }
        }
    }

    /// Records written; the first write error, if any.
    pub fn finish(self) -> Result<u64, String> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.framer.map_or(0, |f| f.records())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::framer::tests::decode_all;
    use taskwire_core::fixtures::{EXIT_PID_AND_TGID, FAMILY};
    use taskwire_core::netlink::{self, Message as NlMessage};
    use taskwire_core::taskstats::{Field, Reply};
    use taskwire_core::wire::{Message, StreamHeader};

    fn reply() -> Reply<'static> {
        let packet = netlink::messages(&EXIT_PID_AND_TGID)
            .next()
            .unwrap()
            .unwrap();
        let NlMessage::Data(p) = NlMessage::parse(packet).unwrap() else {
            panic!()
        };
        Reply::parse(p, FAMILY).unwrap()
    }

    #[test]
    fn writes_a_decodable_stream() {
        let path = std::env::temp_dir().join(format!("tw-logfile-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut l = LogFile::create(&path).unwrap();
        let r = reply();
        assert!(l.loss());
        assert!(l.record(Kind::Pid, &r.pid.unwrap()));
        assert!(l.record(Kind::Tgid, &r.tgid.unwrap()));
        assert_eq!(l.finish(), Ok(2));
        let bytes = std::fs::read(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap();
        // A second run starts the file over.
        LogFile::create(&path).unwrap().finish().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        assert_eq!(bytes[0], 0);
        let msgs = decode_all(&bytes);
        let Message::Header(h) = &msgs[0] else {
            panic!("{msgs:?}")
        };
        assert_eq!(h.taskstats_version, r.pid.unwrap().stats.version());
        assert_eq!(h.magic, StreamHeader::new().magic);
        assert!(
            matches!(&msgs[1], Message::Loss(x) if x.reason == LossReason::KernelEnobufs && x.count == 1 && x.next_seq == 0)
        );
        let Message::Record(p) = &msgs[2] else {
            panic!()
        };
        assert_eq!((p.seq, p.kind, p.id), (0, Kind::Pid, r.pid.unwrap().id));
        assert_eq!(
            p.get(Field::AcPid).map(|v| format!("{v:?}")),
            r.pid
                .unwrap()
                .stats
                .value(Field::AcPid)
                .map(|v| format!("{v:?}"))
        );
        assert!(matches!(&msgs[3], Message::Record(t) if t.seq == 1 && t.kind == Kind::Tgid));
    }

    #[test]
    fn unwritable_path_is_one_line() {
        let e = LogFile::create(Path::new("/nonexistent/dir/log")).unwrap_err();
        assert!(e.starts_with("cannot create /nonexistent/dir/log: "), "{e}");
    }
}
