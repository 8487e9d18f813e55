//! `gerbang hash-bench` (hidden): this machine's argon2id ceiling, measured through the pool that
//! logins use — verifications per second on `max_concurrent_hashes` threads with the configured
//! parameters. `bench/login_storm` sets the logins/s it reaches next to this figure.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::config::{Config, Secret};
use crate::password::Hasher;

#[derive(Args)]
pub(super) struct HashBench {
    /// How long to keep every thread busy.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

const PASSWORD: &str = "gerbang-hash-bench-2026";

pub(super) async fn run(config: Config, args: HashBench) -> anyhow::Result<ExitCode> {
    let threads = config.max_concurrent_hashes.max(1);
    let hasher = Hasher::new(threads, threads);
    let stored = hasher.hash(&Secret::new(PASSWORD.to_string())).await?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds.clamp(0.1, 3600.0));
    let mut callers = tokio::task::JoinSet::new();
    // Two callers per thread (the queue holds the second): with one, a thread idles while its
    // caller is scheduled again, which on a loaded machine undercounts the ceiling.
    for _ in 0..threads * 2 {
        let (hasher, stored) = (hasher.clone(), stored.clone());
        callers.spawn(async move {
            let password = Secret::new(PASSWORD.to_string());
            let mut done = 0u64;
            while Instant::now() < deadline {
                if !hasher.verify(&password, Some(&stored)).await? {
                    anyhow::bail!("the benchmark password did not verify");
                }
                done += 1;
            }
            Ok(done)
        });
    }
    let mut hashes = 0u64;
    while let Some(done) = callers.join_next().await {
        hashes += done??;
    }
    let seconds = start.elapsed().as_secs_f64();
    let params = stored.split('$').nth(3).unwrap_or_default().to_string();
    println!(
        "{}",
        json!({ "threads": threads, "params": params, "hashes": hashes, "seconds": seconds,
                "per_second": hashes as f64 / seconds })
    );
    Ok(ExitCode::SUCCESS)
}
