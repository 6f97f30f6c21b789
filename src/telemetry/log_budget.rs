//! A log line that may be written at most once per period, for events an outsider can
//! cause at will (a flood of unsigned requests would otherwise flood the logs). Metrics
//! still count every occurrence; the line says how many went unlogged since the last.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct LogBudget {
    period: Duration,
    state: Mutex<State>,
}

struct State {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl LogBudget {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new(State {
                last_logged: None,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when the caller may log now, `n` being how many occurrences went unlogged
    /// since the last line; `None` when this one is to go unlogged.
    pub fn take(&self) -> Option<u64> {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let due = state
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= self.period);
        if due {
            state.last_logged = Some(now);
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_saying_how_many_went_unlogged() {
        let budget = LogBudget::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(budget.take_at(start), Some(0));
        for _ in 0..5 {
            assert_eq!(budget.take_at(start + Duration::from_secs(1)), None);
        }
        assert_eq!(budget.take_at(start + Duration::from_secs(10)), Some(5));
        assert_eq!(budget.take_at(start + Duration::from_secs(11)), None);
    }
}
