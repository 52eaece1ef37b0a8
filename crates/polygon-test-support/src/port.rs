//! A free TCP port on the loopback interface.

use std::net::TcpListener;

/// A port on 127.0.0.1 that the OS just handed out and nothing holds now: bind it soon, since
/// another process may be handed it too.
///
/// # Panics
///
/// If the loopback interface cannot be bound.
#[must_use]
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound listener has an address").port()
}
