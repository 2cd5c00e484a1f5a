//! The `valkey-release` binary: parse arguments, run, map errors to exit codes.

fn main() {
    let code = valkey_release::cli::main();
    std::process::exit(code);
}
