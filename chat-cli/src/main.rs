//! `chat-cli`: run the SSH chat server, load-test one, or inspect keys.

mod accounts;
mod bench;
mod cli;
mod directory;
mod directory_cli;
mod keys;
mod logging;
mod metrics_http;
mod serve;
mod web;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, KeysCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Bench(args) => bench::run(args),
        Command::Keys(KeysCommand::Fingerprint { file }) => keys::print_fingerprints(&file),
        Command::Accounts(args) => {
            logging::init(cli::LogFormat::Text, 0);
            accounts::run(args)
        }
        Command::Directory(args) => {
            logging::init(cli::LogFormat::Text, 0);
            directory_cli::run(args)
        }
        Command::FloorReader { addr, connections } => {
            bench::floor::read_and_discard(addr, connections).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chat-cli: error: {error}");
            ExitCode::FAILURE
        }
    }
}
