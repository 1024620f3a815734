//! The `taskwire` binary: the board build, or with feature `decode` the host build.

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    std::process::exit(taskwire::dispatch(&argv0, args.collect()));
}
