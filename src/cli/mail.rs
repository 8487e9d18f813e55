//! `gerbang mail test`: sends one message through the configured relay and waits for its
//! answer, so an operator sees at set-up whether reset links and notifications will arrive.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;
use crate::mail::Mailer;
use crate::theme::Themes;

#[derive(Subcommand)]
pub enum MailCmd {
    /// Send a test message to ADDRESS through the configured SMTP relay.
    Test {
        /// Recipient address.
        #[arg(long)]
        to: String,
        /// Language of the message: id or en (default: the configured default_locale).
        #[arg(long)]
        lang: Option<String>,
    },
}

pub async fn run(config: Config, cmd: MailCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        MailCmd::Test { to, lang } => {
            if !crate::mail::plausible_address(&to) {
                eprintln!("error: `{to}` is not an e-mail address");
                return Ok(ExitCode::FAILURE);
            }
            let themes = Themes::load(&config.themes_dir, &config.theme)?;
            let mailer = Mailer::from_config(&config)?;
            let locale = lang.unwrap_or_else(|| config.default_locale.clone());
            let ctx = minijinja::context! { issuer => config.issuer.clone() };
            match mailer.deliver(&themes, &to, &locale, "test", ctx).await {
                Ok(()) => {
                    println!("sent to {to}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
