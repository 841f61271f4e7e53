//! Network namespaces for the Jepsen nodes: bridge `rj0` (10.77.0.254/24 in the root namespace, where
//! the client runs), namespace `rjN` with `eth0` = 10.77.0.N per node, and nftables rules inside a
//! node's namespace for partitions and packet loss.

use std::process::Command;

use anyhow::{bail, Context};

pub const BRIDGE: &str = "rj0";
pub const CLIENT_ADDR: &str = "10.77.0.254";
const TABLE: &str = "rjepsen";

/// The namespace of node `n`.
pub fn netns(n: u8) -> String {
    format!("rj{n}")
}

/// Node `n`'s address.
pub fn addr(n: u8) -> String {
    format!("10.77.0.{n}")
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!(
            "{args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).output();
}

/// Checks that `ip` and `nft` exist and we are root.
pub fn preflight() -> anyhow::Result<()> {
    for tool in ["ip", "nft", "setpriv"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()?
            .status
            .success();
        if !found {
            bail!("`{tool}` not found: apt-get install -y iproute2 nftables util-linux");
        }
    }
    let uid = Command::new("id").arg("-u").output()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        bail!("the jepsen harness creates network namespaces: run it as root");
    }
    Ok(())
}

/// Removes namespaces, links and any process left in them by an earlier run. Never fails.
pub fn teardown(nodes: &[u8]) {
    for n in nodes {
        let ns = netns(*n);
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                run_quiet(&["kill", "-CONT", pid]);
                run_quiet(&["kill", "-KILL", pid]);
            }
        }
        run_quiet(&["ip", "link", "del", &format!("rjv{n}")]);
        run_quiet(&["ip", "netns", "del", &ns]);
    }
    run_quiet(&["ip", "link", "del", BRIDGE]);
}

/// Creates the bridge and one namespace per node (after removing stale ones).
pub fn setup(nodes: &[u8]) -> anyhow::Result<()> {
    teardown(nodes);
    run(&["ip", "link", "add", BRIDGE, "type", "bridge"])?;
    run(&[
        "ip",
        "addr",
        "add",
        &format!("{CLIENT_ADDR}/24"),
        "dev",
        BRIDGE,
    ])?;
    run(&["ip", "link", "set", BRIDGE, "up"])?;
    for n in nodes {
        let ns = netns(*n);
        let host = format!("rjv{n}");
        let peer = format!("rjp{n}");
        run(&["ip", "netns", "add", &ns])?;
        run(&[
            "ip", "link", "add", &host, "type", "veth", "peer", "name", &peer,
        ])?;
        run(&["ip", "link", "set", &peer, "netns", &ns])?;
        run(&["ip", "link", "set", &host, "master", BRIDGE])?;
        run(&["ip", "link", "set", &host, "up"])?;
        run(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        run(&[
            "ip", "netns", "exec", &ns, "ip", "link", "set", &peer, "name", "eth0",
        ])?;
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "add",
            &format!("{}/24", addr(*n)),
            "dev",
            "eth0",
        ])?;
        run(&[
            "ip", "netns", "exec", &ns, "ip", "link", "set", "eth0", "up",
        ])?;
    }
    Ok(())
}

/// Applies an nftables script inside node `n`'s namespace.
fn nft(n: u8, script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &netns(n), "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("spawning nft")?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft in {} failed: {}\n{script}",
            netns(n),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Node `n` drops packets from `from_nodes` (incoming) and to `to_nodes` (outgoing).
pub fn drop_traffic(n: u8, from_nodes: &[u8], to_nodes: &[u8]) -> anyhow::Result<()> {
    let mut script = format!(
        "table inet {TABLE} {{\n chain input {{ type filter hook input priority 0; policy accept;\n"
    );
    for f in from_nodes {
        script += &format!("  ip saddr {} drop\n", addr(*f));
    }
    script += " }\n chain output { type filter hook output priority 0; policy accept;\n";
    for t in to_nodes {
        script += &format!("  ip daddr {} drop\n", addr(*t));
    }
    script += " }\n}\n";
    nft(n, &script)
}

/// Node `n` drops `percent` % of all incoming packets at random.
pub fn packet_loss(n: u8, percent: u8) -> anyhow::Result<()> {
    nft(
        n,
        &format!(
            "table inet {TABLE} {{\n chain input {{ type filter hook input priority 0; policy accept;\n  iifname \"eth0\" numgen random mod 100 < {percent} drop\n }}\n}}\n"
        ),
    )
}

/// Removes every rule the harness added in node `n`'s namespace.
pub fn heal(n: u8) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(["netns", "exec", &netns(n), "nft", "list", "tables"])
        .output()?;
    if String::from_utf8_lossy(&out.stdout).contains(TABLE) {
        run(&[
            "ip",
            "netns",
            "exec",
            &netns(n),
            "nft",
            "delete",
            "table",
            "inet",
            TABLE,
        ])?;
    }
    Ok(())
}
