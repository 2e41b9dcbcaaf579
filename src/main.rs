fn main() {
    std::process::exit(obs_vrm_avatar::cli::main());
}
