//! Who goes for coffee (REQ-008, CONTRACT "Runner assignment", "Carpool policy").
//!
//! The database gathers each candidate's history; this module only decides.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use super::availability::Absence;

/// How the runner is chosen (`FAIRNESS_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FairnessPolicy {
    /// Fewest runs in the window, ties to the earliest last run (the seeds' rule).
    FewestRuns,
    /// Largest debt (fair share − runs made), Fagin & Williams' carpool rule.
    Carpool,
}

impl FairnessPolicy {
    /// Every policy's name, as configured.
    pub const NAMES: [&'static str; 2] = ["fewest-runs", "carpool"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FewestRuns => Self::NAMES[0],
            Self::Carpool => Self::NAMES[1],
        }
    }
}

/// A policy name that is none of [`FairnessPolicy::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fairness policy {0:?}: expected fewest-runs or carpool")]
pub struct UnknownPolicy(pub String);

impl std::str::FromStr for FairnessPolicy {
    type Err = UnknownPolicy;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "fewest-runs" => Ok(Self::FewestRuns),
            "carpool" => Ok(Self::Carpool),
            other => Err(UnknownPolicy(other.to_owned())),
        }
    }
}

impl std::fmt::Display for FairnessPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One participant of the run, with their history in the workspace's fairness window.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub user_id: String,
    /// Runs made as runner in the window.
    pub runs: u32,
    /// When they last ran; `None` if never in the window.
    pub last_run_at: Option<DateTime<Utc>>,
    /// Carpool fair share: each run in the window adds 1/participants to each participant.
    pub fair_share: f64,
    /// Ordered within ACTIVE_WINDOW_DAYS.
    pub active: bool,
    /// Said `Can't run today` for this run.
    pub opted_out: bool,
    /// Slack said they are out today (`None`: in, or not asked).
    pub unavailable: Option<Absence>,
}

impl Candidate {
    fn debt(&self) -> f64 {
        self.fair_share - f64::from(self.runs)
    }
}

/// The runner, and those ahead of them in the policy's order who were out.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick<'a> {
    pub runner: &'a Candidate,
    /// Candidates passed over because they are out (each has `unavailable`), in order.
    pub passed_over: Vec<&'a Candidate>,
}

/// The candidates in the order the policy would pick them.
///
/// Opted-out participants are left out unless everyone opted out; inactive ones are left
/// out unless nobody is active. Then `fewest-runs` orders by fewest runs, ties to the
/// earliest last run (never ran counts as earliest), then the lowest user id; `carpool`
/// orders by the largest debt (fair share − runs), ties broken the same way. Availability
/// plays no part: this is the order in which it is checked.
pub fn rank(policy: FairnessPolicy, candidates: &[Candidate]) -> Vec<&Candidate> {
    let willing = narrow(candidates.iter().collect(), |c| !c.opted_out);
    let mut pool = narrow(willing, |c| c.active);
    let order = |a: &Candidate, b: &Candidate| match policy {
        FairnessPolicy::FewestRuns => seeds_order(a, b),
        FairnessPolicy::Carpool => {
            compare_debts(b.debt(), a.debt()).then_with(|| seeds_order(a, b))
        }
    };
    // Selection rather than `sort_by`: debts compare with a tolerance, which is not a
    // total order, and the standard sorts may panic on one. A run has few participants.
    let mut ranked = Vec::with_capacity(pool.len());
    while let Some(first) = (0..pool.len()).min_by(|&i, &j| order(pool[i], pool[j])) {
        ranked.push(pool.swap_remove(first));
    }
    ranked
}

/// Picks the runner among the run's participants, or `None` for an empty run: the first
/// of [`rank`] who is not out, or, when everyone is, the first of all (nobody is passed
/// over then).
pub fn choose(policy: FairnessPolicy, candidates: &[Candidate]) -> Option<Pick<'_>> {
    let ranked = rank(policy, candidates);
    match ranked.iter().position(|c| c.unavailable.is_none()) {
        Some(at) => Some(Pick {
            runner: ranked[at],
            passed_over: ranked[..at].to_vec(),
        }),
        None => ranked.first().map(|&runner| Pick {
            runner,
            passed_over: Vec::new(),
        }),
    }
}

/// One active user's line of the workspace's fairness ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerLine {
    pub user_id: String,
    /// Runs made as runner in the window.
    pub runs: u32,
    /// Runs they would have made by now if every run were shared fairly: under
    /// `fewest-runs`, the window's runs split evenly among the active users; under
    /// `carpool`, their own fair share (1/participants per run they were in).
    pub fair_share: f64,
}

/// The workspace's ledger: each of `members` (everyone active in the window, with their
/// history) in the order the policy would pick them were they all in one run, so the first
/// is the most likely next runner.
pub fn ledger(policy: FairnessPolicy, members: &[Candidate]) -> Vec<LedgerLine> {
    let runs: u32 = members.iter().map(|m| m.runs).sum();
    let even_share = f64::from(runs) / members.len().max(1) as f64;
    rank(policy, members)
        .into_iter()
        .map(|m| LedgerLine {
            user_id: m.user_id.clone(),
            runs: m.runs,
            fair_share: match policy {
                FairnessPolicy::FewestRuns => even_share,
                FairnessPolicy::Carpool => m.fair_share,
            },
        })
        .collect()
}

/// The population standard deviation of runs made per user: the SPEC's fairness score
/// (target: under 2). Zero for nobody.
pub fn run_count_std_dev(runs: &[i64]) -> f64 {
    if runs.is_empty() {
        return 0.0;
    }
    let n = runs.len() as f64;
    let mean = runs.iter().map(|r| *r as f64).sum::<f64>() / n;
    let variance = runs.iter().map(|r| (*r as f64 - mean).powi(2)).sum::<f64>() / n;
    variance.sqrt()
}

/// Debts closer than this are equal. A fair share is a sum of 1/participants, exact in the
/// database and rounded to f64 on the way here, so equal debts can differ in the last bit
/// (5/3 − 1 against 2/3); two debts that really differ are far further apart.
const DEBT_TOLERANCE: f64 = 1e-9;

fn compare_debts(a: f64, b: f64) -> Ordering {
    if (a - b).abs() < DEBT_TOLERANCE {
        Ordering::Equal
    } else {
        a.partial_cmp(&b).unwrap_or(Ordering::Equal)
    }
}

/// Keeps those who pass `keep`, unless that leaves nobody.
fn narrow(candidates: Vec<&Candidate>, keep: impl Fn(&Candidate) -> bool) -> Vec<&Candidate> {
    let kept: Vec<&Candidate> = candidates.iter().copied().filter(|c| keep(c)).collect();
    if kept.is_empty() { candidates } else { kept }
}

/// The seeds' order: fewest runs, then earliest last run (never first), then lowest id.
fn seeds_order(a: &Candidate, b: &Candidate) -> Ordering {
    a.runs
        .cmp(&b.runs)
        .then_with(|| match (a.last_run_at, b.last_run_at) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(&y),
        })
        .then_with(|| a.user_id.cmp(&b.user_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fairness_score_is_the_population_std_dev_of_runs() {
        assert_eq!(run_count_std_dev(&[]), 0.0);
        assert_eq!(run_count_std_dev(&[3, 3, 3]), 0.0);
        assert!((run_count_std_dev(&[0, 2, 4]) - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
    use chrono::TimeZone;

    fn day(d: u32) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 11, d, 9, 0, 0).unwrap())
    }

    fn c(user: &str, runs: u32, last: Option<DateTime<Utc>>) -> Candidate {
        Candidate {
            user_id: user.into(),
            runs,
            last_run_at: last,
            fair_share: 0.0,
            active: true,
            opted_out: false,
            unavailable: None,
        }
    }

    fn pick(policy: FairnessPolicy, candidates: &[Candidate]) -> &str {
        choose(policy, candidates)
            .expect("someone goes")
            .runner
            .user_id
            .as_str()
    }

    #[test]
    fn carpool_debts_equal_but_for_rounding_fall_to_the_tie_break() {
        // 5/3 − 1 and 2/3 − 0 as the database hands them over: 0.6666666666666667 against
        // 0.6666666666666666. Equal debts, so fewer runs goes.
        let more_runs = Candidate {
            fair_share: 5.0 / 3.0,
            ..c("UA", 1, day(3))
        };
        let fewer_runs = Candidate {
            fair_share: 2.0 / 3.0,
            ..c("UB", 0, None)
        };
        assert_ne!(more_runs.debt(), fewer_runs.debt());
        assert_eq!(
            pick(FairnessPolicy::Carpool, &[more_runs, fewer_runs]),
            "UB"
        );
    }

    #[test]
    fn fewest_runs_table() {
        let inactive = |mut x: Candidate| {
            x.active = false;
            x
        };
        let out = |mut x: Candidate| {
            x.opted_out = true;
            x
        };
        let cases: Vec<(&str, Vec<Candidate>, &str)> = vec![
            (
                "fewest runs wins",
                vec![c("U1", 3, day(1)), c("U2", 1, day(2)), c("U3", 2, day(3))],
                "U2",
            ),
            (
                "tie goes to the earliest last run",
                vec![c("U1", 2, day(5)), c("U2", 2, day(3))],
                "U2",
            ),
            (
                "never ran beats ran",
                vec![c("U1", 0, day(1)), c("U2", 0, None)],
                "U2",
            ),
            (
                "no order in the active window excludes",
                vec![inactive(c("U1", 0, None)), c("U2", 4, day(9))],
                "U2",
            ),
            (
                "nobody active: everyone is a candidate",
                vec![inactive(c("U1", 2, day(1))), inactive(c("U2", 1, day(1)))],
                "U2",
            ),
            ("one participant", vec![c("U7", 9, day(20))], "U7"),
            (
                "final tie to the lowest user id",
                vec![c("U9", 1, day(4)), c("U3", 1, day(4)), c("U5", 1, day(4))],
                "U3",
            ),
            (
                "can't run today is left out",
                vec![out(c("U1", 0, None)), c("U2", 5, day(1))],
                "U2",
            ),
            (
                "everyone opted out: the rule applies to all",
                vec![out(c("U1", 2, day(1))), out(c("U2", 1, day(1)))],
                "U2",
            ),
        ];
        for (name, candidates, expected) in cases {
            assert_eq!(
                pick(FairnessPolicy::FewestRuns, &candidates),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn the_window_and_workspace_are_the_callers_business() {
        // Runs outside the window or in other workspaces never reach `runs`: a user with
        // many old runs arrives here with runs = 0 and competes as a newcomer.
        let candidates = [c("U1", 0, None), c("U2", 1, day(2))];
        assert_eq!(pick(FairnessPolicy::FewestRuns, &candidates), "U1");
    }

    #[test]
    fn carpool_takes_the_largest_debt() {
        let mut heavy_user = c("U1", 2, day(1));
        heavy_user.fair_share = 3.5; // owes 1.5 runs
        let mut light_user = c("U2", 0, None);
        light_user.fair_share = 0.5; // owes 0.5
        assert_eq!(
            pick(
                FairnessPolicy::Carpool,
                &[heavy_user.clone(), light_user.clone()]
            ),
            "U1"
        );
        // The seeds' rule would pick the one who never ran.
        assert_eq!(
            pick(FairnessPolicy::FewestRuns, &[heavy_user, light_user]),
            "U2"
        );
    }

    #[test]
    fn carpool_ties_break_like_the_seeds() {
        let mut a = c("U2", 1, day(3));
        a.fair_share = 1.0;
        let mut b = c("U1", 1, day(3));
        b.fair_share = 1.0;
        assert_eq!(pick(FairnessPolicy::Carpool, &[a, b]), "U1");
    }

    fn out(absence: Absence, mut candidate: Candidate) -> Candidate {
        candidate.unavailable = Some(absence);
        candidate
    }

    fn ids(candidates: &[&Candidate]) -> Vec<String> {
        candidates.iter().map(|c| c.user_id.clone()).collect()
    }

    #[test]
    fn rank_is_the_policys_order_of_willing_active_candidates() {
        let mut opted_out = c("U0", 0, None);
        opted_out.opted_out = true;
        let mut inactive = c("U9", 0, None);
        inactive.active = false;
        let candidates = [
            c("U3", 2, day(1)),
            opted_out,
            c("U1", 1, day(5)),
            inactive,
            c("U2", 1, day(2)),
        ];
        let ranked = rank(FairnessPolicy::FewestRuns, &candidates);
        assert_eq!(ids(&ranked), ["U2", "U1", "U3"]);
    }

    #[test]
    fn the_first_candidate_who_is_in_runs_and_those_out_before_are_passed_over() {
        let candidates = [
            out(Absence::Status, c("U1", 0, None)),
            c("U4", 3, day(1)),
            out(Absence::Dnd, c("U2", 1, day(1))),
            c("U3", 2, day(1)),
            out(Absence::Away, c("U5", 4, day(1))),
        ];
        let pick = choose(FairnessPolicy::FewestRuns, &candidates).unwrap();
        assert_eq!(pick.runner.user_id, "U3");
        assert_eq!(ids(&pick.passed_over), ["U1", "U2"]);
    }

    #[test]
    fn when_everyone_is_out_the_rule_applies_to_all_and_nobody_is_passed_over() {
        let candidates = [
            out(Absence::Away, c("U1", 2, day(1))),
            out(Absence::Dnd, c("U2", 1, day(1))),
        ];
        let pick = choose(FairnessPolicy::FewestRuns, &candidates).unwrap();
        assert_eq!(pick.runner.user_id, "U2");
        assert!(pick.passed_over.is_empty());
    }

    #[test]
    fn an_opted_out_candidate_who_is_in_does_not_beat_one_who_is_out() {
        // Opting out narrows first: the one who is out but willing runs.
        let mut willing_but_out = out(Absence::Away, c("U1", 0, None));
        willing_but_out.opted_out = false;
        let mut in_but_opted_out = c("U2", 0, None);
        in_but_opted_out.opted_out = true;
        let candidates = [willing_but_out, in_but_opted_out];
        let pick = choose(FairnessPolicy::FewestRuns, &candidates).unwrap();
        assert_eq!(pick.runner.user_id, "U1");
        assert!(pick.passed_over.is_empty());
    }

    #[test]
    fn carpool_passes_over_the_largest_debt_when_out() {
        let mut owes_most = out(Absence::Status, c("U1", 0, None));
        owes_most.fair_share = 2.0;
        let mut owes_some = c("U2", 0, None);
        owes_some.fair_share = 1.0;
        let candidates = [owes_some, owes_most];
        let pick = choose(FairnessPolicy::Carpool, &candidates).unwrap();
        assert_eq!(pick.runner.user_id, "U2");
        assert_eq!(ids(&pick.passed_over), ["U1"]);
    }

    #[test]
    fn the_ledger_puts_the_likely_next_runner_first_with_the_policys_share() {
        let mut a = c("UA", 3, day(2));
        a.fair_share = 2.5;
        let mut b = c("UB", 1, day(1));
        b.fair_share = 1.5;
        let mut n = c("UN", 0, None);
        n.fair_share = 0.25;
        let members = [a, b, n];
        let seeds = ledger(FairnessPolicy::FewestRuns, &members);
        let order: Vec<&str> = seeds.iter().map(|l| l.user_id.as_str()).collect();
        assert_eq!(order, ["UN", "UB", "UA"]);
        assert!(
            seeds
                .iter()
                .all(|l| (l.fair_share - 4.0 / 3.0).abs() < 1e-12)
        );
        let carpool = ledger(FairnessPolicy::Carpool, &members);
        let order: Vec<(&str, f64)> = carpool
            .iter()
            .map(|l| (l.user_id.as_str(), l.fair_share))
            .collect();
        // Debts: UB 0.5, UN 0.25, UA −0.5.
        assert_eq!(order, [("UB", 1.5), ("UN", 0.25), ("UA", 2.5)]);
        assert!(ledger(FairnessPolicy::FewestRuns, &[]).is_empty());
    }

    #[test]
    fn an_empty_run_has_no_runner() {
        assert!(choose(FairnessPolicy::FewestRuns, &[]).is_none());
    }
}
