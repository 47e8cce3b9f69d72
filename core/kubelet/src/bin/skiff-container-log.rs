//! The containerd shim's log writer on its own (`skiff container-log` is the same program
//! inside `skiff`): lets the runtime's tests run it without building the CLI.

use std::path::Path;
use std::process::ExitCode;

use skiff_kubelet::runtime::log_driver;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [command, log] if command == log_driver::SUBCOMMAND => {
            match log_driver::run(Path::new(log)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("container-log: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: skiff-container-log container-log FILE");
            ExitCode::from(2)
        }
    }
}
