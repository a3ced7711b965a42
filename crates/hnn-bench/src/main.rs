fn main() -> std::process::ExitCode {
    hnn_bench::cli::main()
}
