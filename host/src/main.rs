//! The `switchyard` binary.

/// mimalloc instead of glibc's malloc: per-thread free lists suit a server
/// whose requests allocate and free small buffers on every hop.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    switchyard::tools::cli::main()
}
