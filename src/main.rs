use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // clap exits with code 2 and names the variable when a setting does not parse.
    let cli = coffeebuddy::cli::Cli::parse();
    coffeebuddy::cli::run(cli).await
}
