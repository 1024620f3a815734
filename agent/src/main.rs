//! The `taskwire` binary: the board build, or with feature `decode` the host build.

fn main() {
    // A board build's panic is a bare trap (panic = "immediate-abort"): leave a line saying so.
    taskwire_cli::sys::crash::install();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    std::process::exit(taskwire::dispatch(&argv0, args.collect()));
}
