//! Workloads with known delays for the `top` end-to-end tests, each running until its
//! stdin closes (or 60 s pass), after printing `READY` on stdout:
//!
//! - `liveload busy N`: N threads spinning on the CPU (more than the CPUs: CPU delay);
//! - `liveload blkio DEV`: one thread reading DEV with O_DIRECT, 4 KiB at a time, so every
//!   read waits for the block device (IO delay).

use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["busy", n] => {
            for _ in 0..n.parse::<usize>().expect("a thread count") {
                let stop = stop.clone();
                workers.push(std::thread::spawn(move || spin(&stop)));
            }
        }
        ["blkio", dev] => {
            let dev = dev.to_owned();
            let stop = stop.clone();
            workers.push(std::thread::spawn(move || read_direct(&dev, &stop)));
        }
        _ => {
            eprintln!("usage: liveload busy N | liveload blkio DEV");
            std::process::exit(2);
        }
    }
    println!("READY");
    let _ = std::io::stdout().flush();
    // Until stdin closes (the test ends) or the limit passes (a test that died).
    let deadline = Instant::now() + LIMIT;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read(&mut [0u8; 1]);
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
}

fn spin(stop: &AtomicBool) {
    let mut x = 1u64;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// A 4 KiB block aligned for O_DIRECT.
#[repr(align(4096))]
struct Block([u8; 4096]);

fn read_direct(dev: &str, stop: &AtomicBool) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(dev)
        .unwrap_or_else(|e| panic!("open {dev} O_DIRECT: {e}"));
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // A block device's metadata length is 0: read its size from sysfs-free seeking.
    let size = if len > 0 {
        len
    } else {
        use std::io::Seek;
        (&f).seek(std::io::SeekFrom::End(0)).expect("device size")
    };
    let blocks = (size / 4096).max(1);
    let mut buf = Block([0; 4096]);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // A stride through the device, so that no read is a neighbour's readahead.
        let at = (i * 7919 % blocks) * 4096;
        f.read_at(&mut buf.0, at).expect("O_DIRECT read");
        i += 1;
    }
}
