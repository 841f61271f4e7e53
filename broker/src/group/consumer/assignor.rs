//! Server-side partition assignors of the consumer group protocol (KIP-848): `uniform`
//! (balanced and sticky: a member keeps what it had as far as balance allows) and `range`
//! (per topic, contiguous partition ranges over the subscribed members in member-id order).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions per topic id.
pub type TopicPartitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// The assignors a member may ask for in `server_assignor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Assignor {
    Uniform,
    Range,
}

impl Assignor {
    pub const DEFAULT: Assignor = Assignor::Uniform;

    pub fn from_name(name: &str) -> Option<Assignor> {
        match name {
            "uniform" => Some(Assignor::Uniform),
            "range" => Some(Assignor::Range),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Assignor::Uniform => "uniform",
            Assignor::Range => "range",
        }
    }
}

/// One member as an assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentMember {
    pub member_id: String,
    /// Ids of the subscribed topics that exist.
    pub topics: BTreeSet<Uuid>,
    /// The member's previous target assignment (what stickiness preserves).
    pub current: TopicPartitions,
}

/// The target assignment of every member: `topics` maps each subscribed topic to its
/// partition count. Every partition of a topic somebody subscribes to goes to exactly one
/// member subscribed to it; members with no partitions get an empty entry.
pub fn assign(
    assignor: Assignor,
    members: &[AssignmentMember],
    topics: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, TopicPartitions> {
    let mut out: BTreeMap<String, TopicPartitions> = members
        .iter()
        .map(|m| (m.member_id.clone(), TopicPartitions::new()))
        .collect();
    match assignor {
        Assignor::Range => assign_range(members, topics, &mut out),
        Assignor::Uniform => assign_uniform(members, topics, &mut out),
    }
    out
}

fn assign_range(
    members: &[AssignmentMember],
    topics: &BTreeMap<Uuid, i32>,
    out: &mut BTreeMap<String, TopicPartitions>,
) {
    for (topic, count) in topics {
        let mut subscribed: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.member_id.as_str())
            .collect();
        subscribed.sort_unstable();
        let n = subscribed.len();
        if n == 0 || *count <= 0 {
            continue;
        }
        let count = usize::try_from(*count).unwrap_or(0);
        let (each, extra) = (count / n, count % n);
        let mut next = 0usize;
        for (i, member) in subscribed.iter().enumerate() {
            let take = each + usize::from(i < extra);
            let parts: BTreeSet<i32> = (next..next + take)
                .filter_map(|p| i32::try_from(p).ok())
                .collect();
            next += take;
            if !parts.is_empty() {
                if let Some(a) = out.get_mut(*member) {
                    a.insert(*topic, parts);
                }
            }
        }
    }
}

fn count_of(a: &TopicPartitions) -> usize {
    a.values().map(BTreeSet::len).sum()
}

fn assign_uniform(
    members: &[AssignmentMember],
    topics: &BTreeMap<Uuid, i32>,
    out: &mut BTreeMap<String, TopicPartitions>,
) {
    let subscribed = |member: &str, topic: &Uuid| {
        members
            .iter()
            .any(|m| m.member_id == member && m.topics.contains(topic))
    };
    let exists = |topic: &Uuid, p: i32| topics.get(topic).is_some_and(|c| (0..*c).contains(&p));
    // 1. Stickiness: every member keeps its still-valid partitions (each partition once).
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for m in members {
        for (topic, parts) in &m.current {
            if !m.topics.contains(topic) {
                continue;
            }
            for p in parts {
                if exists(topic, *p) && taken.insert((*topic, *p)) {
                    if let Some(a) = out.get_mut(&m.member_id) {
                        a.entry(*topic).or_default().insert(*p);
                    }
                }
            }
        }
    }
    // 2. Every other partition goes to the least-loaded subscribed member.
    for (topic, count) in topics {
        for p in 0..*count {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            let target = out
                .iter()
                .filter(|(id, _)| subscribed(id, topic))
                .min_by_key(|(id, a)| (count_of(a), (*id).clone()))
                .map(|(id, _)| id.clone());
            if let Some(id) = target {
                if let Some(a) = out.get_mut(&id) {
                    a.entry(*topic).or_default().insert(p);
                    taken.insert((*topic, p));
                }
            }
        }
    }
    // 3. Balance: move a partition from a member with more than one partition above
    // another eligible member, until no such move exists (each move lowers the spread).
    let moves_max = topics
        .values()
        .map(|c| usize::try_from(*c).unwrap_or(0))
        .sum::<usize>()
        .saturating_mul(members.len().max(1));
    for _ in 0..moves_max {
        let mut best: Option<(String, String, Uuid, i32)> = None;
        let mut by_load: Vec<(usize, String)> = out
            .iter()
            .map(|(id, a)| (count_of(a), id.clone()))
            .collect();
        by_load.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        'search: for (from_load, from) in &by_load {
            for (to_load, to) in by_load.iter().rev() {
                if *from_load <= to_load + 1 {
                    break;
                }
                let Some(a) = out.get(from) else { continue };
                // The highest partition of a topic the receiver subscribes to.
                for (topic, parts) in a.iter().rev() {
                    if subscribed(to, topic) {
                        if let Some(p) = parts.iter().next_back() {
                            best = Some((from.clone(), to.clone(), *topic, *p));
                            break 'search;
                        }
                    }
                }
            }
        }
        let Some((from, to, topic, p)) = best else {
            break;
        };
        if let Some(a) = out.get_mut(&from) {
            if let Some(parts) = a.get_mut(&topic) {
                parts.remove(&p);
                if parts.is_empty() {
                    a.remove(&topic);
                }
            }
        }
        if let Some(a) = out.get_mut(&to) {
            a.entry(topic).or_default().insert(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[Uuid], current: TopicPartitions) -> AssignmentMember {
        AssignmentMember {
            member_id: id.to_string(),
            topics: topics.iter().copied().collect(),
            current,
        }
    }

    fn all_partitions(out: &BTreeMap<String, TopicPartitions>) -> Vec<(Uuid, i32)> {
        let mut v: Vec<(Uuid, i32)> = out
            .values()
            .flat_map(|a| {
                a.iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn uniform_splits_twelve_partitions_four_each_over_three_members() {
        let t = Uuid::new_v4();
        let topics = BTreeMap::from([(t, 12)]);
        let members: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|id| member(id, &[t], TopicPartitions::new()))
            .collect();
        let out = assign(Assignor::Uniform, &members, &topics);
        for a in out.values() {
            assert_eq!(count_of(a), 4);
        }
        let parts = all_partitions(&out);
        assert_eq!(parts, (0..12).map(|p| (t, p)).collect::<Vec<_>>());
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins() {
        let t = Uuid::new_v4();
        let topics = BTreeMap::from([(t, 12)]);
        let two: Vec<_> = ["a", "b"]
            .iter()
            .map(|id| member(id, &[t], TopicPartitions::new()))
            .collect();
        let before = assign(Assignor::Uniform, &two, &topics);
        let mut three: Vec<_> = ["a", "b"]
            .iter()
            .map(|id| member(id, &[t], before[*id].clone()))
            .collect();
        three.push(member("c", &[t], TopicPartitions::new()));
        let after = assign(Assignor::Uniform, &three, &topics);
        for id in ["a", "b"] {
            let kept = after[id][&t].intersection(&before[id][&t]).count();
            assert_eq!(kept, 4, "{id} keeps all it still has");
            assert!(after[id][&t].is_subset(&before[id][&t]));
        }
        assert_eq!(count_of(&after["c"]), 4);
        assert_eq!(all_partitions(&after).len(), 12);
    }

    #[test]
    fn uniform_gives_partitions_only_to_subscribed_members() {
        let (t1, t2) = (Uuid::new_v4(), Uuid::new_v4());
        let topics = BTreeMap::from([(t1, 4), (t2, 2)]);
        let members = vec![
            member("a", &[t1], TopicPartitions::new()),
            member("b", &[t1, t2], TopicPartitions::new()),
        ];
        let out = assign(Assignor::Uniform, &members, &topics);
        assert!(!out["a"].contains_key(&t2));
        assert_eq!(out["b"][&t2].len(), 2);
        assert_eq!(all_partitions(&out).len(), 6);
        assert_eq!(count_of(&out["a"]), 3);
        assert_eq!(count_of(&out["b"]), 3);
    }

    #[test]
    fn uniform_drops_partitions_of_unsubscribed_or_shrunk_topics() {
        let t = Uuid::new_v4();
        let gone = Uuid::new_v4();
        let topics = BTreeMap::from([(t, 2)]);
        let current =
            TopicPartitions::from([(t, BTreeSet::from([0, 1, 5])), (gone, BTreeSet::from([0]))]);
        let out = assign(Assignor::Uniform, &[member("a", &[t], current)], &topics);
        assert_eq!(
            out["a"],
            TopicPartitions::from([(t, BTreeSet::from([0, 1]))])
        );
    }

    #[test]
    fn range_gives_contiguous_ranges_in_member_id_order_with_extras_first() {
        let t = Uuid::new_v4();
        let topics = BTreeMap::from([(t, 7)]);
        let members: Vec<_> = ["c", "a", "b"]
            .iter()
            .map(|id| member(id, &[t], TopicPartitions::new()))
            .collect();
        let out = assign(Assignor::Range, &members, &topics);
        assert_eq!(out["a"][&t], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"][&t], BTreeSet::from([3, 4]));
        assert_eq!(out["c"][&t], BTreeSet::from([5, 6]));
    }

    #[test]
    fn range_leaves_members_without_partitions_when_fewer_partitions_than_members() {
        let t = Uuid::new_v4();
        let topics = BTreeMap::from([(t, 1)]);
        let members: Vec<_> = ["a", "b"]
            .iter()
            .map(|id| member(id, &[t], TopicPartitions::new()))
            .collect();
        let out = assign(Assignor::Range, &members, &topics);
        assert_eq!(out["a"][&t], BTreeSet::from([0]));
        assert!(out["b"].is_empty());
    }

    #[test]
    fn assignor_names_round_trip_and_unknown_names_are_refused() {
        for a in [Assignor::Uniform, Assignor::Range] {
            assert_eq!(Assignor::from_name(a.name()), Some(a));
        }
        assert_eq!(Assignor::from_name("sticky"), None);
    }
}
