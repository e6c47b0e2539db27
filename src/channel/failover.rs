//! Failover between a saved channel's alternates. The channel keeps its ring,
//! segment list and players; only the engine session under it changes. When
//! the id playing fails to start, stops delivering (nothing for
//! `failover_after`, reconnects included) or the engine reports it dead (no
//! peers and no progress for that long), its session is stopped, and only
//! then the next alternate is started: one engine session at a time. TS
//! players resume at the next keyframe (the ring's resync), HLS players get a
//! discontinuity (the segmenter's restart). After `failover_rounds` rounds in
//! which no alternate played, the channel gives up and its players' streams end.
//!
//! A channel of one id (a per-id URL) runs its upstream exactly as before.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::core::{Channel, ChannelState};
use super::feed::Cutter;
use super::{ChannelError, ChannelSettings, HubInner};
use crate::content_id::ContentId;
use crate::engine::{EngineClient, EngineError};

impl Channel {
    /// Runs the channel's upstream, failing over between its alternates;
    /// returns why it gave up.
    pub(super) async fn run_alternates(
        &self,
        hub: &HubInner,
        engine: &EngineClient,
        settings: &ChannelSettings,
    ) -> ChannelError {
        let mut cutter = Cutter::new(settings);
        if self.alternates.len() <= 1 {
            return self.run_upstream(engine, settings, &mut cutter, None).await;
        }
        // A stalled connection counts as lost after the failover time too.
        let settings = &ChannelSettings {
            upstream_idle_timeout: settings.upstream_idle_timeout.min(settings.failover_after),
            ..settings.clone()
        };
        let count = self.alternates.len();
        let mut index = 0;
        let mut rounds_without_play = 0;
        let mut played_this_round = false;
        loop {
            let id = self.alternates[index].clone();
            let error = if hub.claim(self, &id) {
                tracing::info!(channel = %self.key, %id, "playing alternate");
                let (error, played) = self.play_one(hub, engine, settings, &mut cutter, &id).await;
                played_this_round |= played;
                error
            } else {
                EngineError::Engine(format!("{id} is playing on its own channel")).into()
            };
            // One engine session at a time: the old one is gone before the next starts.
            self.session.stop_current(engine, &id).await;
            index = (index + 1) % count;
            let mut pause = Duration::ZERO;
            if index == 0 {
                rounds_without_play = if played_this_round {
                    0
                } else {
                    rounds_without_play + 1
                };
                played_this_round = false;
                if rounds_without_play >= settings.failover_rounds {
                    return EngineError::Engine(format!(
                        "none of the {count} alternates played in {rounds_without_play} rounds; last: {error}"
                    ))
                    .into();
                }
                pause = super::feed::backoff(rounds_without_play);
            }
            let next = &self.alternates[index];
            tracing::warn!(channel = %self.key, from = %id, to = %next, %error, ?pause, "switching alternate");
            self.problems
                .record(&id, format!("switched to {next}: {error}"));
            self.switches.fetch_add(1, Ordering::Relaxed);
            *self.last_switch.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("{id} -> {next}: {error}"));
            hub.metrics.failovers.inc();
            if !matches!(
                *self.state.borrow(),
                ChannelState::Starting | ChannelState::StartingEngine
            ) {
                self.state.send_replace(ChannelState::Reconnecting);
            }
            cutter.restart(self);
            tokio::time::sleep(pause).await;
        }
    }

    /// Plays one alternate until it fails; returns why and whether it went live.
    async fn play_one(
        &self,
        hub: &HubInner,
        engine: &EngineClient,
        settings: &ChannelSettings,
        cutter: &mut Cutter,
        id: &ContentId,
    ) -> (ChannelError, bool) {
        let run = self.run_upstream(engine, settings, cutter, Some(settings.failover_after));
        tokio::pin!(run);
        let mut state = self.state.subscribe();
        state.mark_unchanged();
        let mut live = false;
        loop {
            tokio::select! {
                error = &mut run => return (error, live),
                changed = state.changed(), if !live => {
                    if changed.is_err() {
                        return (ChannelError::Stopped, live);
                    }
                    if matches!(*state.borrow_and_update(), ChannelState::Live) {
                        live = true;
                        hub.remember(self, id);
                    }
                }
                () = self.engine_reports_dead(settings) => {
                    let error = EngineError::Engine(format!(
                        "the engine reports no peers and no progress for {:?}",
                        settings.failover_after
                    ));
                    return (error.into(), live);
                }
            }
        }
    }

    /// Completes once the engine's stats of the current session have shown no
    /// peers and no downloaded bytes added for `failover_after`.
    async fn engine_reports_dead(&self, settings: &ChannelSettings) {
        let mut last_progress: Option<(u64, Instant)> = None;
        loop {
            tokio::time::sleep(settings.stat_interval).await;
            let Some(stat) = self.session.stat() else {
                last_progress = None;
                continue;
            };
            if stat.peers != Some(0) {
                last_progress = None;
                continue;
            }
            let downloaded = stat.downloaded.unwrap_or(0);
            match last_progress {
                Some((seen, since)) if seen == downloaded => {
                    if since.elapsed() >= settings.failover_after {
                        return;
                    }
                }
                _ => last_progress = Some((downloaded, Instant::now())),
            }
        }
    }
}
