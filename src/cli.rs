//! The `coffeebuddy` command line (CONTRACT "Command line").

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{
    config::Settings,
    dev,
    startup::{self, Role, StartError},
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

/// Runs one command and maps its outcome to the contract's exit codes.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve { role, settings } => startup::serve(*settings, role).await,
        Command::Migrate { settings } => startup::migrate(*settings).await,
        Command::Demo { settings } => dev::demo::run(*settings).await,
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
