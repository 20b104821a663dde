//! At least once all the way to the consumer.
//!
//! A link started with a consumer ([`crate::Link::start_consumed`]) hands every event, messages
//! among them, to one [`Consumer`] in order, and acknowledges an inbound QoS 1 message to the
//! broker only when the consumer acknowledges its [`Delivery`] (Paho's rule: no PUBACK until the
//! application has taken the message). What the consumer holds is bounded in bytes; past that the
//! supervisor stops reading the connection, so the TCP window closes and the broker keeps the
//! rest. A slow consumer slows the link; it never loses a message, and a crash loses nothing the
//! broker has not been told to forget.
//!
//! Without a consumer (observers of the event broadcast only) the supervisor acknowledges at once.

use crate::event::{EventKind, LinkEvent};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Bytes of events a consumer may hold (handed over, not yet acknowledged or dropped) before the
/// link stops reading the connection.
pub(crate) const CONSUMER_BUDGET: usize = 8 * 1024 * 1024;
/// What an event counts for beyond its topic and payload (its struct, its channel slot).
const EVENT_OVERHEAD: usize = 128;
/// Events that carry no acknowledgement and may wait for a back-pressured consumer; past this the
/// oldest of them are skipped (counted). Messages never are: they stop the reading instead.
const MAX_WAITING_EVENTS: usize = 4096;

/// Which inbound publish an acknowledgement is for: the connection it came on and its packet id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AckToken {
    /// The supervisor's epoch when the message arrived: an ack for an older connection is void
    /// (the broker sends the message again when the session resumes).
    pub(crate) epoch: u64,
    pub(crate) pkid: u16,
    pub(crate) qos: u8,
}

/// One event handed to the consumer, with its receipt.
#[derive(Debug)]
pub struct Delivery {
    pub event: LinkEvent,
    pub receipt: Receipt,
}

/// Acknowledge it ([`Consumer::ack`]) once the event is safely out of your hands (written,
/// stored). Dropped unacknowledged, it frees its share of the budget and leaves a QoS 1 message
/// for the broker to send again on the next session.
pub struct Receipt {
    token: Option<AckToken>,
    _budget: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receipt").field("token", &self.token).finish_non_exhaustive()
    }
}

/// Acknowledges deliveries; cloneable, usable from any thread.
#[derive(Clone)]
pub struct Acker(mpsc::UnboundedSender<AckToken>);

impl Acker {
    /// The broker may forget this message now. A no-op for events and QoS 0 messages.
    pub fn ack(&self, r: Receipt) {
        if let Some(t) = r.token {
            // A stopped link: the broker sends the message again on the next session.
            let _ = self.0.send(t);
        }
    }

    /// [`ack`](Self::ack) each, in order (the order they were received).
    pub fn ack_all(&self, rs: impl IntoIterator<Item = Receipt>) {
        for r in rs {
            self.ack(r);
        }
    }
}

/// The receiving end: every event of the link, in order, from the first.
pub struct Consumer {
    rx: mpsc::UnboundedReceiver<Delivery>,
    acker: Acker,
}

impl Consumer {
    /// The next event; `None` once the link has stopped and everything was taken.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// From a thread outside the runtime (a blocking writer).
    pub fn blocking_recv(&mut self) -> Option<Delivery> {
        self.rx.blocking_recv()
    }

    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok()
    }

    pub fn ack(&self, r: Receipt) {
        self.acker.ack(r)
    }

    pub fn acker(&self) -> Acker {
        self.acker.clone()
    }
}

/// The supervisor's end: hands events over within the budget and holds back the rest, in order.
pub(crate) struct Outlet {
    tx: Option<mpsc::UnboundedSender<Delivery>>,
    budget: Arc<Semaphore>,
    limit: usize,
    waiting: VecDeque<(LinkEvent, Option<AckToken>)>,
    /// Acknowledgements from the consumer.
    acks: mpsc::UnboundedReceiver<AckToken>,
    /// The link had a consumer and it went away: from here on nothing is acknowledged.
    gone: bool,
    /// Events without an acknowledgement skipped because too many waited.
    pub(crate) skipped: u64,
}

/// What the supervisor must do with an offered message's acknowledgement.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Handed over or waiting: the consumer acknowledges it.
    Taken,
    /// Nobody consumes this link: acknowledge it now.
    AckNow(AckToken),
    /// The consumer is gone: leave it unacknowledged, the broker keeps it.
    Dropped,
}

impl Outlet {
    /// A link with no consumer: every message is acknowledged on arrival.
    pub(crate) fn none() -> Self {
        Self {
            tx: None,
            // Nothing is ever acknowledged through it.
            acks: mpsc::unbounded_channel().1,
            budget: Arc::new(Semaphore::new(0)),
            limit: 0,
            waiting: VecDeque::new(),
            gone: false,
            skipped: 0,
        }
    }

    pub(crate) fn with_consumer(limit: usize) -> (Self, Consumer) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let outlet = Self {
            tx: Some(tx),
            acks: ack_rx,
            budget: Arc::new(Semaphore::new(limit)),
            limit,
            waiting: VecDeque::new(),
            gone: false,
            skipped: 0,
        };
        let consumer = Consumer { rx, acker: Acker(ack_tx) };
        (outlet, consumer)
    }

    /// The next acknowledgement from the consumer (never, without one).
    pub(crate) async fn next_ack(&mut self) -> Option<AckToken> {
        self.acks.recv().await
    }

    /// An acknowledgement that is ready now.
    pub(crate) fn ready_ack(&mut self) -> Option<AckToken> {
        self.acks.try_recv().ok()
    }

    /// Has (or had) a consumer: events go through [`offer`](Self::offer).
    pub(crate) fn has_consumer(&self) -> bool {
        self.tx.is_some() || self.gone
    }

    /// Events wait for the consumer: stop reading the connection until they are handed over.
    pub(crate) fn backed_up(&self) -> bool {
        !self.waiting.is_empty()
    }

    fn cost(&self, ev: &LinkEvent) -> u32 {
        let bytes = match &ev.kind {
            EventKind::Message { topic, payload, .. } => topic.len() + payload.len(),
            _ => 0,
        };
        // One event larger than the whole budget still goes, alone.
        (bytes + EVENT_OVERHEAD).min(self.limit).min(u32::MAX as usize) as u32
    }

    pub(crate) fn offer(&mut self, ev: LinkEvent, token: Option<AckToken>) -> Offer {
        if self.gone {
            return Offer::Dropped;
        }
        if self.tx.is_none() {
            return token.map_or(Offer::Taken, Offer::AckNow);
        }
        if self.waiting.is_empty() {
            if let Ok(permit) = self.budget.clone().try_acquire_many_owned(self.cost(&ev)) {
                return self.hand_over(ev, token, permit);
            }
        }
        if token.is_none() && !matches!(ev.kind, EventKind::Message { .. }) && self.waiting.len() >= MAX_WAITING_EVENTS {
            if let Some(i) = self
                .waiting
                .iter()
                .position(|(e, t)| t.is_none() && !matches!(e.kind, EventKind::Message { .. }))
            {
                self.waiting.remove(i);
                self.skipped += 1;
            }
        }
        self.waiting.push_back((ev, token));
        Offer::Taken
    }

    fn hand_over(&mut self, event: LinkEvent, token: Option<AckToken>, permit: OwnedSemaphorePermit) -> Offer {
        let Some(tx) = &self.tx else { return Offer::Dropped };
        let d = Delivery {
            event,
            receipt: Receipt { token, _budget: permit },
        };
        if tx.send(d).is_err() {
            // The consumer went away (the CLI exiting): nothing more is handed over or acked.
            self.tx = None;
            self.gone = true;
            self.waiting.clear();
            self.limit = 0;
            return Offer::Dropped;
        }
        Offer::Taken
    }

    /// What the first waiting event needs from the budget (for the supervisor to wait on).
    pub(crate) fn wanted(&self) -> Option<(Arc<Semaphore>, u32)> {
        let (ev, _) = self.waiting.front()?;
        Some((self.budget.clone(), self.cost(ev)))
    }

    /// The budget has room for the first waiting event: hand it over, and whatever else fits.
    pub(crate) fn resume(&mut self, permit: OwnedSemaphorePermit) {
        let Some((ev, token)) = self.waiting.pop_front() else { return };
        self.hand_over(ev, token, permit);
        while let Some((ev, _)) = self.waiting.front() {
            let Ok(permit) = self.budget.clone().try_acquire_many_owned(self.cost(ev)) else {
                break;
            };
            let Some((ev, token)) = self.waiting.pop_front() else { break };
            self.hand_over(ev, token, permit);
        }
    }
}

/// Wait until the budget has room for `want` (forever when nothing waits).
pub(crate) async fn room(want: Option<(Arc<Semaphore>, u32)>) -> OwnedSemaphorePermit {
    match want {
        Some((budget, n)) => match budget.acquire_many_owned(n).await {
            Ok(p) => p,
            // Never closed; if it were, nothing more can be handed over.
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(i: usize) -> LinkEvent {
        LinkEvent::new(
            "p".into(),
            EventKind::Message {
                topic: "t".into(),
                payload: Bytes::from(vec![b'x'; 1000]),
                qos: 1,
                retain: i == usize::MAX,
            },
        )
    }

    fn tok(pkid: u16) -> Option<AckToken> {
        Some(AckToken { epoch: 1, pkid, qos: 1 })
    }

    #[test]
    fn without_a_consumer_a_message_is_acknowledged_at_once() {
        let mut o = Outlet::none();
        assert_eq!(o.offer(msg(0), tok(7)), Offer::AckNow(AckToken { epoch: 1, pkid: 7, qos: 1 }));
        assert!(!o.backed_up());
    }

    #[test]
    fn a_message_is_acknowledged_only_when_the_consumer_acknowledges_it() {
        let (mut o, mut c) = Outlet::with_consumer(1 << 20);
        assert_eq!(o.offer(msg(0), tok(3)), Offer::Taken);
        assert!(o.ready_ack().is_none(), "nothing acked before the consumer says so");
        let d = c.try_recv().expect("handed over");
        c.ack(d.receipt);
        assert_eq!(o.ready_ack().map(|t| t.pkid), Some(3));
    }

    #[test]
    fn past_the_byte_budget_events_wait_in_order_and_flow_once_the_consumer_frees_room() {
        // Room for two 1000-byte messages.
        let (mut o, mut c) = Outlet::with_consumer(2 * (1000 + 1 + EVENT_OVERHEAD));
        for i in 0..5 {
            o.offer(msg(i), tok(i as u16));
        }
        assert!(o.backed_up());
        let first: Vec<Delivery> = std::iter::from_fn(|| c.try_recv()).collect();
        assert_eq!(first.len(), 2);
        let want = o.wanted().expect("one waits");
        assert_eq!(want.0.available_permits(), 0);
        drop(first);
        let permit = want.0.try_acquire_many_owned(want.1).expect("room again");
        o.resume(permit);
        let next: Vec<u16> = std::iter::from_fn(|| c.try_recv())
            .map(|d| d.receipt.token.map(|t| t.pkid).unwrap_or(0))
            .collect();
        assert_eq!(next, vec![2, 3], "in order, as far as the budget goes");
        assert!(o.backed_up(), "the fifth still waits");
    }

    #[test]
    fn a_message_larger_than_the_whole_budget_still_goes_alone() {
        let (mut o, mut c) = Outlet::with_consumer(100);
        assert_eq!(o.offer(msg(0), tok(1)), Offer::Taken);
        assert!(c.try_recv().is_some());
        assert!(!o.backed_up());
    }

    #[test]
    fn when_the_consumer_is_gone_nothing_is_acknowledged() {
        let (mut o, c) = Outlet::with_consumer(1 << 20);
        drop(c);
        assert_eq!(o.offer(msg(0), tok(1)), Offer::Dropped);
        assert_eq!(o.offer(msg(1), tok(2)), Offer::Dropped);
    }

    #[test]
    fn plain_events_waiting_past_the_cap_skip_the_oldest_but_never_a_message() {
        let (mut o, mut c) = Outlet::with_consumer(EVENT_OVERHEAD);
        let ev = || LinkEvent::new("p".into(), EventKind::Paused);
        o.offer(ev(), None);
        o.offer(msg(0), tok(1));
        for _ in 0..MAX_WAITING_EVENTS + 10 {
            o.offer(ev(), None);
        }
        assert_eq!(o.skipped, 11);
        let _first = c.try_recv();
        assert!(matches!(o.waiting.front().map(|w| &w.0.kind), Some(EventKind::Message { .. })));
    }
}
