//! `scripts/bench`: measures chatroom through real shims (rmcp's MCP client → `chatroom-shim`
//! over stdio → `chatroomd` over its socket), next to the floors that say where the time goes:
//! the raw socket protocol against the same daemon, and the same MCP client against a trivial
//! server (in process over a duplex pipe, and as a child process over stdio).
//!
//! Sections: shim cold start; per-tool latency; rooms of 1k to 1M messages (built by writing
//! `.chatroom/messages.jsonl` directly, then loaded by an auto-started daemon); the durable
//! throughput of eight concurrent senders; `search_messages` at 1k to 1M messages beside the
//! search index's heap; per-topic reads in 100-topic rooms of 1k and 1M, and `list_topics`; a `chatroomd hook` process,
//! spawn to exit, against the floor of spawning `chatroomd --version`; `wait_for_messages`' wake-up
//! beside a raw-socket waiter's; `claim`, the daemon's check of an edit and the pre-tool hook with
//! 1,000 live claims. Rows print as they complete; a JSON summary line ends
//! the output. Every room lives in its own temporary git repository under `$TMPDIR`, and every
//! daemon is stopped when its room is dropped.
//!
//! Figures are set against floors measured in the same run, since the machine and its disk
//! change from run to run: `send_message` p50 over fdatasync p50, the senders' throughput over
//! the most serial senders can get from the disk (senders ÷ fdatasync p50), and the µs each tool
//! adds over the raw socket. Syncs per batch are counted by `strace -f -y` attached to the daemon
//! during untimed bursts and the quiet after them (strace stops the daemon at every system
//! call), by file: the journal's, on the replies' path, apart from the checkpoints'.

#![allow(clippy::print_stdout)]

mod calls;
mod claims;
mod floors;
mod hooks;
mod latency;
mod options;
mod report;
mod rooms;
mod search;
mod stats;
mod syncs;
mod throughput;
mod topics;
mod wait;

use std::process::ExitCode;

use anyhow::Context;

use crate::floors::{TRIVIAL_SERVER_FLAG, trivial_server_main};
use crate::latency::{shim_start, tool_latency};
use crate::options::{Options, Section};
use crate::report::Report;
use crate::rooms::big_room;
use crate::search::search;
use crate::throughput::throughput;
use crate::topics::topic_rooms;
use crate::wait::wait_wakeup;

/// About 100 bytes, like a real status line.
pub(crate) const CONTENT: &str = "build of crate chatroomd passed on linux and macos; now looking at the windows pipe name (issue 42)";

const USAGE: &str = "\
usage: bench [--quick] [options]

Measures chatroom through real chatroom-shim processes (release build) and prints a table, then
one JSON summary line. Rooms live under $TMPDIR (default /tmp).

Every figure is set against floors measured in the same run: fdatasync p50 on the rooms'
filesystem (send_message p50 ÷ fdatasync p50), the raw socket protocol (the µs each tool adds
over it, one column per tool), and the disk's limit for serial senders (N senders ÷ fdatasync
p50; the throughput's ratio to it). Syncs per batch are counted with `strace -f -y` attached to
the daemon during untimed bursts and the 1.5 s after them: one serial sender (each send its own
batch, so syncs per send are syncs per batch), and N concurrent senders (syncs per acknowledged
send); the journal's syncs (the replies wait for them) apart from the checkpoints' (after the
replies, once the room is quiet). Without strace they are reported as not measured. The targets of issue 11 end the table.

  --quick             a short smoke run: rooms of 1k and 10k only, fewer iterations
  --spawns N          shim cold starts and hook runs to time (default 50; quick 10)
  --cold-runs N       first calls against a cold daemon (default 10; quick 3)
  --calls N           timed calls per tool (default 2000; quick 200)
  --warmup N          untimed calls before each timed series (default 200; quick 20)
  --sizes LIST        room sizes, e.g. 1k,10k,100k,1m (default 1k,10k,100k,1m; quick 1k,10k)
  --size-calls N      timed calls per tool and room size (default 500; quick 100)
  --senders N         concurrent agents in the throughput run (default 8)
  --per-sender N      messages each of them sends (default 2000; quick 200)
  --search-sizes LIST rooms for search_messages (default 1k,100k,1m; quick 1k,10k)
  --topic-sizes A,B   the small and large 100-topic rooms (default 1k,1m; quick 1k,10k)
  --only LIST         run only these sections: start, latency, rooms, throughput, search,
                      topics, hooks, wait, claims (default all)
  -h, --help          this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(TRIVIAL_SERVER_FLAG) {
        return trivial_server_main();
    }
    let options = match Options::parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("bench: {err:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> anyhow::Result<()> {
    let mut report = Report::default();
    report.environment()?;
    report.options = options.to_json();

    if options.runs(Section::Start) {
        shim_start(&options, &mut report)
            .await
            .context("shim cold start")?;
    }
    if options.runs(Section::Latency) {
        tool_latency(&options, &mut report)
            .await
            .context("tool latency")?;
    }
    if options.runs(Section::Rooms) {
        for &size in &options.sizes {
            big_room(&options, size, &mut report)
                .await
                .with_context(|| format!("room of {size} messages"))?;
        }
    }
    if options.runs(Section::Throughput) {
        throughput(&options, &mut report)
            .await
            .context("throughput")?;
    }
    if options.runs(Section::Search) {
        search(&options, &mut report).await.context("search")?;
    }
    if options.runs(Section::Topics) {
        topic_rooms(&options, &mut report).await.context("topics")?;
    }
    if options.runs(Section::Hooks) {
        hooks::hooks(&options, &mut report).await.context("hooks")?;
    }
    if options.runs(Section::Wait) {
        wait_wakeup(&options, &mut report)
            .await
            .context("wait wake-up")?;
    }
    if options.runs(Section::Claims) {
        claims::claims(&options, &mut report)
            .await
            .context("claims")?;
    }
    report.finish();
    Ok(())
}
