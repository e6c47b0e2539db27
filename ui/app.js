// acebridge web UI: saved channels with their player URLs, the engine, and what is playing.
// Plain JavaScript, no framework. Ids are never parsed here: the server does it (/api/parse).
"use strict";

const $ = (id) => document.getElementById(id);
const STREAMS_EVERY_MS = 3000;
const HEALTH_EVERY_MS = 10000;
/** On another device with LAN sharing on, the page was opened with ?token=…; the API needs it too. */
const PAGE_TOKEN = new URLSearchParams(location.search).get("token");

function withToken(path) {
  if (!PAGE_TOKEN) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(PAGE_TOKEN)}`;
}

/** Calls the API; resolves to the JSON answer (or null for 204), rejects with a readable Error. */
async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(withToken(path), options);
  } catch (_) {
    throw new Error("acebridge does not answer (is it still running?)");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    /* not JSON: reported below */
  }
  if (!response.ok) {
    throw new Error((data && data.error) || `request failed (HTTP ${response.status})`);
  }
  return data;
}

function setStatus(element, text, kind) {
  element.textContent = text;
  element.classList.toggle("ok", kind === "ok");
  element.classList.toggle("bad", kind === "bad");
}

/* ------------------------------------------------------------------ copy */

let liveTimer = 0;
function announce(text) {
  const live = $("copy-live");
  live.textContent = text;
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => { live.textContent = ""; }, 4000);
}

/** Copies `input`'s value: clipboard API, else select + execCommand, else select and ask for Ctrl+C. */
async function copyFrom(input, button, what) {
  const text = input.value;
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (_) {
      copied = false;
    }
  }
  if (!copied) {
    input.focus();
    input.select();
    try {
      copied = document.execCommand("copy");
    } catch (_) {
      copied = false;
    }
  }
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  if (copied) {
    button.textContent = "Copied!";
    button.classList.add("copied");
    announce(`${what} copied`);
  } else {
    // The text stays selected in the field so the keyboard shortcut copies it.
    button.textContent = "Press Ctrl+C";
    announce(`Copying is blocked here: the ${what} is selected, press Ctrl+C (⌘C) to copy it`);
  }
  clearTimeout(Number(button.dataset.timer) || 0);
  button.dataset.timer = String(setTimeout(() => {
    button.textContent = label;
    button.classList.remove("copied");
  }, 2000));
}

/* ------------------------------------------------------------------ channels */

let channels = [];
const namesByHex = new Map();

function fileStem(name) {
  return (name || "channel").replace(/[^A-Za-z0-9-]+/g, "_").slice(0, 60) || "channel";
}

function controls(card) {
  return [...card.querySelectorAll("input, button, a")];
}

function renderChannels() {
  namesByHex.clear();
  for (const channel of channels) namesByHex.set(channel.id, channel.name);
  const list = $("channel-list");
  const status = $("channels-status");
  // Keep keyboard focus on the same control of the same card across a re-render.
  const active = document.activeElement;
  const focusCard = active && active.closest ? active.closest("li.channel") : null;
  const focusKey = focusCard ? focusCard.dataset.id : null;
  const focusIndex = focusCard ? controls(focusCard).indexOf(active) : -1;

  list.replaceChildren(...channels.map(channelCard));
  if (channels.length === 0) {
    setStatus(status, "No channels yet: paste an id or a link above.");
    status.hidden = false;
  } else {
    status.hidden = true;
  }
  if (focusKey && focusIndex >= 0) {
    const card = [...list.children].find((li) => li.dataset.id === focusKey);
    const target = card && controls(card)[focusIndex];
    if (target) target.focus();
  }
}

function channelCard(channel) {
  const card = $("channel-template").content.firstElementChild.cloneNode(true);
  const title = channel.name || channel.id;
  card.dataset.id = channel.id;
  card.setAttribute("aria-label", title);

  const name = card.querySelector(".name");
  const nameLabel = card.querySelector(".channel-head label");
  name.id = `name-${channel.id}`;
  nameLabel.htmlFor = name.id;
  name.value = channel.name || "";
  card.querySelector(".id").textContent = channel.kind === "infohash" ? `infohash ${channel.id}` : channel.id;
  const status = card.querySelector(".channel-status");

  const saveName = async () => {
    const value = name.value.trim();
    if (value === (channel.name || "")) return;
    setStatus(status, "Saving…");
    try {
      const saved = await api("PUT", `/api/channels/${channel.id}`, { name: value });
      channel.name = saved.name;
      namesByHex.set(channel.id, saved.name);
      setStatus(status, "Name saved", "ok");
      card.setAttribute("aria-label", saved.name || channel.id);
      open.download = `${fileStem(saved.name || channel.id)}.m3u`;
    } catch (error) {
      setStatus(status, `Could not rename: ${error.message}`, "bad");
    }
  };
  name.addEventListener("change", saveName);
  name.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      saveName();
    } else if (event.key === "Escape") {
      name.value = channel.name || "";
    }
  });

  const fields = [
    [".ts-url", ".copy-ts", channel.ts_url, "TS URL"],
    [".hls-url", ".copy-hls", channel.hls_url, "HLS URL"],
  ];
  for (const [inputSel, buttonSel, url, what] of fields) {
    const input = card.querySelector(inputSel);
    const button = card.querySelector(buttonSel);
    input.value = url;
    input.id = `${inputSel.slice(1)}-${channel.id}`;
    input.closest(".url-field").querySelector("label").htmlFor = input.id;
    button.setAttribute("aria-label", `Copy ${what} of ${title}`);
    button.addEventListener("click", () => copyFrom(input, button, what));
  }

  const open = card.querySelector(".open");
  open.href = `/api/channels/${channel.id}/play.m3u`;
  open.download = `${fileStem(title)}.m3u`;
  open.setAttribute("aria-label", `Open ${title} in your player (downloads a playlist file)`);

  const remove = card.querySelector(".remove");
  remove.setAttribute("aria-label", `Remove ${title}`);
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    setStatus(status, "Removing…");
    try {
      await api("DELETE", `/api/channels/${channel.id}`);
      const index = channels.findIndex((c) => c.id === channel.id);
      channels = channels.filter((c) => c.id !== channel.id);
      renderChannels();
      // Focus moves to the next card's Remove, or back to the paste box.
      const cards = $("channel-list").children;
      const next = cards[Math.min(index, cards.length - 1)];
      (next ? next.querySelector(".remove") : $("paste")).focus();
      announce(`${title} removed`);
    } catch (error) {
      remove.disabled = false;
      setStatus(status, `Could not remove: ${error.message}`, "bad");
    }
  });
  return card;
}

async function loadChannels() {
  try {
    const data = await api("GET", "/api/channels");
    channels = data.channels;
    renderChannels();
  } catch (error) {
    setStatus($("channels-status"), `Could not load the channels: ${error.message}. Retrying…`, "bad");
    $("channels-status").hidden = false;
    setTimeout(loadChannels, 5000);
  }
}

function showParseErrors(errors, more) {
  const box = $("parse-errors");
  if (errors.length === 0) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const heading = document.createElement("p");
  heading.textContent = errors.length + more === 1 ? "1 line is not a channel:" : `${errors.length + more} lines are not channels:`;
  const list = document.createElement("ul");
  for (const error of errors) {
    const item = document.createElement("li");
    const text = error.text.length > 60 ? `${error.text.slice(0, 60)}…` : error.text;
    item.textContent = `Line ${error.line}: “${text}” — ${error.error}`;
    list.append(item);
  }
  if (more > 0) {
    const item = document.createElement("li");
    item.textContent = `…and ${more} more`;
    list.append(item);
  }
  box.replaceChildren(heading, list);
  box.hidden = false;
}

async function addChannels(event) {
  event.preventDefault();
  const paste = $("paste");
  const button = $("add-button");
  const status = $("add-status");
  const text = paste.value;
  if (!text.trim()) {
    setStatus(status, "Paste a content id or a link first.", "bad");
    paste.focus();
    return;
  }
  button.disabled = true;
  setStatus(status, "Adding…");
  try {
    const parsed = await api("POST", "/api/parse", { text });
    showParseErrors(parsed.errors, parsed.more_errors || 0);
    if (parsed.entries.length === 0) {
      setStatus(status, "No channel found in what you pasted.", "bad");
      return;
    }
    const before = new Set(channels.map((c) => c.id));
    const saved = await api("POST", "/api/channels", {
      channels: parsed.entries.map((e) => ({ id: e.id, kind: e.kind, name: e.name })),
    });
    channels = saved.channels;
    renderChannels();
    const added = parsed.entries.filter((e) => !before.has(e.id)).length;
    const already = parsed.entries.length - added;
    let message = added === 1 ? "Added 1 channel." : `Added ${added} channels.`;
    if (already > 0) message += ` ${already} already saved.`;
    setStatus(status, message, "ok");
    if (parsed.errors.length === 0) paste.value = "";
  } catch (error) {
    setStatus(status, `Could not add: ${error.message}`, "bad");
  } finally {
    button.disabled = false;
  }
}

/* ------------------------------------------------------------------ now playing */

const streamCards = new Map();

function streamHex(stream) {
  return stream.id;
}

function formatUptime(secs) {
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = Math.floor(secs % 60);
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

const ENGINE_STATUS = { prebuf: "prebuffering", dl: "downloading", check: "checking", wait: "waiting", idle: "idle" };

function fillStream(card, stream) {
  const hex = streamHex(stream);
  const kind = (stream.kind || "ts").toUpperCase();
  const title = namesByHex.get(hex) || hex;
  card.querySelector(".stream-name").textContent = `${title} (${kind})`;
  const state = card.querySelector(".state");
  state.textContent = stream.state;
  state.className = `badge state ${stream.state}`;
  const engine = stream.engine || {};
  card.querySelector(".players").textContent = String(stream.players);
  card.querySelector(".speed").textContent = engine.speed_down != null ? `${engine.speed_down} KB/s` : "—";
  card.querySelector(".peers").textContent = engine.peers != null ? String(engine.peers) : "—";
  card.querySelector(".uptime").textContent = formatUptime(stream.uptime_secs || 0);
  card.querySelector(".engine-state").textContent = engine.status ? ENGINE_STATUS[engine.status] || engine.status : "—";
  card.querySelector(".stop").setAttribute("aria-label", `Stop ${title}`);
}

function streamCard(stream) {
  const hex = streamHex(stream);
  const card = $("stream-template").content.firstElementChild.cloneNode(true);
  card.dataset.id = hex;
  const stop = card.querySelector(".stop");
  const status = card.querySelector(".stream-status");
  stop.addEventListener("click", async () => {
    stop.disabled = true;
    setStatus(status, "Stopping…");
    try {
      await api("DELETE", `/api/streams/${hex}`);
      setStatus(status, "Stopped", "ok");
    } catch (error) {
      stop.disabled = false;
      setStatus(status, `Could not stop: ${error.message}`, "bad");
    }
    refreshStreams(false);
  });
  return card;
}

let streamsTimer = 0;
async function refreshStreams(schedule = true) {
  const status = $("now-status");
  if (schedule && document.hidden) {
    clearTimeout(streamsTimer);
    streamsTimer = setTimeout(refreshStreams, STREAMS_EVERY_MS);
    return;
  }
  try {
    const data = await api("GET", "/api/streams");
    const list = $("stream-list");
    const seen = new Set();
    for (const stream of data.streams) {
      const key = `${stream.kind}:${streamHex(stream)}`;
      seen.add(key);
      let card = streamCards.get(key);
      if (!card) {
        card = streamCard(stream);
        card.dataset.key = key;
        streamCards.set(key, card);
        list.append(card);
      }
      fillStream(card, stream);
    }
    for (const [key, card] of streamCards) {
      if (!seen.has(key)) {
        const hadFocus = card.contains(document.activeElement);
        card.remove();
        streamCards.delete(key);
        if (hadFocus) $("now-title").focus();
      }
    }
    if (data.streams.length === 0) {
      setStatus(status, "Nothing is playing. Open a channel's URL in your player.");
      status.hidden = false;
    } else {
      status.hidden = true;
    }
  } catch (error) {
    setStatus(status, `Could not read the streams: ${error.message}`, "bad");
    status.hidden = false;
  }
  if (schedule) {
    clearTimeout(streamsTimer);
    streamsTimer = setTimeout(refreshStreams, STREAMS_EVERY_MS);
  }
}

/* ------------------------------------------------------------------ engine */

let engineUrlShown = false;
let healthTimer = 0;

function plainUrl(url) {
  return String(url || "").replace(/\/$/, "");
}

async function refreshHealth(schedule = true) {
  const pill = $("engine-pill");
  const status = $("engine-status");
  try {
    const health = await api("GET", "/api/health");
    const engine = health.engine;
    if (!engineUrlShown) {
      $("engine-url").value = plainUrl(engine.url);
      engineUrlShown = true;
    }
    if (engine.reachable) {
      setStatus(pill, `Engine ${engine.version}`, "ok");
      setStatus(status, `${plainUrl(engine.url)} is reachable, version ${engine.version}.`, "ok");
    } else {
      setStatus(pill, "Engine unreachable", "bad");
      setStatus(status, `${plainUrl(engine.url)} does not answer: ${engine.error || "unknown error"}. Is the AceStream engine running?`, "bad");
    }
  } catch (error) {
    setStatus(pill, "acebridge unreachable", "bad");
    setStatus(status, error.message, "bad");
  }
  if (schedule) {
    clearTimeout(healthTimer);
    healthTimer = setTimeout(refreshHealth, HEALTH_EVERY_MS);
  }
}

function engineInput() {
  const value = $("engine-url").value.trim();
  if (!value) {
    setStatus($("engine-message"), "Enter the engine URL, e.g. http://127.0.0.1:6878", "bad");
    $("engine-url").focus();
    return null;
  }
  return value;
}

async function withButtons(work) {
  const buttons = [$("engine-test"), $("engine-save")];
  for (const b of buttons) b.disabled = true;
  try {
    await work();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

async function testEngine() {
  const engine = engineInput();
  if (engine === null) return;
  const message = $("engine-message");
  setStatus(message, `Testing ${engine}…`);
  await withButtons(async () => {
    try {
      const result = await api("POST", "/api/engine/test", { engine });
      if (result.reachable) {
        setStatus(message, `Reachable: ${plainUrl(result.engine)} runs version ${result.version}.`, "ok");
      } else {
        setStatus(message, `Not reachable: ${result.error || "no answer"}.`, "bad");
      }
    } catch (error) {
      setStatus(message, error.message, "bad");
    }
  });
}

async function saveEngine(event) {
  event.preventDefault();
  const engine = engineInput();
  if (engine === null) return;
  const message = $("engine-message");
  setStatus(message, "Saving…");
  await withButtons(async () => {
    try {
      const saved = await api("PUT", "/api/settings", { engine });
      $("engine-url").value = plainUrl(saved.engine);
      await refreshHealth(false);
      const reachable = $("engine-pill").classList.contains("ok");
      if (reachable) {
        setStatus(message, "Saved. New channels use this engine.", "ok");
      } else {
        setStatus(message, "Saved, but this engine does not answer: new channels will fail until it does.", "bad");
      }
    } catch (error) {
      setStatus(message, error.message, "bad");
    }
  });
}

/* ------------------------------------------------------------------ LAN sharing */

async function loadSharing() {
  try {
    const settings = await api("GET", "/api/settings");
    if (!settings.lan_token) return;
    const query = `token=${encodeURIComponent(settings.lan_token)}`;
    $("lan-token").textContent = `?${query}`;
    $("lan").hidden = false;
    $("playlist-url").value = `${location.origin}/playlist.m3u?${query}`;
  } catch (error) {
    // The page works without it; the URLs from the server carry the token anyway.
  }
}

/* ------------------------------------------------------------------ start */

function start() {
  $("add-form").addEventListener("submit", addChannels);
  $("paste").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) addChannels(event);
  });
  $("engine-form").addEventListener("submit", saveEngine);
  $("engine-test").addEventListener("click", testEngine);
  $("playlist-url").value = `${location.origin}/playlist.m3u`;
  $("playlist-copy").addEventListener("click", () =>
    copyFrom($("playlist-url"), $("playlist-copy"), "playlist URL"));
  $("now-title").tabIndex = -1;
  loadChannels();
  loadSharing();
  refreshStreams();
  refreshHealth();
  // Channels added elsewhere (a link the tray app received, another tab) appear
  // when the page is looked at again.
  window.addEventListener("focus", reloadChannelsUnlessEditing);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) reloadChannelsUnlessEditing();
  });
}

function reloadChannelsUnlessEditing() {
  const active = document.activeElement;
  if (active && active.matches("#channel-list input")) return; // a name being typed
  loadChannels();
}

start();
