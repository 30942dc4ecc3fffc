//! Starting the Happy Eyeballs attempts of a client connection, through
//! `ponynet_os_connect_tcp_events`: `pony_os_connect_tcp`, which also hands
//! back each attempt's event, so that a connection closed while connecting
//! can cancel the attempts that have not reported yet.

use super::abi::{self, AsioEvent, IpVersion, READ_WRITE_ONESHOT};
use crate::ffi::types::Owner;
use std::io;

/// Starts one attempt per stream address of `host`/`service`; returns
/// their events, or why none could start (a name that does not resolve, a
/// malformed service, no route...).
pub(crate) fn start(owner: *mut Owner, host: &str, service: &str, from: &str, version: IpVersion) -> io::Result<Vec<AsioEvent>> {
    abi::connect_tcp(owner, host, service, from, version, READ_WRITE_ONESHOT)
}
