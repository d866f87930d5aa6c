//! What the daemon and the commands both use: the clock and the contract's timestamps
//! ([`time`]), and logging ([`logging`]).

pub mod logging;
pub mod time;
