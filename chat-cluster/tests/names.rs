//! The scripts that hand out names, against a real `redis-server`: a name held by a node that
//! is alive (as the instance that took it) is nobody else's, and one whose node is dead or
//! restarted is free at once, though its key stays until its long TTL runs out.

use std::sync::atomic::{AtomicU64, Ordering};

use chat_cluster::scripts;
use chat_cluster::store::Keys;
use redis::Script;

mod support;

/// One test's view of Redis: its own key prefix, the scripts, and a connection.
struct Names {
    keys: Keys,
    con: redis::Connection,
    claim: Script,
    reserve: Script,
}

const LONG_MS: u64 = 600_000;

impl Names {
    fn new(url: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let prefix = format!(
            "names-{}-{}:",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let client = redis::Client::open(url).expect("a valid URL");
        Self {
            keys: Keys::new(prefix),
            con: client.get_connection().expect("Redis is up"),
            claim: Script::new(&scripts::claim()),
            reserve: Script::new(&scripts::reserve()),
        }
    }

    /// `node` is alive as `instance`, as its heartbeat says.
    fn alive(&mut self, node: &str, instance: &str) {
        redis::cmd("SET")
            .arg(self.keys.alive(node))
            .arg(instance)
            .arg("PX")
            .arg(60_000)
            .query::<()>(&mut self.con)
            .unwrap();
    }

    /// `node`'s liveness key expired: it was killed.
    fn dies(&mut self, node: &str) {
        redis::cmd("DEL")
            .arg(self.keys.alive(node))
            .query::<()>(&mut self.con)
            .unwrap();
    }

    fn claim(&mut self, name: &str, value: &str) -> String {
        let (before, after) = self.keys.alive_parts();
        let reservations: String = value.split('|').take(2).map(|p| format!("{p}|")).collect();
        self.claim
            .key(self.keys.name(name))
            .arg(value)
            .arg(LONG_MS)
            .arg(format!("{reservations}0|"))
            .arg(before)
            .arg(after)
            .invoke(&mut self.con)
            .unwrap()
    }

    fn reserve(&mut self, name: &str, value: &str) -> Option<String> {
        let (before, after) = self.keys.alive_parts();
        self.reserve
            .key(self.keys.name(name))
            .arg(value)
            .arg(7_000)
            .arg(before)
            .arg(after)
            .invoke(&mut self.con)
            .unwrap()
    }

    fn holder(&mut self, name: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(self.keys.name(name))
            .query(&mut self.con)
            .unwrap()
    }
}

#[test]
fn a_name_held_by_a_live_node_is_nobody_elses() {
    let (url, _own) = support::redis();
    let mut names = Names::new(&url);
    names.alive("n1", "i1");
    names.alive("n2", "i2");
    assert_eq!(names.claim("bob", "n1|i1|1|"), "ok");
    assert_eq!(names.claim("bob", "n2|i2|5|"), "n1|i1|1|");
    assert_eq!(
        names.reserve("bob", "n2|i2|0|"),
        Some("n1|i1|1|".to_owned())
    );
    assert_eq!(
        names.claim("bob", "n1|i1|1|"),
        "ok",
        "its holder may claim it again"
    );
    assert_eq!(names.holder("bob").as_deref(), Some("n1|i1|1|"));
}

#[test]
fn a_dead_nodes_names_are_free_at_once_though_their_keys_remain() {
    let (url, _own) = support::redis();
    let mut names = Names::new(&url);
    names.alive("n1", "i1");
    names.alive("n2", "i2");
    assert_eq!(names.claim("bob", "n1|i1|1|"), "ok");
    assert_eq!(names.claim("carol", "n1|i1|2|acct-c"), "ok");
    names.dies("n1");
    assert_eq!(
        names.holder("bob").as_deref(),
        Some("n1|i1|1|"),
        "the key is still there"
    );
    assert_eq!(names.claim("bob", "n2|i2|9|"), "ok");
    assert_eq!(names.holder("bob").as_deref(), Some("n2|i2|9|"));
    assert_eq!(names.reserve("carol", "n2|i2|0|"), None, "reserved");
    assert_eq!(names.holder("carol").as_deref(), Some("n2|i2|0|"));
}

#[test]
fn a_restarted_node_takes_back_what_its_old_instance_held() {
    let (url, _own) = support::redis();
    let mut names = Names::new(&url);
    names.alive("n1", "old");
    assert_eq!(names.claim("bob", "n1|old|1|"), "ok");
    // The same node name, started again: a new instance, numbering its members afresh.
    names.alive("n1", "new");
    assert_eq!(names.claim("bob", "n1|new|1|"), "ok");
    names.alive("n2", "i2");
    assert_eq!(names.claim("bob", "n2|i2|1|"), "n1|new|1|");
}

#[test]
fn a_reservation_is_its_nodes_to_give_to_the_member_that_joins() {
    let (url, _own) = support::redis();
    let mut names = Names::new(&url);
    names.alive("n1", "i1");
    names.alive("n2", "i2");
    assert_eq!(names.reserve("dave", "n1|i1|0|acct-d"), None);
    assert_eq!(
        names.claim("dave", "n2|i2|3|"),
        "n1|i1|0|acct-d",
        "held for n1's newcomer"
    );
    assert_eq!(names.claim("dave", "n1|i1|7|acct-d"), "ok");
    assert_eq!(names.holder("dave").as_deref(), Some("n1|i1|7|acct-d"));
}
