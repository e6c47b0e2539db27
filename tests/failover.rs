//! Saved channels with alternates on the simulated engine: the stable URL
//! plays whichever alternate works; a failed start, an id that dies while
//! playing, or one the engine reports dead makes the channel switch to the
//! next without dropping its players; when none works the stream ends after
//! the bound; and at no time are two engine sessions open for one channel.
//! The gaps players see are printed (run with `--nocapture`).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use acebridge::UpstreamMode;
use common::{http, kit, Proxy, ID_A, ID_B, ID_C};
use kit::engine::{Fault, SimEngine};
use kit::wait::wait_until;

const SECOND: Duration = Duration::from_secs(1);
/// What the simulated engine takes to start an alternate: its prebuffering.
const NORMAL_START: Duration = Duration::from_secs(1);
/// Test timings: an alternate that delivers nothing for this long is left.
const FAILOVER_AFTER: Duration = Duration::from_secs(2);
/// Headroom for scheduling on a busy 2-core machine (debug build).
const SLACK: Duration = Duration::from_millis(1500);

/// A settings file holding one saved channel, `ID_A` with `alternates`.
fn settings_with(alternates: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("settings.toml");
    let list = alternates
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!("[[channels]]\nid = \"{ID_A}\"\nname = \"Sports\"\nalternates = [{list}]\n");
    std::fs::write(&path, text).expect("write settings");
    (dir, path)
}

async fn proxy_with(
    engine: &SimEngine,
    settings: &std::path::Path,
    start_timeout: Duration,
) -> Proxy {
    proxy_upstream(engine, settings, start_timeout, UpstreamMode::Ts).await
}

async fn proxy_upstream(
    engine: &SimEngine,
    settings: &std::path::Path,
    start_timeout: Duration,
    upstream: UpstreamMode,
) -> Proxy {
    let settings = settings.to_owned();
    Proxy::start_with(&engine.url(), move |config| {
        config.channels.upstream = upstream;
        config.settings_path = Some(settings);
        config.channels.start_timeout = start_timeout;
        config.channels.failover_after = FAILOVER_AFTER;
        config.channels.failover_rounds = 2;
        config.channels.stat_interval = Duration::from_millis(250);
    })
    .await
}

/// A TS player that notes when each chunk arrived.
struct TimedPlayer {
    response: reqwest::Response,
    received: Vec<u8>,
    arrivals: Vec<(Instant, usize)>,
}

impl TimedPlayer {
    async fn open(url: &str) -> Self {
        let response = http().get(url).send().await.expect("open stream");
        assert_eq!(response.status(), 200, "stream status for {url}");
        Self {
            response,
            received: Vec::new(),
            arrivals: Vec::new(),
        }
    }

    /// Reads until `total` bytes arrived; false if the stream ended (cleanly) first.
    async fn read_until(&mut self, total: usize, deadline: Duration) -> bool {
        let read = async {
            while self.received.len() < total {
                match self.response.chunk().await {
                    Ok(Some(bytes)) => {
                        self.received.extend_from_slice(&bytes);
                        self.arrivals.push((Instant::now(), self.received.len()));
                    }
                    Ok(None) => return false,
                    Err(error) => panic!("the stream broke instead of ending: {error}"),
                }
            }
            true
        };
        tokio::time::timeout(deadline, read)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {total} bytes within {deadline:?}",
                    self.received.len()
                )
            })
    }

    /// The longest wait between two chunks that arrived after `since`.
    fn longest_gap_after(&self, since: Instant) -> Duration {
        let mut last = since;
        let mut longest = Duration::ZERO;
        for (at, _) in self.arrivals.iter().filter(|(at, _)| *at >= since) {
            longest = longest.max(at.duration_since(last));
            last = *at;
        }
        longest
    }
}

fn channel_url(proxy: &Proxy, ext: &str) -> String {
    proxy.url(&format!("/channel/{ID_A}.{ext}"))
}

/// The entry of `/api/streams` for the saved channel.
async fn saved_stream(proxy: &Proxy) -> Option<serde_json::Value> {
    proxy
        .streams()
        .await
        .into_iter()
        .find(|stream| stream["channel"] == ID_A)
}

async fn playing_id(proxy: &Proxy) -> Option<String> {
    saved_stream(proxy)
        .await
        .and_then(|stream| stream["id"].as_str().map(str::to_owned))
}

fn assert_one_session_at_a_time(engine: &SimEngine) {
    assert_eq!(
        engine.peak_open_sessions_total(),
        1,
        "engine sessions open at once: {:?}",
        engine.all_sessions()
    );
}

/// `bytes` from the first video keyframe at or after `from` up to (not
/// including) the last one: whole GOPs only, so neither a stream's torn
/// start nor a capture's cut end counts as a decode error.
fn whole_gops(bytes: &[u8], from: usize) -> &[u8] {
    let video = kit::ts::program_info(bytes)
        .and_then(|program| program.video_pid())
        .expect("a video stream");
    let keyframes: Vec<usize> = bytes
        .chunks_exact(188)
        .enumerate()
        .filter(|(_, packet)| kit::ts::is_keyframe_start(packet, video))
        .map(|(index, _)| index * 188)
        .collect();
    let start = keyframes
        .iter()
        .copied()
        .find(|at| *at >= from)
        .expect("a keyframe");
    let end = keyframes.last().copied().expect("a keyframe");
    assert!(end > start, "at least one whole GOP after {from}");
    &bytes[start..end]
}

/// Decodes captured TS with ffmpeg; every error fails the test.
async fn assert_decodes(bytes: &[u8], what: &str) {
    if !kit::ffmpeg::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("captured.ts");
    std::fs::write(&path, bytes).expect("write capture");
    kit::ffmpeg::decode(path.to_str().expect("utf-8 path"), 600)
        .await
        .unwrap_or_else(|error| panic!("{what}: {error}"));
}

/// Time to the first bytes of a per-id channel that starts normally: the
/// yardstick for a start that had to fail over first.
async fn normal_start(proxy: &Proxy, engine: &SimEngine) -> Duration {
    engine.set_fault(ID_C, Fault::HeaderDelay(NORMAL_START));
    let asked = Instant::now();
    let mut player = TimedPlayer::open(&proxy.stream_url(ID_C)).await;
    assert!(player.read_until(1, 10 * SECOND).await);
    let took = asked.elapsed();
    drop(player);
    wait_until(10 * SECOND, "the yardstick channel stopped", || async {
        engine.open_sessions(ID_C) == 0
    })
    .await;
    took
}

#[tokio::test]
async fn a_first_alternate_that_fails_to_start_plays_the_second() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = Proxy::start_with(&engine.url(), {
        let settings = settings.clone();
        move |config| {
            config.settings_path = Some(settings);
            config.channels.linger = Duration::from_millis(200);
            config.channels.failover_after = FAILOVER_AFTER;
        }
    })
    .await;
    let normal = normal_start(&proxy, &engine).await;
    engine.set_fault(ID_A, Fault::EngineError("failed to load content".into()));
    engine.set_fault(ID_B, Fault::HeaderDelay(NORMAL_START));
    let asked = Instant::now();
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(1, 20 * SECOND).await);
    let first = asked.elapsed();
    println!("engine error at start: first bytes after {first:?} (a normal start: {normal:?})");
    assert!(
        first <= normal + SLACK,
        "{first:?} for a failed start + {normal:?}"
    );
    assert!(player.read_until(200_000, 20 * SECOND).await);
    assert_eq!(kit::ts::count_sync_errors(&player.received), 0);
    assert!(kit::ts::first_video_packet_is_keyframe(&player.received));
    assert_decodes(
        whole_gops(&player.received, 0),
        "the channel from its second alternate",
    )
    .await;
    assert_eq!(playing_id(&proxy).await.as_deref(), Some(ID_B));
    let stream = saved_stream(&proxy).await.expect("the channel");
    assert_eq!(stream["switches"], 1);
    assert!(
        stream["last_switch"]
            .as_str()
            .is_some_and(|last| last.starts_with(&format!("{ID_A} -> {ID_B}: "))
                && last.contains("failed to load content")),
        "{stream}"
    );
    let problems = proxy.json("/api/streams").await["problems"].clone();
    assert!(
        problems
            .to_string()
            .contains(&format!("switched to {ID_B}")),
        "the switch and its reason are recorded: {problems}"
    );
    assert_eq!(engine.sessions_started(ID_A), 0, "the engine refused A");
    assert_one_session_at_a_time(&engine);
    drop(player);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

#[tokio::test]
async fn a_first_alternate_whose_start_times_out_plays_the_second() {
    // The engine accepts A but never sends it: prebuffering forever.
    start_times_out(Fault::HeaderDelay(60 * SECOND), "prebuffering", 2 * SECOND).await;
}

#[tokio::test]
async fn a_first_alternate_whose_start_call_hangs_plays_the_second() {
    start_times_out(Fault::Hang, "start call hangs", 2 * SECOND).await;
}

/// Regression: a hung start held an alternate for the start timeout plus
/// the header timeout (60 + 60 s by default), not `--failover-after`.
#[tokio::test]
async fn a_hung_start_holds_an_alternate_no_longer_than_the_failover_time() {
    start_times_out(Fault::Hang, "start call hangs", 60 * SECOND).await;
    start_times_out(
        Fault::HeaderDelay(120 * SECOND),
        "prebuffering",
        60 * SECOND,
    )
    .await;
}

/// A starts with `fault`; B must play within the failover time (or the
/// start timeout, if shorter) plus one normal start.
async fn start_times_out(fault: Fault, what: &str, start_timeout: Duration) {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_with(&engine, &settings, start_timeout).await;
    let start_timeout = start_timeout.min(FAILOVER_AFTER);
    let normal = normal_start(&proxy, &engine).await;
    engine.set_fault(ID_A, fault);
    engine.set_fault(ID_B, Fault::HeaderDelay(NORMAL_START));
    let asked = Instant::now();
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(1, 30 * SECOND).await);
    let first = asked.elapsed();
    println!("start timeout ({start_timeout:?}, {what}): first bytes after {first:?} (a normal start: {normal:?})");
    assert!(first <= start_timeout + normal + SLACK, "took {first:?}");
    assert!(player.read_until(200_000, 20 * SECOND).await);
    assert_decodes(
        whole_gops(&player.received, 0),
        "the channel after a start timeout",
    )
    .await;
    assert_eq!(playing_id(&proxy).await.as_deref(), Some(ID_B));
    assert_eq!(engine.open_sessions(ID_A), 0, "A's session was stopped");
    assert_one_session_at_a_time(&engine);
    drop(player);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

#[tokio::test]
async fn an_alternate_that_dies_while_playing_switches_and_players_stay_connected() {
    alternate_dies_while_playing(UpstreamMode::Ts, Duration::ZERO).await;
}

#[tokio::test]
async fn an_alternate_that_dies_while_playing_switches_with_an_hls_upstream() {
    // The engine's segments arrive whole: one more segment (2 s) of delay.
    alternate_dies_while_playing(UpstreamMode::Hls, 2 * SECOND).await;
}

async fn alternate_dies_while_playing(upstream: UpstreamMode, arrival: Duration) {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_upstream(&engine, &settings, 10 * SECOND, upstream).await;
    engine.set_fault(ID_B, Fault::HeaderDelay(NORMAL_START));
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(100_000, 20 * SECOND).await);
    let hls = HlsPlayer::new(channel_url(&proxy, "m3u8"));
    hls.poll().await;
    assert_eq!(playing_id(&proxy).await.as_deref(), Some(ID_A));
    // A's swarm ends: its stream stops and every reconnect gets nothing.
    engine.set_fault(ID_A, Fault::Dead);
    let died = Instant::now();
    // The HLS player keeps polling as players do; when does it see the new id?
    let hls_back = tokio::spawn(async move {
        loop {
            if hls.poll().await.contains("#EXT-X-DISCONTINUITY") {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let before = player.received.len();
    assert!(
        player.read_until(before + 300_000, 30 * SECOND).await,
        "the TS player kept its connection"
    );
    let gap = player.longest_gap_after(died);
    println!(
        "alternate died while playing ({upstream:?} upstream): TS player gap {gap:?} \
         (detection {FAILOVER_AFTER:?} + start {NORMAL_START:?})"
    );
    assert!(
        gap <= FAILOVER_AFTER + NORMAL_START + arrival + SLACK,
        "gap {gap:?}"
    );
    assert_eq!(playing_id(&proxy).await.as_deref(), Some(ID_B));
    let hls_back = tokio::time::timeout(20 * SECOND, hls_back)
        .await
        .expect("a discontinuity in the HLS playlist within 20 s")
        .expect("HLS watcher");
    println!(
        "alternate died while playing ({upstream:?} upstream): HLS playlist lists a segment \
         after #EXT-X-DISCONTINUITY {:?} later",
        hls_back.duration_since(died)
    );
    assert_eq!(kit::ts::count_sync_errors(&player.received), 0);
    // What the player got from the first frame of the new alternate on.
    let resumed = player
        .arrivals
        .iter()
        .zip(player.arrivals.iter().skip(1))
        .filter(|(before, _)| before.0 >= died)
        .max_by_key(|(before, after)| after.0.duration_since(before.0))
        .map_or(before, |(before, _)| before.1);
    assert_decodes(whole_gops(&player.received, resumed), "after the switch").await;
    assert_one_session_at_a_time(&engine);
    let metrics = proxy.url("/metrics");
    let metrics = http()
        .get(metrics)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("acebridge_failovers_total 1"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "acebridge_channel_playing{{channel=\"{ID_A}\",id=\"{ID_B}\"}} 1"
        )),
        "{metrics}"
    );
    drop(player);
    proxy.stop().await;
    assert_eq!(engine.active_sessions(), 0);
}

#[tokio::test]
async fn an_alternate_the_engine_reports_without_peers_is_left() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_with(&engine, &settings, 10 * SECOND).await;
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(50_000, 20 * SECOND).await);
    // Data still trickles in, but the engine says nobody is seeding it.
    engine.set_fault(ID_A, Fault::NoPeers);
    let reported = Instant::now();
    wait_until(20 * SECOND, "the channel left A", || async {
        playing_id(&proxy).await.as_deref() == Some(ID_B)
    })
    .await;
    let took = reported.elapsed();
    println!("engine reported no peers: switched after {took:?}");
    assert!(
        took >= FAILOVER_AFTER,
        "left A before the failover time: {took:?}"
    );
    let before = player.received.len();
    assert!(player.read_until(before + 100_000, 20 * SECOND).await);
    assert_one_session_at_a_time(&engine);
    drop(player);
    proxy.stop().await;
}

#[tokio::test]
async fn when_every_alternate_is_dead_the_stream_ends_after_the_bound() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_with(&engine, &settings, 10 * SECOND).await;
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(50_000, 20 * SECOND).await);
    engine.set_fault(ID_A, Fault::Dead);
    engine.set_fault(ID_B, Fault::Dead);
    let died = Instant::now();
    let ended = !player.read_until(usize::MAX, 60 * SECOND).await;
    assert!(ended, "the stream ended");
    println!(
        "all alternates dead: the stream ended {:?} later",
        died.elapsed()
    );
    wait_until(10 * SECOND, "no engine session left", || async {
        engine.active_sessions() == 0
    })
    .await;
    let problems = proxy.json("/api/streams").await["problems"].clone();
    assert!(
        problems
            .to_string()
            .contains("none of the 2 alternates played"),
        "{problems}"
    );
    assert_one_session_at_a_time(&engine);
    proxy.stop().await;
}

#[tokio::test]
async fn a_per_id_player_of_the_id_a_saved_channel_plays_joins_that_channel() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_with(&engine, &settings, 10 * SECOND).await;
    let mut stable = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(stable.read_until(20_000, 20 * SECOND).await);
    let mut per_id = TimedPlayer::open(&proxy.stream_url(ID_A)).await;
    assert!(per_id.read_until(20_000, 20 * SECOND).await);
    assert_eq!(proxy.streams().await.len(), 1, "one channel");
    assert_eq!(engine.peak_open_sessions(ID_A), 1);
    drop((stable, per_id));
    // And the other way round: a per-id channel first, then the stable URL.
    wait_until(10 * SECOND, "the channel stopped", || async {
        engine.active_sessions() == 0
    })
    .await;
    let mut per_id = TimedPlayer::open(&proxy.stream_url(ID_B)).await;
    assert!(per_id.read_until(20_000, 20 * SECOND).await);
    let mut stable = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(stable.read_until(20_000, 20 * SECOND).await);
    assert_eq!(proxy.streams().await.len(), 1, "one channel");
    assert_one_session_at_a_time(&engine);
    drop((stable, per_id));
    proxy.stop().await;
}

#[tokio::test]
async fn unknown_channel_keys_get_a_json_404_and_head_starts_nothing() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_with(&engine, &settings, 10 * SECOND).await;
    for path in [
        format!("/channel/{ID_C}.ts"),
        format!("/channel/{ID_A}.mp4"),
        format!("/channel/{ID_A}/segment/1.ts"),
    ] {
        let (status, body) = common::get_json(&proxy.url(&path)).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // HEAD tells a player what it would get, and starts nothing.
    for (ext, kind) in [
        ("ts", "video/mp2t"),
        ("m3u8", "application/vnd.apple.mpegurl"),
    ] {
        let response = http()
            .head(channel_url(&proxy, ext))
            .send()
            .await
            .expect("head");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], kind);
    }
    assert_eq!(engine.sessions_started_total(), 0);
    proxy.stop().await;
}

/// An HLS player of the stable URL: playlist, then its newest segment.
struct HlsPlayer {
    url: String,
}

impl HlsPlayer {
    fn new(url: String) -> Self {
        Self { url }
    }

    async fn poll(&self) -> String {
        self.newest().await.0
    }

    /// The playlist and its newest segment's bytes.
    async fn newest(&self) -> (String, bytes::Bytes) {
        let response = http().get(&self.url).send().await.expect("manifest");
        assert_eq!(response.status(), 200, "manifest status");
        let text = response.text().await.expect("playlist");
        let uri = text
            .lines()
            .rfind(|line| !line.starts_with('#') && !line.is_empty())
            .expect("a segment")
            .to_owned();
        assert!(
            uri.starts_with(&format!("/channel/{ID_A}/segment/")),
            "{uri}"
        );
        let segment = url::Url::parse(&self.url)
            .expect("url")
            .join(&uri)
            .expect("segment url");
        let response = http().get(segment).send().await.expect("segment");
        assert_eq!(response.status(), 200, "segment status for {uri}");
        (text, response.bytes().await.expect("segment body"))
    }
}

/// Regression: the engine killed for a while under a TS and an HLS player of
/// a channel with two ids dropped both players, burned through both ids in
/// seconds ("none of the 2 alternates played") and filled the problems list
/// with a line per attempt; nothing played when the engine came back. The
/// channel now waits for the engine, keeps its players, tries no alternate,
/// shows one problem entry, and resumes on the same id.
#[tokio::test]
async fn an_engine_outage_keeps_players_connected_and_burns_no_alternate() {
    const OUTAGE: Duration = Duration::from_secs(30);
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_with(&engine, &settings, 10 * SECOND).await;
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(100_000, 20 * SECOND).await);
    let hls = HlsPlayer::new(channel_url(&proxy, "m3u8"));
    let (before_outage, _) = hls.newest().await;

    engine.set_down(true);
    let down = Instant::now();
    // Players poll and read as they do; both must still be served throughout.
    while down.elapsed() < OUTAGE {
        let (playlist, _) = hls.newest().await;
        assert!(playlist.contains("#EXTINF"), "{playlist}");
        let read = tokio::time::timeout(SECOND, player.response.chunk()).await;
        match read {
            Ok(Ok(Some(bytes))) => player.received.extend_from_slice(&bytes),
            Ok(Ok(None)) => panic!("the TS player's stream ended during the outage"),
            Ok(Err(error)) => panic!("the TS player's stream broke: {error}"),
            Err(_) => {} // nothing to read: the engine is away
        }
    }
    let state = saved_stream(&proxy).await.expect("channel")["state"].clone();
    assert_eq!(state, "waiting for engine");

    engine.set_down(false);
    let back = Instant::now();
    let resumed = player.received.len();
    assert!(
        player.read_until(resumed + 300_000, 20 * SECOND).await,
        "the TS player's stream ended"
    );
    println!(
        "engine back after {OUTAGE:?}: TS data again after {:?}",
        player
            .arrivals
            .iter()
            .find(|(at, total)| *at >= back && *total > resumed)
            .map(|(at, _)| at.duration_since(back))
    );
    assert_decodes(whole_gops(&player.received, resumed), "TS after the outage").await;
    let newest_before = before_outage.lines().rfind(|line| !line.starts_with('#'));
    let (segment, hls_back) = loop {
        let (playlist, segment) = hls.newest().await;
        if playlist.lines().rfind(|line| !line.starts_with('#')) != newest_before {
            break (segment, Instant::now());
        }
        assert!(
            back.elapsed() < 20 * SECOND,
            "no new HLS segment: {playlist}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "engine back: a new HLS segment after {:?}",
        hls_back.duration_since(back)
    );
    assert_decodes(&segment, "an HLS segment after the outage").await;

    assert_eq!(playing_id(&proxy).await.as_deref(), Some(ID_A));
    assert_eq!(engine.sessions_started(ID_B), 0, "an alternate was tried");
    let problems = proxy.json("/api/streams").await["problems"].clone();
    let outages: Vec<_> = problems
        .as_array()
        .expect("problems")
        .iter()
        .filter(|problem| {
            problem["error"]
                .as_str()
                .unwrap_or_default()
                .contains("unreachable")
        })
        .collect();
    assert_eq!(outages.len(), 1, "one entry for the outage: {problems}");
    assert_one_session_at_a_time(&engine);
    drop(player);
    proxy.stop().await;
}

#[tokio::test]
async fn the_alternate_that_last_played_is_tried_first_next_time() {
    let engine = SimEngine::start().await;
    let (_dir, settings) = settings_with(&[ID_A, ID_B]);
    let proxy = proxy_with(&engine, &settings, 10 * SECOND).await;
    engine.set_fault(ID_A, Fault::EngineError("failed to load content".into()));
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(20_000, 20 * SECOND).await);
    let remembered = format!("last_good = \"{ID_B}\"");
    wait_until(
        10 * SECOND,
        "the alternate that played is in the settings file",
        || async {
            std::fs::read_to_string(&settings).is_ok_and(|text| text.contains(&remembered))
        },
    )
    .await;
    drop(player);
    proxy.stop().await;

    // A works again, but B played last: B is tried first, A is not asked.
    engine.set_fault(ID_A, Fault::None);
    let attempts_on_a = engine.sessions_started(ID_A);
    let proxy = proxy_with(&engine, &settings, 10 * SECOND).await;
    let mut player = TimedPlayer::open(&channel_url(&proxy, "ts")).await;
    assert!(player.read_until(20_000, 20 * SECOND).await);
    assert_eq!(playing_id(&proxy).await.as_deref(), Some(ID_B));
    assert_eq!(saved_stream(&proxy).await.expect("channel")["switches"], 0);
    assert_eq!(engine.sessions_started(ID_A), attempts_on_a);
    drop(player);
    proxy.stop().await;
}
