//! `hnn`: the thin top-level runner. `cargo run --release -- --config configs/spring.toml`
//! at the repository root does exactly what `cargo run --release -p hnn-bench -- ...` does.

fn main() -> std::process::ExitCode {
    hnn_bench::cli::main()
}
