//! The `chatroom-shim` binary: runs the MCP server on stdio and exits with its status.

use std::io::IsTerminal;
use std::process::exit;

use chatroom_shim::cli::{self, Invocation};

// The one place stdout carries anything but JSON-RPC: `--help`/`--version`, which no MCP client
// passes.
#[allow(clippy::print_stdout)]
fn main() {
    match cli::parse(std::env::args_os().skip(1)) {
        Invocation::Serve => {}
        // Printed to stdout, then exit: no MCP client passes arguments, so this is a person.
        Invocation::Help => {
            print!("{}", cli::help());
            exit(0);
        }
        Invocation::Version => {
            println!("{}", cli::version());
            exit(0);
        }
        Invocation::Unknown(argument) => {
            eprintln!(
                "chatroom-shim: unexpected argument {argument:?} (it takes none but --help and --version)"
            );
            exit(2);
        }
    }
    // An MCP client gives us pipes; a terminal means a person ran us by hand. Tell them what
    // this is and keep serving: a launcher that hands its server a terminal must still work.
    if std::io::stdin().is_terminal() {
        eprintln!("{}", cli::TERMINAL_NOTE);
    }
    // One thread is plenty for a server that forwards calls; it keeps the shim small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chatroom-shim: cannot start the async runtime: {err}");
            exit(1);
        }
    };
    let code = match runtime.block_on(chatroom_shim::run()) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("chatroom-shim: {err:#}");
            1
        }
    };
    // Exit without dropping the runtime: dropping it would wait for blocking tasks, such as a
    // start-lock wait that gave up but is still parked in flock.
    exit(code);
}
