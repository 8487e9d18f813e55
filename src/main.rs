//! The `gerbang` command; its commands live in `gerbang::cli`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    gerbang::cli::run().await
}
