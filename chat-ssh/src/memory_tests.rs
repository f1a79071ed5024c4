//! Sizes that decide how much memory an idle session costs (see BENCHMARKS.md), pinned so that
//! a change that grows them shows up as a failing test rather than as a figure months later.

/// Every connection allocates two blocks of 32 russh messages when it starts (its handle's
/// bounded and priority channels), so each byte of `Msg` costs 64 bytes a session. Our russh
/// patch 0002 (vendor/PATCHES.md) brought it from 136 bytes to under this.
#[test]
fn russh_messages_stay_small() {
    let size = std::mem::size_of::<russh::server::Msg>();
    assert!(size <= 96, "russh::server::Msg is {size} bytes");
}

/// russh's session future holds the connection's handler for as long as the connection
/// lasts, and each chat task its `ChatStart`, each twice (an `async fn` keeps its argument
/// and its local). With the proven key inline (384 bytes) they were 656 and 528 bytes; the
/// key is boxed now (issue 14, BENCHMARKS.md "The merge cost 7 KiB a session").
#[test]
fn what_a_connection_and_a_chat_task_hold_for_their_lives_stays_small() {
    let handler = std::mem::size_of::<crate::handler::ConnectionHandler>();
    let start = std::mem::size_of::<crate::chat::ChatStart>();
    assert!(handler <= 320, "ConnectionHandler is {handler} bytes");
    assert!(start <= 192, "ChatStart is {start} bytes");
}
