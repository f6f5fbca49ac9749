//! `ballsy`: see `ballsy --help`. Everything lives in the library so tests build the real app.

fn main() -> std::process::ExitCode {
    ballsy::cli::main()
}
