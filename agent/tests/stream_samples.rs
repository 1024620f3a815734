//! Samples of live tasks through the real stream: pushed with records on the agent's link
//! (as the sampler will), framed by the writer thread into a file sink, read back by the
//! host's decoder. The numbering, the losses and the output must all agree.
#![cfg(feature = "decode")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use taskwire::stream::framer::Framer;
use taskwire::stream::link::{Link, SampleRow};
use taskwire::stream::queue::Queue;
use taskwire::stream::sink::{self, FdSink, OpenError};
use taskwire::stream::spec::Sink;
use taskwire::stream::writer::{self, Connector, Settings};
use taskwire_collector::render::Format;
use taskwire_collector::session::{Decoder, Session};
use taskwire_core::taskstats::{DelayCounter, Deltas};
use taskwire_core::wire::{self, Interval, Message, Record, StreamHeader, testutil};

/// The file sink, as `stream --to file:PATH` opens it.
struct File(Sink);

impl Connector for File {
    type Sink = FdSink;
    fn connect(&mut self) -> Result<FdSink, OpenError> {
        sink::open(&self.0)
    }
    fn reconnects(&self) -> bool {
        true
    }
    fn name(&self) -> String {
        self.0.to_string()
    }
}

/// A record payload as the reader queues it (`seq` 0).
fn record_payload(id: u32) -> Vec<u8> {
    let Message::Record(r) = testutil::small_record(0) else {
        unreachable!()
    };
    let msg = Message::Record(Record { id, ..r });
    let mut buf = vec![0u8; wire::MAX_PAYLOAD_LEN];
    let n = wire::encode_payload(&msg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn busy(i: u64) -> Deltas {
    let mut d = Deltas::empty(2_000_000_000);
    d.cpu_us = Some(100_000 * i);
    d.delays[0] = Some(DelayCounter {
        count: i,
        total_ns: 1_000_000 * i,
    });
    d
}

fn push_interval(link: &Link, sample: u64, rows: u32) -> u64 {
    let ds: Vec<Deltas> = (0..u64::from(rows)).map(busy).collect();
    let mut interval = Interval::new(sample, 2000);
    interval.tasks_total = 40;
    interval.delay_accounting = Some(true);
    interval.io_some_avg10 = Some(150);
    let rows = ds.iter().enumerate().map(|(i, d)| SampleRow {
        tgid: 200 + i as u32,
        comm: Some(b"svc"),
        deltas: d,
    });
    link.push_samples(&interval, rows)
}

#[test]
fn records_and_samples_reach_the_decoder_with_exact_accounting() {
    let dir = std::env::temp_dir().join(format!("tw-samples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stream.twr");
    let _ = std::fs::remove_file(&path);

    // Ten frames fit. Before the writer runs: records 0 and 1, interval 2 and its twelve
    // rows 3 to 14, of which 3 to 9 fit and 10 to 14 are one queue-overflow loss.
    let link = Arc::new(Link::new(Queue::new(10, 64 * 1024)));
    for id in [1, 2] {
        assert!(link.lock().push(&record_payload(id)));
    }
    assert_eq!(push_interval(&link, 0, 12), 8);

    let mut header = StreamHeader::new();
    header.board_id.push_str("sampler").unwrap();
    let mut connector = File(Sink::File(path.clone()));
    let first = connector.connect().ok();
    let l2 = link.clone();
    let t = std::thread::spawn(move || {
        let settings = Settings {
            heartbeat: None,
            ..Settings::default()
        };
        writer::run(
            &l2,
            &mut connector,
            first,
            Framer::new(header),
            settings,
            Instant::now(),
            &|| panic!("a file sink does not fail"),
        )
    });
    // With the writer running: interval 15 with rows 16 and 17, records 18 to 20.
    let until = Instant::now() + Duration::from_secs(10);
    while link.lock().records_written() < 10 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(push_interval(&link, 1, 2), 3);
    for id in [3, 4, 5] {
        assert!(link.lock().push(&record_payload(id)));
    }
    link.wake_writer();
    while link.lock().records_written() < 16 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
    link.close(Duration::from_secs(1));
    assert!(link.wait_done(Instant::now() + Duration::from_secs(5)));
    t.join().unwrap();
    assert_eq!(link.lock().sampled(), (2, 14));
    assert_eq!(link.lock().records_written(), 16);

    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    for format in [Format::Json, Format::Csv, Format::Text] {
        let mut d = Decoder::new(format);
        let mut s = Session::new("file");
        d.feed(&mut s, &bytes);
        d.close(&mut s);
        let (board, b) = d.tally.boards().next().unwrap();
        assert_eq!(board, "sampler");
        assert_eq!((b.records(), b.intervals, b.samples), (5, 2, 9));
        assert_eq!(b.covered_by(wire::LossReason::QueueOverflow), 5);
        assert_eq!(
            (b.seq.uncovered, b.seq.duplicates, b.rejected.total()),
            (0, 0, 0)
        );
        assert_eq!(b.next_seq(), Some(21));
        if format == Format::Json {
            let rows: Vec<&str> = d
                .out
                .lines()
                .filter(|l| l.starts_with("{\"type\":\"sample\",\"board\":\"sampler\","))
                .collect();
            assert_eq!(rows.len(), 9);
            // Row 3 of the first interval: 0.3 s of CPU and 3 ms of CPU delay in 2 s.
            assert!(
                rows[3].contains(
                    "\"tgid\":203,\"comm\":\"svc\",\"interval_ms\":2000,\"cpu_pct\":15.00,"
                ) && rows[3].ends_with("\"cpu_delay_pct\":0.15,\"cpu_per_s\":1.500}"),
                "{}",
                rows[3]
            );
            let loss = "{\"type\":\"loss\",\"board\":\"sampler\",\"count\":5,\
                        \"reason\":\"queue_overflow\",\"next_seq\":15}";
            assert_eq!(d.out.lines().filter(|l| *l == loss).count(), 1, "{}", d.out);
            let interval = d
                .out
                .lines()
                .find(|l| l.contains("\"type\":\"interval\"") && l.contains("\"seq\":15,"))
                .unwrap();
            assert!(interval.contains("\"sample\":1,"), "{interval}");
            assert!(
                interval.contains("\"rows\":2,\"delay_accounting\":\"on\",\"io_some_avg10\":1.50}")
            );
        }
    }
}
