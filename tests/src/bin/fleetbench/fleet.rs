//! The simulated boards: each the agent's own writer thread (`taskwire::stream::writer`)
//! over its own queue and link, with the connector a real agent uses for the sink, fed
//! from the capture by one feeder thread instead of the kernel.
//!
//! Both kinds use the agent's own connector, `Reopen`: MQTT boards through its
//! `Publisher` (the MQTT sink's code path: CONNECT with will, payloads each a complete
//! stream, PUBACKs as acknowledgements, Receive Maximum), TCP boards as `stream --to tcp:`
//! opens them (the socket's backlog bound, the collector's answers read back).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use taskwire::stream::framer::Framer;
use taskwire::stream::link::Link;
use taskwire::stream::mqtt::Publisher;
use taskwire::stream::queue::Queue;
use taskwire::stream::reopen::Reopen;
use taskwire::stream::spec::Sink;
use taskwire::stream::writer::{self, Settings};
use taskwire_core::wire::LossReason;

use crate::capture::Capture;

/// Records a board's queue holds (the agent's default for the full profile).
const QUEUE_RECORDS: usize = 1536;
/// Room per record in the queue's bytes (a full record is about 125 bytes; some are
/// longer).
const QUEUE_BYTES_PER_RECORD: usize = 256;
/// Records pushed on one board per turn of the feeder.
const BURST: usize = 64;

/// Where the boards send.
#[derive(Debug, Clone)]
pub enum Target {
    /// A broker at 127.0.0.1:port; topics `taskwire/BOARD/stream`.
    Mqtt(u16),
    /// Decoders listening on 127.0.0.1 at these ports, the boards spread evenly.
    Tcp(Vec<u16>),
}

struct Board {
    link: Arc<Link>,
    writer: JoinHandle<()>,
}

/// What the boards report of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sent {
    /// Records pushed on the boards' queues (numbered).
    pub pushed: u64,
    /// Records the boards' queues dropped (overflow or outage), as Loss frames report.
    pub lost: u64,
    /// Reconnects after an outage, over all boards.
    pub reconnects: u64,
}

/// `n` boards named `fleet-NNN` sending to `target`, started (connected or trying).
pub struct Fleet {
    boards: Vec<Board>,
}

impl Fleet {
    pub fn start(n: usize, cap: &Capture, target: &Target, run: u64) -> Fleet {
        let boards = (0..n)
            .map(|i| {
                let id = format!("fleet-{i:03}");
                let mut header = cap.header.clone();
                header.board_id = id.as_str().try_into().expect("a short board id");
                // A new instance per run: each run's boards are new boards to a decoder.
                header.instance = (run << 32) | (i as u64 + 1);
                let link = Arc::new(Link::new(Queue::new(
                    QUEUE_RECORDS,
                    QUEUE_RECORDS * QUEUE_BYTES_PER_RECORD,
                )));
                let settings = Settings {
                    // Heartbeats would move the decoders' last-seen past the last record.
                    heartbeat: None,
                    ..Settings::default()
                };
                let framer = Framer::new(header);
                let l = link.clone();
                let target = target.clone();
                let writer = std::thread::Builder::new()
                    .name(id.clone())
                    .stack_size(256 * 1024)
                    .spawn(move || match target {
                        Target::Mqtt(port) => {
                            let Ok(Sink::Mqtt(spec)) =
                                Sink::parse(&format!("mqtt://127.0.0.1:{port}"))
                            else {
                                panic!("mqtt sink spec");
                            };
                            let mut c = Reopen::publisher(Publisher::new(spec, &id, None));
                            writer::run(&l, &mut c, None, framer, settings, Instant::now(), &|| {})
                        }
                        Target::Tcp(ports) => {
                            let port = ports[i % ports.len()];
                            let sink = Sink::Tcp {
                                host: "127.0.0.1".into(),
                                port,
                            };
                            let mut c = Reopen::new(sink, None);
                            writer::run(&l, &mut c, None, framer, settings, Instant::now(), &|| {})
                        }
                    })
                    .expect("a board's writer thread");
                Board { link, writer }
            })
            .collect();
        Fleet { boards }
    }

    /// Replays `records` records of `cap` on every board, round robin: with `rate`
    /// (records/s per board) at that pace whatever the queues hold (what overflows is
    /// lost, as on a real board), without it as fast as the queues drain (none lost).
    pub fn feed(&self, cap: &Capture, records: u64, rate: Option<f64>) {
        let started = Instant::now();
        let mut pushed = vec![0u64; self.boards.len()];
        loop {
            let mut left = false;
            let due = rate.map(|r| (started.elapsed().as_secs_f64() * r) as u64);
            for (b, n) in self.boards.iter().zip(&mut pushed) {
                let target = due.unwrap_or(u64::MAX).min(records);
                if *n >= records {
                    continue;
                }
                left = true;
                let mut st = b.link.lock();
                let room = match rate {
                    Some(_) => BURST,
                    None => QUEUE_RECORDS.saturating_sub(st.queue().depth()).min(BURST),
                };
                let mut pushed_now = false;
                for _ in 0..room {
                    if *n >= target {
                        break;
                    }
                    let p = &cap.payloads[(*n as usize) % cap.payloads.len()];
                    st.push(p);
                    *n += 1;
                    pushed_now = true;
                }
                drop(st);
                if pushed_now {
                    b.link.wake_writer();
                }
            }
            if !left {
                return;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Lets every board flush for `grace`, joins the writers, and says what they sent.
    pub fn stop(self, grace: Duration) -> Sent {
        for b in &self.boards {
            b.link.close(grace);
        }
        let mut sent = Sent::default();
        for b in self.boards {
            let until = Instant::now() + grace + Duration::from_secs(5);
            if b.link.wait_done(until) {
                let _ = b.writer.join();
            }
            let st = b.link.lock();
            let q = st.queue();
            sent.pushed += q.next_seq();
            sent.lost += q.lost(LossReason::QueueOverflow) + q.lost(LossReason::SinkOutage);
            sent.reconnects += st.reconnects();
        }
        sent
    }
}
