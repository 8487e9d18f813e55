//! Running the provider, and the log set-up every command shares.

use std::process::ExitCode;

use crate::config::{Config, LogFormat};
use crate::state::AppState;

pub(super) fn init_tracing(config: &Config, default_level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(if default_level.is_empty() { &config.log } else { default_level })
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub(super) async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let bind = config.bind;
    let state = AppState::init(config).await?;
    crate::ops::bootstrap::refuse_demo_accounts(&state).await?;
    if let Some(b) = crate::ops::bootstrap::run(&state, state.now()).await? {
        crate::ops::bootstrap::announce(&b, &state.config);
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind} (setting `bind`): {e}"))?;
    tracing::info!(
        issuer = %state.config.issuer,
        bind = %bind,
        database = state.db.kind(),
        cache = state.cache.kind(),
        "Gerbang is listening"
    );
    crate::app::serve(state, listener).await?;
    Ok(ExitCode::SUCCESS)
}
