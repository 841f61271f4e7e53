//! The seeded fault schedule of a Jepsen run: which fault starts when and heals when. The same seed,
//! families and timing always give the same schedule.

use std::fmt;

/// A small deterministic PRNG (SplitMix64): the schedule must not depend on a crate's algorithm choice.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Node ids are 1..=3.
pub const NODES: [u8; 3] = [1, 2, 3];

/// Who a fault hits: a fixed node, or whichever node leads a partition when the fault starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(u8),
    LeaderOf(i32),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => write!(f, "node {n}"),
            Target::LeaderOf(p) => write!(f, "leader of partition {p}"),
        }
    }
}

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the target, restart it at heal.
    Kill(Target),
    /// SIGKILL every node, restart all at heal.
    KillAll,
    /// SIGSTOP the target, SIGCONT at heal.
    Pause(Target),
    /// The target drops all traffic to and from the other nodes (clients still reach it).
    Isolate(Target),
    /// `a` and `c` cannot talk; `bridge` talks to both.
    Bridge { bridge: u8 },
    /// `to` drops what `from` sends it; the other direction works.
    OneWay { from: u8, to: u8 },
    /// Every node drops `percent` % of incoming packets at random.
    Loss { percent: u8 },
    /// SIGKILL the target, cut its files to what it synced since it started, restart at heal.
    LoseUnsynced(Target),
    /// SIGKILL every node, cut every node's files to what it synced, restart all at heal.
    LoseUnsyncedAll,
}

impl Fault {
    /// A short name for histories and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Kill(Target::Node(_)) => "kill-one",
            Fault::Kill(Target::LeaderOf(_)) => "kill-leader",
            Fault::KillAll => "kill-all",
            Fault::Pause(Target::Node(_)) => "pause-one",
            Fault::Pause(Target::LeaderOf(_)) => "pause-leader",
            Fault::Isolate(Target::Node(_)) => "isolate-one",
            Fault::Isolate(Target::LeaderOf(_)) => "isolate-leader",
            Fault::Bridge { .. } => "partition-bridge",
            Fault::OneWay { .. } => "partition-one-way",
            Fault::Loss { .. } => "packet-loss",
            Fault::LoseUnsynced(Target::Node(_)) => "lose-unsynced-one",
            Fault::LoseUnsynced(Target::LeaderOf(_)) => "lose-unsynced-leader",
            Fault::LoseUnsyncedAll => "lose-unsynced-all",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill(t) => write!(f, "SIGKILL {t}, restart at heal"),
            Fault::KillAll => write!(f, "SIGKILL all nodes, restart at heal"),
            Fault::Pause(t) => write!(f, "SIGSTOP {t}, SIGCONT at heal"),
            Fault::Isolate(t) => write!(f, "isolate {t} from the other nodes"),
            Fault::Bridge { bridge } => {
                let others: Vec<u8> = NODES.iter().copied().filter(|n| n != bridge).collect();
                write!(
                    f,
                    "nodes {} and {} cut apart, node {bridge} sees both",
                    others[0], others[1]
                )
            }
            Fault::OneWay { from, to } => {
                write!(f, "node {to} drops packets from node {from} (one way)")
            }
            Fault::Loss { percent } => write!(f, "every node drops {percent}% of incoming packets"),
            Fault::LoseUnsynced(t) => write!(
                f,
                "SIGKILL {t}, cut its files to the last fsync, restart at heal"
            ),
            Fault::LoseUnsyncedAll => write!(
                f,
                "SIGKILL all nodes, cut every file to the last fsync, restart at heal"
            ),
        }
    }
}

/// Fault families selectable with `--faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Kill,
    Pause,
    Partition,
    Loss,
    Unsynced,
}

impl Family {
    /// What `--faults all` selects.
    pub const ALL: [Family; 5] = [
        Family::Kill,
        Family::Pause,
        Family::Partition,
        Family::Loss,
        Family::Unsynced,
    ];

    pub fn parse_list(s: &str) -> anyhow::Result<Vec<Family>> {
        let mut out = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let family = match word {
                "kill" => Family::Kill,
                "pause" => Family::Pause,
                "partition" => Family::Partition,
                "loss" => Family::Loss,
                "unsynced" => Family::Unsynced,
                "all" => {
                    out.extend(Family::ALL);
                    continue;
                }
                other => anyhow::bail!(
                    "unknown fault family {other:?} (kill, pause, partition, loss, unsynced, all)"
                ),
            };
            out.push(family);
        }
        out.sort();
        out.dedup();
        anyhow::ensure!(!out.is_empty(), "no fault family given");
        Ok(out)
    }
}

/// Timing of a schedule, seconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A fault starts every `interval` seconds (uniform in this range).
    pub interval_s: (f64, f64),
    /// and lasts this long, cut so that at least `quiet_s` pass between its heal and the next start.
    pub duration_s: (f64, f64),
    pub quiet_s: f64,
}

impl Timing {
    /// The timing: one every 10-20 s, lasting 5-15 s.
    pub const FULL: Timing = Timing {
        interval_s: (10.0, 20.0),
        duration_s: (5.0, 15.0),
        quiet_s: 3.0,
    };
    /// Half of it, for bounded CI runs.
    pub const CI: Timing = Timing {
        interval_s: (5.0, 10.0),
        duration_s: (2.5, 7.5),
        quiet_s: 2.0,
    };
}

/// One scheduled fault: starts `start_s` after the workload is ready, heals at `end_s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scheduled {
    pub start_s: f64,
    pub end_s: f64,
    pub fault: Fault,
}

fn pick_target(rng: &mut SplitMix64, partitions: i32) -> Target {
    if rng.below(2) == 0 {
        Target::Node(NODES[rng.below(3) as usize])
    } else {
        Target::LeaderOf(rng.below(partitions.max(1) as u64) as i32)
    }
}

fn pick_fault(rng: &mut SplitMix64, family: Family, partitions: i32) -> Fault {
    match family {
        Family::Kill => {
            if rng.below(5) == 0 {
                Fault::KillAll
            } else {
                Fault::Kill(pick_target(rng, partitions))
            }
        }
        Family::Pause => Fault::Pause(pick_target(rng, partitions)),
        Family::Partition => match rng.below(3) {
            0 => Fault::Isolate(pick_target(rng, partitions)),
            1 => Fault::Bridge {
                bridge: NODES[rng.below(3) as usize],
            },
            _ => {
                let from = NODES[rng.below(3) as usize];
                let to = NODES
                    .iter()
                    .copied()
                    .filter(|n| *n != from)
                    .nth(rng.below(2) as usize)
                    .unwrap_or(1);
                Fault::OneWay { from, to }
            }
        },
        Family::Loss => Fault::Loss {
            percent: 10 + rng.below(31) as u8,
        },
        // Half of them on every node at once: only that can lose a write acknowledged by a
        // majority that had not synced it.
        Family::Unsynced => {
            if rng.below(2) == 0 {
                Fault::LoseUnsyncedAll
            } else {
                Fault::LoseUnsynced(pick_target(rng, partitions))
            }
        }
    }
}

/// The schedule for `duration_s` seconds of faults; every fault heals by `duration_s`.
pub fn schedule(
    seed: u64,
    families: &[Family],
    duration_s: f64,
    timing: Timing,
    partitions: i32,
) -> Vec<Scheduled> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::new();
    let mut start = rng.uniform(timing.interval_s.0, timing.interval_s.1) / 2.0;
    loop {
        let next = start + rng.uniform(timing.interval_s.0, timing.interval_s.1);
        let mut len = rng.uniform(timing.duration_s.0, timing.duration_s.1);
        len = len
            .min(next - start - timing.quiet_s)
            .min(duration_s - start);
        if families.is_empty() || len < 1.0 {
            break;
        }
        let family = families[rng.below(families.len() as u64) as usize];
        let fault = pick_fault(&mut rng, family, partitions);
        out.push(Scheduled {
            start_s: start,
            end_s: start + len,
            fault,
        });
        start = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_schedule_and_other_seed_differs() {
        let all = Family::ALL;
        let a = schedule(7, &all, 300.0, Timing::FULL, 3);
        assert_eq!(a, schedule(7, &all, 300.0, Timing::FULL, 3));
        assert_ne!(a, schedule(8, &all, 300.0, Timing::FULL, 3));
    }

    #[test]
    fn faults_do_not_overlap_and_heal_before_the_end() {
        let all = Family::ALL;
        for seed in 0..50 {
            let s = schedule(seed, &all, 120.0, Timing::FULL, 3);
            assert!(!s.is_empty());
            for w in s.windows(2) {
                assert!(
                    w[0].end_s + Timing::FULL.quiet_s <= w[1].start_s + 1e-9,
                    "{w:?}"
                );
            }
            for f in &s {
                assert!(
                    f.end_s <= 120.0 && f.end_s - f.start_s <= 15.0 && f.end_s > f.start_s,
                    "{f:?}"
                );
            }
        }
    }

    #[test]
    fn only_selected_families_are_scheduled() {
        let s = schedule(3, &[Family::Pause], 300.0, Timing::FULL, 3);
        assert!(
            s.iter().all(|f| matches!(f.fault, Fault::Pause(_))),
            "{s:?}"
        );
    }

    #[test]
    fn parse_list_rejects_unknown_family() {
        assert!(Family::parse_list("kill,nope").is_err());
        assert_eq!(
            Family::parse_list("pause,kill").unwrap_or_default(),
            vec![Family::Kill, Family::Pause]
        );
    }

    #[test]
    fn all_includes_unsynced_and_unsynced_schedules_both_kinds() {
        assert_eq!(
            Family::parse_list("all").unwrap_or_default(),
            Family::ALL.to_vec()
        );
        let s = schedule(5, &[Family::Unsynced], 600.0, Timing::FULL, 3);
        assert!(
            s.iter()
                .all(|f| matches!(f.fault, Fault::LoseUnsynced(_) | Fault::LoseUnsyncedAll)),
            "{s:?}"
        );
        assert!(s.iter().any(|f| f.fault == Fault::LoseUnsyncedAll), "{s:?}");
        assert!(
            s.iter().any(|f| matches!(f.fault, Fault::LoseUnsynced(_))),
            "{s:?}"
        );
    }
}
