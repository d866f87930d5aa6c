//! The `chatroom-shim` binary: runs the MCP server on stdio and exits with its status.

use std::process::exit;

fn main() {
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
