//! A poll tick for apalis workers that cannot lose its wake-up, and that comes round sooner
//! while the queue has work.
//!
//! apalis 1.0's `IntervalStrategy` replaces its timer when it fires without polling the new
//! one, so no waker is registered and an idle worker can sleep until its 30 s heartbeat
//! while due jobs wait (seen here: rescheduled jobs stuck `Pending` with `run_at` in the
//! past). This tick re-polls its timer until it is pending again, so a wake-up is always
//! armed.
//!
//! Each tick the worker drains every job that fell due since the last one, as fast as its
//! concurrency allows. Delayed jobs (root-message refreshes fall due a second after the
//! order that asked for them) come due all the time under load, so a one-second tick turned
//! a steady flow into one burst a second: the benchmark saw the machine saturated for
//! 0.3–0.7 s at a time while 200 refreshes ran at once, and the orders arriving then took
//! two to three times as long. While a tick finds work the next one comes after `busy`,
//! so the same work runs in small batches; an idle worker polls every `idle`.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Instant, Sleep};

pub struct Tick {
    idle: Duration,
    busy: Duration,
    timer: Pin<Box<Sleep>>,
    /// Jobs the worker had taken when the timer last fired.
    taken_at_last_tick: u64,
    /// Jobs the worker has taken so far (apalis' count of polls that yielded one).
    taken: u64,
}

impl Tick {
    /// Polls every `idle`, or every `busy` after a tick that found work.
    pub fn new(idle: Duration, busy: Duration) -> Self {
        Self {
            idle,
            busy: busy.min(idle),
            timer: Box::pin(tokio::time::sleep(idle)),
            taken_at_last_tick: 0,
            taken: 0,
        }
    }

    /// How long until the next tick, judged when one fires.
    fn next_interval(&mut self) -> Duration {
        let found_work = self.taken > self.taken_at_last_tick;
        self.taken_at_last_tick = self.taken;
        if found_work { self.busy } else { self.idle }
    }
}

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.timer.as_mut().poll(cx).is_ready() {
            fired = true;
            let next = Instant::now() + self.next_interval();
            self.timer.as_mut().reset(next);
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }

    fn on_poll(&mut self, snapshot: &PollSnapshot) {
        self.taken = snapshot.total_ready;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(total_ready: u64) -> PollSnapshot {
        PollSnapshot {
            total_ready,
            ..PollSnapshot::default()
        }
    }

    #[tokio::test]
    async fn a_tick_that_found_work_brings_the_next_one_sooner() {
        let (idle, busy) = (Duration::from_secs(1), Duration::from_millis(100));
        let mut tick = Tick::new(idle, busy);
        assert_eq!(tick.next_interval(), idle, "nothing taken yet");
        tick.on_poll(&snapshot(3));
        assert_eq!(tick.next_interval(), busy, "three jobs since the last tick");
        assert_eq!(tick.next_interval(), idle, "none since");
        tick.on_poll(&snapshot(3));
        assert_eq!(
            tick.next_interval(),
            idle,
            "the same three are not new work"
        );
        tick.on_poll(&snapshot(4));
        assert_eq!(tick.next_interval(), busy);
    }
}
