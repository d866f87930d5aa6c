//! `chatroomd`: parses the command line, runs it, prints the error chain once and exits.

use clap::Parser;

fn main() {
    let cli = chatroomd::cli::Cli::parse();
    let code = match chatroomd::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chatroomd: {err:#}");
            1
        }
    };
    std::process::exit(code);
}
