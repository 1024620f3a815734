//! A decoder stopped (SIGTERM) while starved of CPU reads everything its `Closing` told
//! the agent it would read (core/WIRE.md section 7.2). A file of its own: the test pins a
//! busy loop and the decoder to one CPU, which would slow every test running beside it.

#[macro_use]
mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::procs::{agent_summary, summary_number, tcp_agent as agent, tcp_decoder as decoder};
use common::{json, num, run_storm, unique_comm};

/// Pins `pid` to CPU 0 at the lowest priority.
fn starve(pid: u32) {
    // SAFETY: plain system calls on a pid of ours, with a zeroed, then filled, CPU set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(pid as i32, std::mem::size_of::<libc::cpu_set_t>(), &set);
        libc::setpriority(libc::PRIO_PROCESS, pid, 19);
    }
}

#[test]
fn a_starved_collector_that_stops_reads_all_it_said_it_would() {
    // Found while merging issue 13: a decoder stopped (SIGTERM) with an exit storm's
    // records still in its socket's receive buffer drained for one second only, after
    // its `Closing` had told the agent that it would read them all. Starved of CPU, it
    // read part: the agent forgot the rest, and their numbers reached no decoder and no
    // Loss frame.
    require_kernel!();
    let comm = unique_comm("twstarve");
    let (mut d, port) = decoder(0);
    let a = agent(port, "starved");
    d.wait_lines("connected", 1, Duration::from_secs(10));
    // The decoder stops reading: up to the agent's window of records waits in its
    // receive buffer, the rest in the agent's queue.
    d.signal(libc::SIGSTOP);
    run_storm(&comm, 20_000);
    std::thread::sleep(Duration::from_millis(500));
    // One CPU, the lowest priority, and a busy loop beside it there: reading what its
    // buffer holds takes the decoder seconds.
    starve(d.child.id());
    let mut hog = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("a busy loop");
    // SAFETY: sched_setaffinity on our own child, as in `starve`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(
            hog.id() as i32,
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        );
    }
    d.signal(libc::SIGCONT);
    let (dcode, out, dlines) = d.stop(libc::SIGTERM);
    let _ = hog.kill();
    let _ = hog.wait();
    assert_eq!(dcode, Some(0), "{dlines:?}");
    let (code, _, alines) = a.stop(libc::SIGINT);
    assert_eq!(code, Some(0), "{alines:?}");
    let (_, _, line) = agent_summary(&alines);
    let written = summary_number(&line, " written");
    let unacknowledged = summary_number(&line, " not acknowledged");
    let records: BTreeSet<u64> = out
        .lines()
        .map(json)
        .filter(|v| v["board"].as_str() == Some("starved") && v["type"].as_str() == Some("record"))
        .map(|v| num(&v, "seq"))
        .collect();
    println!(
        "starved collector: written {written} ({unacknowledged} not acknowledged), decoded {}",
        records.len()
    );
    // Everything written and acknowledged, or forgotten at the `Closing`, was decoded.
    assert!(
        records.len() as u64 >= written - unacknowledged,
        "decoded {} of the {} records the decoder took on: {line}",
        records.len(),
        written - unacknowledged
    );
    let stats = dlines
        .iter()
        .filter(|l| l.contains("\"type\":\"stats\"") && l.contains("\"board\":\"starved\""))
        .map(|l| json(l))
        .next_back()
        .expect("the decoder's stats");
    assert_eq!(num(&stats, "gaps_uncovered"), 0, "{stats}");
}
