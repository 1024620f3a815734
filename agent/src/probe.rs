//! Whether exit records reach this process at all.
//!
//! The kernel accepts a registration from any network namespace but sends exit records to
//! listeners in the initial one only, so a listener elsewhere (`unshare -n`, a container
//! with its own network) would wait for ever without a record or a word. Right after
//! registering, a thread of ours that the kernel must report (it runs on a registered CPU)
//! exits; if no record at all arrives within [`WITHIN`], none ever will. The probe's own
//! record is kept from the consumer: it is taskwire's, not the system's.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use taskwire_core::cpulist::CpuSet;

/// How long after registering the first record must arrive.
pub const WITHIN: Duration = Duration::from_secs(1);

/// A probe thread that has exited, and what the loop has seen since.
pub struct Probe {
    tid: u32,
    deadline: Instant,
    /// Some record or loss arrived: records reach us.
    pub heard: bool,
    /// The probe's own record was seen (and kept from the consumer).
    own_seen: bool,
}

impl Probe {
    /// Starts a thread on the CPUs of `cpus`, which exits at once; None when it cannot be
    /// placed there (a CPU set the scheduler refuses) or started: then nothing is checked.
    pub fn start(cpus: &CpuSet) -> Option<Probe> {
        let mut set = rustix::thread::CpuSet::new();
        for cpu in cpus.iter().filter(|&c| c < rustix::thread::CpuSet::MAX_CPU) {
            set.set(cpu);
        }
        // The thread's id, 0 when it could not be placed. Through the stream's spawner,
        // which the board build links anyway.
        static TID: AtomicU32 = AtomicU32::new(0);
        TID.store(0, Ordering::Relaxed);
        let probe = crate::stream::spawn_thread(
            c"probe",
            16 * 1024,
            Box::new(move || {
                if rustix::thread::sched_setaffinity(None, &set).is_ok() {
                    let id = rustix::thread::gettid().as_raw_nonzero().get();
                    TID.store(id as u32, Ordering::Relaxed);
                }
            }),
        );
        probe.ok()?.join();
        let tid = match TID.load(Ordering::Relaxed) {
            0 => return None,
            id => id,
        };
        Some(Probe {
            tid,
            deadline: Instant::now() + WITHIN,
            heard: false,
            own_seen: false,
        })
    }

    /// Whether a per-task record of `id` is the probe's own (the first such one only).
    pub fn is_own(&mut self, id: u32) -> bool {
        self.heard = true;
        let own = !self.own_seen && id == self.tid;
        self.own_seen |= own;
        own
    }

    /// How long the loop may wait before [`Probe::deaf`] must be asked; None once a
    /// record has arrived.
    pub fn wait_left(&self) -> Option<Duration> {
        match self.heard {
            true => None,
            false => Some(self.deadline.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether the deadline passed without a single record.
    pub fn deaf(&self) -> bool {
        !self.heard && Instant::now() >= self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(tid: u32, deadline: Instant) -> Probe {
        Probe {
            tid,
            deadline,
            heard: false,
            own_seen: false,
        }
    }

    #[test]
    fn only_the_probes_first_record_is_kept_from_the_consumer() {
        let mut p = probe(42, Instant::now() + WITHIN);
        assert!(p.wait_left().is_some());
        assert!(!p.is_own(7));
        assert!(p.heard && p.wait_left().is_none());
        assert!(p.is_own(42));
        assert!(
            !p.is_own(42),
            "a later task with the same id is not the probe"
        );
    }

    #[test]
    fn deaf_only_when_the_deadline_passed_in_silence() {
        let past = Instant::now();
        let mut p = probe(42, past);
        assert!(p.deaf());
        p.heard = true;
        assert!(!p.deaf());
        assert!(!probe(42, Instant::now() + WITHIN).deaf());
    }

    #[test]
    fn a_probe_starts_on_the_cpus_of_the_set() {
        let mut cpus = CpuSet::default();
        cpus.insert(0).unwrap();
        match Probe::start(&cpus) {
            Some(p) => assert_ne!(p.tid, 0),
            // A cpuset without CPU 0 (some CI containers): nothing to check here.
            None => eprintln!("skip: CPU 0 is not allowed to this process"),
        }
    }
}
