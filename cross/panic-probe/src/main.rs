//! Panics in a spawned thread with an index out of bounds, at a line the test knows.
fn main() {
    // As the agent's main: a panic=immediate-abort build's panic then leaves a line.
    taskwire_cli::sys::crash::install();
    // From the arguments, so that the compiler cannot prove the index out of range.
    let index = std::env::args().count() + 6;
    let v = vec![1u8, 2];
    let worker = std::thread::spawn(move || usize::from(v[index]));
    // Not reached: the panic aborts the whole process.
    std::process::exit(i32::try_from(worker.join().unwrap_or(0)).unwrap_or(0));
}
