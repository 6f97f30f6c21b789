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
//! a steady flow into one burst a second (in the load benchmark, 200-350 refreshes fetched
//! within 0.3 s, each having waited up to a second). A tick that finds work brings the next
//! one to `busy` after it, so the same work runs in small batches; an idle worker polls
//! every `idle`.

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
    /// When the timer last fired.
    last_tick: Instant,
    /// Jobs the worker had taken when the timer last fired.
    taken_at_last_tick: u64,
    /// Jobs the worker has taken so far (apalis' count of polls that yielded one).
    taken: u64,
}

impl Tick {
    /// Polls every `idle`, or `busy` after a tick that found work.
    pub fn new(idle: Duration, busy: Duration) -> Self {
        let now = Instant::now();
        Self {
            idle,
            busy: busy.min(idle),
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            last_tick: now,
            taken_at_last_tick: 0,
            taken: 0,
        }
    }

    /// When the next tick is due: `busy` after the last one if it has found work since,
    /// else `idle` after it.
    fn next_tick(&self) -> Instant {
        let found_work = self.taken > self.taken_at_last_tick;
        self.last_tick + if found_work { self.busy } else { self.idle }
    }
}

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        // The worker drains after the tick has fired, so whether it found work is known
        // only now: bring the timer in if it did.
        let next = self.next_tick();
        if next < self.timer.deadline() {
            self.timer.as_mut().reset(next);
        }
        let mut fired = false;
        while self.timer.as_mut().poll(cx).is_ready() {
            fired = true;
            self.last_tick = Instant::now();
            self.taken_at_last_tick = self.taken;
            let next = self.next_tick();
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
    async fn a_tick_that_finds_work_brings_the_next_one_sooner() {
        let (idle, busy) = (Duration::from_secs(1), Duration::from_millis(100));
        let mut tick = Tick::new(idle, busy);
        let start = tick.last_tick;
        assert_eq!(tick.next_tick(), start + idle, "nothing taken yet");
        tick.on_poll(&snapshot(3));
        assert_eq!(
            tick.next_tick(),
            start + busy,
            "three jobs since the last tick"
        );

        // The timer fires: the count starts again from there.
        tick.last_tick = start + busy;
        tick.taken_at_last_tick = tick.taken;
        assert_eq!(tick.next_tick(), start + busy + idle, "none since");
        tick.on_poll(&snapshot(3));
        assert_eq!(
            tick.next_tick(),
            start + busy + idle,
            "the same three are not new work"
        );
        tick.on_poll(&snapshot(4));
        assert_eq!(tick.next_tick(), start + busy + busy);
    }

    #[tokio::test]
    async fn work_found_after_a_tick_pulls_the_armed_timer_in() {
        let (idle, busy) = (Duration::from_secs(3600), Duration::ZERO);
        let mut tick = Tick::new(idle, busy);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(tick.poll_drive(&mut cx, &snapshot(0)).is_pending());
        tick.on_poll(&snapshot(1));
        // Due `busy` (zero) after the last tick, which is already past: it fires at the
        // timer driver's next turn instead of an hour on, and re-arms for an hour after.
        let mut turns = 0;
        while tick.poll_drive(&mut cx, &snapshot(1)).is_pending() {
            turns += 1;
            assert!(turns < 1_000, "the timer stayed an hour out");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(tick.poll_drive(&mut cx, &snapshot(1)).is_pending());
        assert!(tick.timer.deadline() >= tick.last_tick + idle);
    }
}
