fn main() {
    std::process::exit(vrm_avatar_tools::cli::main());
}
