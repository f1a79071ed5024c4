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
