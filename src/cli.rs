//! The `coffeebuddy` command line (CONTRACT "Command line").

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    config::Settings,
    startup::{self, StartError},
};

#[derive(Debug, Parser)]
#[command(
    name = "coffeebuddy",
    version,
    about = "Coordinates office coffee runs in Slack"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate (unless MIGRATE_ON_START=false), then serve until SIGTERM/SIGINT.
    Serve {
        /// Which parts run in this process.
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Apply the app's and the job queue's migrations, then exit.
    Migrate {
        #[command(flatten)]
        settings: Box<Settings>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Play a whole coffee run against the local PostgreSQL with a built-in fake Slack.
    Demo {
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

/// The parts of the service one process runs, so API and workers can scale apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// HTTP server only.
    Api,
    /// Job workers, outbox relay and scheduler only.
    Worker,
    /// Everything.
    All,
}

impl Role {
    pub fn runs_http(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }
    pub fn runs_workers(self) -> bool {
        matches!(self, Role::Worker | Role::All)
    }
}

/// Runs one command and maps its outcome to the contract's exit codes.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve { role, settings } => startup::serve(*settings, role).await,
        Command::Migrate { settings } => startup::migrate(*settings).await,
        Command::Demo { settings } => crate::demo::run(*settings).await,
        Command::Openapi => {
            println!("{}", crate::api::openapi_document());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            match err {
                StartError::Config(_) => ExitCode::from(2),
                _ => ExitCode::from(1),
            }
        }
    }
}
