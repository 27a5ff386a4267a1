//! The `switchyard` binary.

fn main() -> std::process::ExitCode {
    switchyard::tools::cli::main()
}
