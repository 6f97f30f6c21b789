//! A poll tick for apalis workers that cannot lose its wake-up.
//!
//! apalis 1.0's `IntervalStrategy` replaces its timer when it fires without polling the new
//! one, so no waker is registered and an idle worker can sleep until its 30 s heartbeat
//! while due jobs wait (seen here: rescheduled jobs stuck `Pending` with `run_at` in the
//! past). This tick re-polls its timer until it is pending again, so a wake-up is always
//! armed.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Instant, Sleep};

pub struct Tick {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

impl Tick {
    pub fn every(every: Duration) -> Self {
        Self {
            every,
            timer: Box::pin(tokio::time::sleep(every)),
        }
    }
}

impl PollStrategy for Tick {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.timer.as_mut().poll(cx).is_ready() {
            fired = true;
            let next = Instant::now() + self.every;
            self.timer.as_mut().reset(next);
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
