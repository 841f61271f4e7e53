//! `riffle admin health` on a three-node cluster that loses a node: the exit code turns 1 and
//! the table names what is wrong.

mod admin_common;

use std::time::{Duration, Instant};

use admin_common::{run_in, start_cluster, CLUSTER_READY_TIMEOUT};

#[test]
fn health_exits_1_and_names_the_problem_when_a_node_is_down() {
    let (c, mut children) = start_cluster("health");
    let admin = |args: &[&str]| {
        let mut all = vec!["admin", "--bootstrap", c.bootstrap.as_str()];
        all.extend_from_slice(args);
        run_in(&c, &all, None)
    };
    let out = admin(&[
        "create-topic",
        "h.t",
        "--partitions",
        "3",
        "--replication-factor",
        "3",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    while admin(&["health"]).code != 0 {
        assert!(
            Instant::now() < deadline,
            "never healthy: {}",
            admin(&["health"]).stdout
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    children[2].kill().expect("kill node 3");
    children[2].wait().expect("node 3 exited");
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    let out = loop {
        let out = admin(&["health"]);
        if out.code != 0 || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    eprintln!("health with node 3 down:\n{}", out.stdout);
    assert_eq!(
        out.code, 1,
        "still healthy with node 3 down:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.trim_end().ends_with("NOT healthy"),
        "{}",
        out.stdout
    );
    let failed: Vec<&str> = out.stdout.lines().filter(|l| l.contains("FAIL")).collect();
    assert!(
        failed.iter().any(|l| l.starts_with("broker 3 ")
            || l.starts_with("under-replicated partitions")
            || l.starts_with("offline partitions")),
        "{}",
        out.stdout
    );
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
