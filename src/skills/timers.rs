//! Timers, alarms and reminders: setting, cancelling, listing and "how much time is left", and
//! the sweep that rings them.
//!
//! Every instance sweeps: it claims what is due with one atomic update (so each timer rings
//! once, whichever instance claims it) and then delivers it to every open socket of its user.
//! On PostgreSQL the claim is announced with NOTIFY, which every instance (the claimer included)
//! hears and delivers to its own sockets, so a user's tabs on other instances ring too.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{SkillContext, SkillOutcome};
use crate::assistant::clock::{self, ClockTime, DayHint};
use crate::assistant::duration::speak_duration;
use crate::assistant::timers::{TimerIntent, TimerKind, TimerTarget, When, duration_refusal};
use crate::assistant::{Action, TimerCard};
use crate::hub::{Hub, HubEvent};
use crate::store::{DueTimer, MAX_PENDING_TIMERS, SetTimer, Store, Timer, UserId};

/// The longest the sweep sleeps: a timer set on another instance rings within this (plus
/// delivery) of its due time.
const SWEEP_EVERY: Duration = Duration::from_millis(500);
/// The longest it sleeps on SQLite, where no other instance can add a timer.
const LOCAL_SWEEP_EVERY: Duration = Duration::from_secs(30);
/// The NOTIFY channel for claimed timers (PostgreSQL).
pub const DUE_CHANNEL: &str = "ballsy_timer_due";

fn kind_name(kind: TimerKind) -> &'static str {
    match kind {
        TimerKind::Timer => "timer",
        TimerKind::Alarm => "alarm",
        TimerKind::Reminder => "reminder",
    }
}

/// "the pasta timer", "your alarm", "your reminder to call mom".
fn describe(timer: &Timer) -> String {
    match (timer.kind.as_str(), timer.label.is_empty()) {
        ("reminder", false) => format!("your reminder to {}", timer.label),
        (kind, false) => format!("the {} {kind}", timer.label),
        (kind, true) => format!("your {kind}"),
    }
}

fn time_left(timer: &Timer, now: DateTime<Utc>) -> String {
    let left = (timer.due_at - now).to_std().unwrap_or_default();
    // Whole seconds, rounded up, so "1 second" is said until it rings.
    let left = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0));
    speak_duration(left)
}

pub async fn run(
    store: &Store,
    sweeper: &TimerSweeper,
    intent: TimerIntent,
    ctx: &SkillContext<'_>,
) -> SkillOutcome {
    let outcome = match intent {
        TimerIntent::Set { kind, when, label } => set(store, sweeper, kind, when, label, ctx).await,
        TimerIntent::AskDuration { kind, .. } => Ok(SkillOutcome::said(
            "timer",
            match kind {
                TimerKind::Timer => "For how long?",
                TimerKind::Alarm => "For what time?",
                TimerKind::Reminder => "When should I remind you?",
            },
        )),
        TimerIntent::Cancel { kind, target } => cancel(store, kind, target, ctx).await,
        TimerIntent::List { kind } => list(store, kind, ctx).await,
        TimerIntent::TimeLeft { label } => left(store, label, ctx).await,
    };
    outcome.unwrap_or_else(|error| {
        tracing::warn!(%error, "a timer command failed on the database");
        SkillOutcome::refused(
            "timer",
            "I can't reach my timers right now. Please try again in a moment.",
        )
    })
}

async fn set(
    store: &Store,
    sweeper: &TimerSweeper,
    kind: TimerKind,
    when: When,
    label: Option<String>,
    ctx: &SkillContext<'_>,
) -> Result<SkillOutcome, crate::store::StoreError> {
    let due_at = when.resolve(ctx.now, ctx.zone());
    let duration = (due_at - ctx.now).to_std().unwrap_or_default();
    if let Some(refusal) = duration_refusal(kind, duration) {
        return Ok(SkillOutcome::refused("timer", refusal));
    }
    let label = label.unwrap_or_default();
    let duration_s = match when {
        When::In(asked) => asked.as_secs() as i64,
        When::At { .. } => duration.as_secs() as i64,
    };
    let timer = match store
        .add_timer(ctx.user, kind_name(kind), &label, due_at, duration_s)
        .await?
    {
        SetTimer::Set(timer) => timer,
        SetTimer::TooMany => {
            return Ok(SkillOutcome::refused(
                "timer",
                format!(
                    "You already have {MAX_PENDING_TIMERS} timers, alarms and reminders going. Cancel one first."
                ),
            ));
        }
    };
    sweeper.wake();
    let spoken = match (kind, &when) {
        (TimerKind::Timer, _) if label.is_empty() => {
            format!(
                "Timer set for {}.",
                speak_duration(Duration::from_secs(duration_s as u64))
            )
        }
        (TimerKind::Timer, _) => format!(
            "{} timer set for {}.",
            capitalise(&label),
            speak_duration(Duration::from_secs(duration_s as u64))
        ),
        (TimerKind::Alarm, _) => format!(
            "Alarm set for {}.",
            clock::speak_time(due_at, ctx.now, ctx.zone())
        ),
        (TimerKind::Reminder, When::In(asked)) => format!(
            "OK, I'll remind you{} in {}.",
            task(&label),
            speak_duration(*asked)
        ),
        (TimerKind::Reminder, When::At { .. }) => format!(
            "OK, I'll remind you{} at {}.",
            task(&label),
            clock::speak_time(due_at, ctx.now, ctx.zone())
        ),
    };
    Ok(
        SkillOutcome::said("timer", spoken).with_action(Action::Timer(TimerCard {
            id: timer.id,
            kind: timer.kind,
            label: timer.label,
            due_at: timer.due_at,
            duration_s: timer.duration_s,
        })),
    )
}

fn task(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!(" to {label}")
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The user's pending timers of `kind` (all kinds when None).
async fn pending(
    store: &Store,
    user: &UserId,
    kind: Option<TimerKind>,
) -> Result<Vec<Timer>, crate::store::StoreError> {
    let timers = store.pending_timers(user).await?;
    Ok(timers
        .into_iter()
        .filter(|t| kind.is_none_or(|k| t.kind == kind_name(k)))
        .collect())
}

fn matches_label(timer: &Timer, label: &str) -> bool {
    let label = label.to_lowercase();
    timer.label.to_lowercase().contains(&label)
        || label.contains(&timer.label.to_lowercase()) && !timer.label.is_empty()
}

fn matches_time(timer: &Timer, time: ClockTime, am_pm_given: bool, ctx: &SkillContext<'_>) -> bool {
    let local = timer.due_at.with_timezone(&ctx.zone());
    let hour = chrono::Timelike::hour(&local) as u8;
    let minute = chrono::Timelike::minute(&local) as u8;
    minute == time.minute && (hour == time.hour || (!am_pm_given && hour % 12 == time.hour % 12))
}

fn noun(kind: Option<TimerKind>, plural: bool) -> &'static str {
    match (kind, plural) {
        (Some(TimerKind::Timer), false) => "timer",
        (Some(TimerKind::Timer), true) => "timers",
        (Some(TimerKind::Alarm), false) => "alarm",
        (Some(TimerKind::Alarm), true) => "alarms",
        (Some(TimerKind::Reminder), false) => "reminder",
        (Some(TimerKind::Reminder), true) => "reminders",
        (None, false) => "timer or alarm",
        (None, true) => "timers or alarms",
    }
}

async fn cancel(
    store: &Store,
    kind: Option<TimerKind>,
    target: TimerTarget,
    ctx: &SkillContext<'_>,
) -> Result<SkillOutcome, crate::store::StoreError> {
    let pending = pending(store, ctx.user, kind).await?;
    if pending.is_empty() {
        return Ok(SkillOutcome::said(
            "timer",
            format!("You don't have any {} going.", noun(kind, true)),
        ));
    }
    let chosen: Vec<&Timer> = match &target {
        TimerTarget::All => pending.iter().collect(),
        TimerTarget::Only => pending.iter().collect(),
        TimerTarget::Labelled(label) => {
            pending.iter().filter(|t| matches_label(t, label)).collect()
        }
        TimerTarget::Duration(duration) => pending
            .iter()
            .filter(|t| t.duration_s == duration.as_secs() as i64)
            .collect(),
        TimerTarget::Time { time, am_pm_given } => pending
            .iter()
            .filter(|t| matches_time(t, *time, *am_pm_given, ctx))
            .collect(),
    };
    if chosen.is_empty() {
        return Ok(SkillOutcome::said(
            "timer",
            format!(
                "I couldn't find that {}. {}",
                noun(kind, false),
                summary(&pending, ctx)
            ),
        ));
    }
    if chosen.len() > 1 && target != TimerTarget::All {
        return Ok(SkillOutcome::said(
            "timer",
            format!("{} Which one should I cancel?", summary(&pending, ctx)),
        ));
    }
    let ids: Vec<i64> = chosen.iter().map(|t| t.id).collect();
    let cancelled = store.cancel_timers(ctx.user, &ids).await?;
    let spoken = if cancelled.len() == 1 {
        let timer = chosen[0];
        capitalise(&format!("{} is cancelled.", describe(timer)))
    } else {
        format!("Cancelled all {} {}.", cancelled.len(), noun(kind, true))
    };
    Ok(SkillOutcome::said("timer", spoken).with_action(Action::TimerCancelled { ids: cancelled }))
}

/// "You have 2 timers: pasta, 4 minutes left; and an alarm at 7 AM."
fn summary(timers: &[Timer], ctx: &SkillContext<'_>) -> String {
    let items: Vec<String> = timers
        .iter()
        .map(|t| match t.kind.as_str() {
            "timer" if t.label.is_empty() => format!("a timer with {} left", time_left(t, ctx.now)),
            "timer" => format!("the {} timer with {} left", t.label, time_left(t, ctx.now)),
            "alarm" => format!(
                "an alarm at {}",
                clock::speak_time(t.due_at, ctx.now, ctx.zone())
            ),
            _ if t.label.is_empty() => format!(
                "a reminder at {}",
                clock::speak_time(t.due_at, ctx.now, ctx.zone())
            ),
            _ => format!(
                "a reminder to {} at {}",
                t.label,
                clock::speak_time(t.due_at, ctx.now, ctx.zone())
            ),
        })
        .collect();
    let list = match items.as_slice() {
        [] => return "You don't have any timers or alarms going.".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    };
    format!("You have {list}.")
}

async fn list(
    store: &Store,
    kind: Option<TimerKind>,
    ctx: &SkillContext<'_>,
) -> Result<SkillOutcome, crate::store::StoreError> {
    let pending = pending(store, ctx.user, kind).await?;
    if pending.is_empty() {
        return Ok(SkillOutcome::said(
            "timer",
            format!("You don't have any {} going.", noun(kind, true)),
        ));
    }
    let mut outcome = SkillOutcome::said("timer", summary(&pending, ctx));
    outcome.result["timers"] = json!(pending);
    Ok(outcome)
}

async fn left(
    store: &Store,
    label: Option<String>,
    ctx: &SkillContext<'_>,
) -> Result<SkillOutcome, crate::store::StoreError> {
    let pending = pending(store, ctx.user, None).await?;
    let candidates: Vec<&Timer> = match &label {
        Some(label) => pending.iter().filter(|t| matches_label(t, label)).collect(),
        // "How much time is left" means the timer that rings next.
        None => pending.iter().take(1).collect(),
    };
    Ok(match candidates.first() {
        Some(timer) => SkillOutcome::said(
            "timer",
            format!(
                "{} left on {}.",
                capitalise(&time_left(timer, ctx.now)),
                describe(timer)
            ),
        ),
        None if pending.is_empty() => {
            SkillOutcome::said("timer", "You don't have any timers going.")
        }
        None => SkillOutcome::said(
            "timer",
            format!("I couldn't find that one. {}", summary(&pending, ctx)),
        ),
    })
}

/// The timer tools for Gemini: flat arguments a model fills in reliably.
pub fn declarations() -> Vec<Value> {
    vec![
        json!({
            "name": "set_timer",
            "description": "Set a countdown timer, an alarm at a time of day, or a reminder (a task said back at a time). Give duration_seconds for \"in …\" or time (24-hour HH:MM, the user's local time) for \"at …\".",
            "parameters": {"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["timer", "alarm", "reminder"]},
                "duration_seconds": {"type": "integer", "description": "from now; 1 to 604800"},
                "time": {"type": "string", "description": "HH:MM, 24-hour, local"},
                "day": {"type": "string", "enum": ["today", "tomorrow", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]},
                "label": {"type": "string", "description": "a name (\"pasta\") or, for a reminder, the task (\"call mom\")"}
            }, "required": ["kind"]}
        }),
        json!({
            "name": "cancel_timers",
            "description": "Cancel the user's timers, alarms or reminders: one by label, or all of them.",
            "parameters": {"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["timer", "alarm", "reminder"]},
                "label": {"type": "string"},
                "all": {"type": "boolean"}
            }}
        }),
        json!({
            "name": "list_timers",
            "description": "List the user's pending timers, alarms and reminders with the time left.",
            "parameters": {"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["timer", "alarm", "reminder"]}
            }}
        }),
        json!({
            "name": "timer_time_left",
            "description": "How much time is left on a timer (the next one, or the one with this label).",
            "parameters": {"type": "object", "properties": {
                "label": {"type": "string"}
            }}
        }),
    ]
}

fn parse_kind(value: Option<&Value>) -> Result<Option<TimerKind>, String> {
    match value.and_then(Value::as_str) {
        None => Ok(None),
        Some("timer") => Ok(Some(TimerKind::Timer)),
        Some("alarm") => Ok(Some(TimerKind::Alarm)),
        Some("reminder") => Ok(Some(TimerKind::Reminder)),
        Some(other) => Err(format!(
            "kind must be timer, alarm or reminder, not {other}."
        )),
    }
}

fn parse_day(value: Option<&Value>) -> Result<DayHint, String> {
    use chrono::Weekday::*;
    Ok(match value.and_then(Value::as_str) {
        None => DayHint::Unspecified,
        Some("today") => DayHint::Today,
        Some("tomorrow") => DayHint::Tomorrow,
        Some(day) => DayHint::Weekday(match day {
            "monday" => Mon,
            "tuesday" => Tue,
            "wednesday" => Wed,
            "thursday" => Thu,
            "friday" => Fri,
            "saturday" => Sat,
            "sunday" => Sun,
            other => return Err(format!("day {other} is not a day name.")),
        }),
    })
}

/// The intent a function call asks for; an error sentence the model is told when the
/// arguments make no sense.
pub fn intent_from_call(name: &str, args: &Value) -> Result<TimerIntent, String> {
    let label = args
        .get("label")
        .and_then(Value::as_str)
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty());
    let kind = parse_kind(args.get("kind"))?;
    match name {
        "set_timer" => {
            let kind = kind.unwrap_or(TimerKind::Timer);
            let when = if let Some(seconds) = args.get("duration_seconds").and_then(Value::as_f64) {
                if !(0.0..=1e9).contains(&seconds) {
                    return Err("duration_seconds must be between 1 and 604800.".into());
                }
                When::In(Duration::from_secs(seconds.round() as u64))
            } else if let Some(time) = args.get("time").and_then(Value::as_str) {
                let (hour, minute) = time
                    .split_once(':')
                    .and_then(|(h, m)| {
                        Some((h.trim().parse::<u8>().ok()?, m.trim().parse::<u8>().ok()?))
                    })
                    .filter(|(h, m)| *h < 24 && *m < 60)
                    .ok_or_else(|| format!("time must be HH:MM on a 24-hour clock, not {time}."))?;
                When::At {
                    time: ClockTime { hour, minute },
                    day: parse_day(args.get("day"))?,
                    am_pm_given: true,
                }
            } else {
                return Ok(TimerIntent::AskDuration { kind, label });
            };
            Ok(TimerIntent::Set { kind, when, label })
        }
        "cancel_timers" => {
            let all = args.get("all").and_then(Value::as_bool).unwrap_or(false);
            let target = match (all, label) {
                (true, _) => TimerTarget::All,
                (false, Some(label)) => TimerTarget::Labelled(label),
                (false, None) => TimerTarget::Only,
            };
            Ok(TimerIntent::Cancel { kind, target })
        }
        "list_timers" => Ok(TimerIntent::List { kind }),
        _ => Ok(TimerIntent::TimeLeft { label }),
    }
}

/// Rings due timers: claims them and delivers them to the user's open sockets.
#[derive(Clone)]
pub struct TimerSweeper {
    inner: Arc<SweeperInner>,
}

struct SweeperInner {
    store: Store,
    hub: Hub,
    wake: Notify,
}

impl TimerSweeper {
    pub fn new(store: Store, hub: Hub) -> Self {
        Self {
            inner: Arc::new(SweeperInner {
                store,
                hub,
                wake: Notify::new(),
            }),
        }
    }

    /// A timer was set on this instance: look again now rather than at the next tick.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Rings a claimed timer on this instance's sockets of its user; notes the delivery.
    pub async fn deliver(&self, due: DueTimer) {
        let user = UserId::from_raw(due.user_id.clone());
        let id = due.id;
        let delivered = self.inner.hub.publish(&user, None, HubEvent::TimerDue(due));
        if delivered > 0
            && let Err(error) = self.inner.store.mark_timer_delivered(id, Utc::now()).await
        {
            tracing::warn!(%error, "could not note a timer's delivery");
        }
    }

    /// Runs until `shutdown`: sleeps until the next timer is due, claims what is due and rings
    /// it. The claim is a write, so it runs only when the next timer's time has come: an idle
    /// sweep is one indexed read per period, however many timers are pending. On PostgreSQL
    /// the period is at most `SWEEP_EVERY`, since another instance may add a sooner timer; on
    /// SQLite every timer is set through this process, whose `wake` ends the sleep, so it
    /// only looks again every `LOCAL_SWEEP_EVERY` (in case the wall clock moved).
    pub async fn run(self, shutdown: CancellationToken) {
        let store = self.inner.store.clone();
        let announce = store.is_postgres();
        let longest = if announce {
            SWEEP_EVERY
        } else {
            LOCAL_SWEEP_EVERY
        };
        loop {
            let now = Utc::now();
            let wait = match store.next_timer_due().await {
                Ok(Some(next)) if next <= now => Duration::ZERO,
                Ok(Some(next)) => (next - now).to_std().unwrap_or_default().min(longest),
                Ok(None) => longest,
                Err(error) => {
                    tracing::debug!(%error, "timer sweep: the database is unavailable");
                    SWEEP_EVERY
                }
            };
            if !wait.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.inner.wake.notified() => {}
                }
                // Look again: the timer may be due now, or another may have been set.
                continue;
            }
            let claimed = match store.claim_due_timers(Utc::now()).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "timer sweep: could not claim due timers");
                    tokio::time::sleep(SWEEP_EVERY).await;
                    continue;
                }
            };
            for due in claimed {
                tracing::info!(timer_id = due.id, kind = %due.kind, "a timer is due");
                if announce {
                    // Every instance (this one too) hears it and rings its own sockets.
                    let payload =
                        serde_json::to_string(&DueTimerPayload::from(&due)).unwrap_or_default();
                    if let Err(error) = store.notify(DUE_CHANNEL, &payload).await {
                        tracing::warn!(%error, "could not announce a due timer; ringing here only");
                        self.deliver(due).await;
                    }
                } else {
                    self.deliver(due).await;
                }
            }
        }
    }

    /// PostgreSQL only: delivers timers claimed by any instance, as announced on
    /// `DUE_CHANNEL`.
    pub async fn listen(self, shutdown: CancellationToken) {
        let store = self.inner.store.clone();
        loop {
            let mut listener = match store.listen(DUE_CHANNEL).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::debug!(%error, "timer listener: the database is unavailable");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            };
            loop {
                let notification = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    notification = listener.recv() => notification,
                };
                match notification {
                    Ok(payload) => match serde_json::from_str::<DueTimerPayload>(&payload) {
                        Ok(due) => self.deliver(due.into()).await,
                        Err(error) => tracing::warn!(%error, "an unreadable due-timer notice"),
                    },
                    Err(error) => {
                        tracing::warn!(%error, "timer listener lost its connection; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

/// The NOTIFY payload of a due timer.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct DueTimerPayload {
    pub id: i64,
    pub user_id: String,
    pub kind: String,
    pub label: String,
    pub due_at: DateTime<Utc>,
}

impl From<DueTimerPayload> for DueTimer {
    fn from(p: DueTimerPayload) -> Self {
        DueTimer {
            id: p.id,
            user_id: p.user_id,
            kind: p.kind,
            label: p.label,
            due_at: p.due_at,
        }
    }
}

impl From<&DueTimer> for DueTimerPayload {
    fn from(d: &DueTimer) -> Self {
        DueTimerPayload {
            id: d.id,
            user_id: d.user_id.clone(),
            kind: d.kind.clone(),
            label: d.label.chars().take(200).collect(),
            due_at: d.due_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_calls_become_the_same_intents_as_rules() {
        assert_eq!(
            intent_from_call(
                "set_timer",
                &json!({"kind": "timer", "duration_seconds": 2400, "label": "Laundry"})
            ),
            Ok(TimerIntent::Set {
                kind: TimerKind::Timer,
                when: When::In(Duration::from_secs(2400)),
                label: Some("laundry".into())
            })
        );
        assert!(matches!(
            intent_from_call(
                "set_timer",
                &json!({"kind": "alarm", "time": "06:30", "day": "tomorrow"})
            ),
            Ok(TimerIntent::Set {
                kind: TimerKind::Alarm,
                when: When::At {
                    day: DayHint::Tomorrow,
                    ..
                },
                ..
            })
        ));
        assert!(intent_from_call("set_timer", &json!({"kind": "alarm", "time": "25:00"})).is_err());
        assert!(matches!(
            intent_from_call("set_timer", &json!({"kind": "timer"})),
            Ok(TimerIntent::AskDuration { .. })
        ));
        assert_eq!(
            intent_from_call("cancel_timers", &json!({"all": true})),
            Ok(TimerIntent::Cancel {
                kind: None,
                target: TimerTarget::All
            })
        );
    }
}
