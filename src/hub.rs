//! The open sockets of each user on this instance, so that one tab's turn shows in the user's
//! other tabs and a new conversation started in one tab resets the others.
//!
//! Delivery is best effort: a tab whose queue is full misses an event (it catches up from
//! `/api/conversation` on its next reload), so a slow tab never slows anyone else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::conversation::StoredTurn;
use crate::store::{DueTimer, UserId};

/// Events a socket forwards to its page.
#[derive(Debug, Clone)]
pub enum HubEvent {
    /// Another tab of the same user finished a turn.
    TurnSynced { origin: String, turn: StoredTurn },
    /// The user's open conversation changed (a new one, or a past one reopened).
    ConversationChanged { conversation_id: i64 },
    /// A timer, alarm or reminder of the user is due: ring.
    TimerDue(DueTimer),
}

/// Events per socket that may wait before newer ones are dropped.
const QUEUE: usize = 16;

struct Registration {
    id: u64,
    client_id: String,
    events: mpsc::Sender<Arc<HubEvent>>,
}

#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: AtomicU64,
    sockets: Mutex<HashMap<UserId, Vec<Registration>>>,
}

/// A socket's place in the hub; leaving is dropping it.
pub struct Membership {
    hub: Hub,
    user: UserId,
    id: u64,
}

impl Hub {
    /// Registers one socket of `user`; events arrive on the receiver until the membership is
    /// dropped.
    pub fn join(
        &self,
        user: &UserId,
        client_id: &str,
    ) -> (Membership, mpsc::Receiver<Arc<HubEvent>>) {
        let (events, receiver) = mpsc::channel(QUEUE);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(user.clone())
            .or_default()
            .push(Registration {
                id,
                client_id: client_id.to_owned(),
                events,
            });
        (
            Membership {
                hub: self.clone(),
                user: user.clone(),
                id,
            },
            receiver,
        )
    }

    /// Sends `event` to every socket of `user` except those of the tab `except`; returns how
    /// many sockets took it.
    pub fn publish(&self, user: &UserId, except: Option<&str>, event: HubEvent) -> usize {
        let sockets = self.lock();
        let Some(registrations) = sockets.get(user) else {
            return 0;
        };
        let event = Arc::new(event);
        registrations
            .iter()
            .filter(|r| Some(r.client_id.as_str()) != except)
            .filter(|r| r.events.try_send(event.clone()).is_ok())
            .count()
    }

    /// Open sockets of `user` on this instance.
    pub fn sockets_of(&self, user: &UserId) -> usize {
        self.lock().get(user).map_or(0, Vec::len)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<Registration>>> {
        // Single pushes and removals cannot leave the map inconsistent.
        self.inner.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut sockets = self.hub.lock();
        if let Some(registrations) = sockets.get_mut(&self.user) {
            registrations.retain(|r| r.id != self.id);
            if registrations.is_empty() {
                sockets.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_reach_the_other_tabs_of_the_user_only() {
        let hub = Hub::default();
        let alice = UserId::from_raw("alice");
        let bob = UserId::from_raw("bob");
        let (_a1, mut tab1) = hub.join(&alice, "tab-1");
        let (_a2, mut tab2) = hub.join(&alice, "tab-2");
        let (_b, mut bobs) = hub.join(&bob, "tab-1");
        hub.publish(
            &alice,
            Some("tab-1"),
            HubEvent::ConversationChanged { conversation_id: 7 },
        );
        assert!(matches!(
            *tab2.recv().await.unwrap(),
            HubEvent::ConversationChanged { conversation_id: 7 }
        ));
        assert!(tab1.try_recv().is_err());
        assert!(bobs.try_recv().is_err());
        drop(_a2);
        assert_eq!(hub.sockets_of(&alice), 1);
    }
}
