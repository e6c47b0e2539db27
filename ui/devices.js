// acebridge web UI, the devices that play: the player on this computer (with the
// desktop app, which knows which players are installed) and sharing with other
// devices on the LAN. Uses app.js's $, api and setStatus.
"use strict";

/* ------------------------------------------------------------------ player */

/** The desktop app's players ({available, chosen}); null headless, where Play downloads a playlist. */
let desktopPlayers = null;

async function loadPlayers() {
  try {
    // Asked only where the answer is not a 404 (which a browser logs as an error).
    const settings = await api("GET", "/api/settings");
    if (!settings.players) throw new Error("no desktop app");
    desktopPlayers = await api("GET", "/api/players");
  } catch (_) {
    desktopPlayers = null;
    $("player").hidden = true;
    return;
  }
  showPlayers();
}

function showPlayers() {
  const { available, chosen } = desktopPlayers;
  $("player-select").replaceChildren(...available.map((player) => {
    const option = document.createElement("option");
    option.value = player.key;
    option.textContent = player.name;
    option.selected = player.key === chosen;
    return option;
  }));
  $("player-choice").hidden = available.length === 0;
  $("player-none").hidden = available.length > 0;
  $("player").hidden = false;
}

function chosenName() {
  const chosen = desktopPlayers.available.find((player) => player.key === desktopPlayers.chosen);
  return chosen ? chosen.name : "your player";
}

async function choosePlayer() {
  const status = $("player-status");
  try {
    desktopPlayers = await api("PUT", "/api/players", { player: $("player-select").value });
    showPlayers();
    setStatus(status, "Saved", "ok");
  } catch (error) {
    setStatus(status, `Could not change the player: ${error.message}`, "bad");
  }
}

/** With the desktop app, Play starts the chosen player here and says when it fails; else the link downloads a playlist. */
async function playHere(event) {
  const open = event.target.closest("a.open");
  if (!open || !desktopPlayers) return;
  event.preventDefault();
  const row = open.closest("li.channel");
  const status = row.querySelector(".channel-status");
  const name = chosenName();
  setStatus(status, `Starting ${name}…`);
  try {
    await api("POST", "/api/play", { channel: row.dataset.id });
    setStatus(status, `Playing in ${name}`, "ok");
  } catch (error) {
    setStatus(status, error.message, "bad");
  }
}

$("player-select").addEventListener("change", choosePlayer);
$("channel-groups").addEventListener("click", playHere);
loadPlayers();

/* ------------------------------------------------------------------ LAN sharing */

function showLan(lan) {
  $("lan-switch").checked = lan.enabled;
  $("lan-switch").disabled = Boolean(lan.fixed_by_listen);
  const fixed = $("lan-fixed");
  fixed.hidden = !lan.fixed_by_listen;
  fixed.textContent = lan.fixed_by_listen
    ? `acebridge listens on ${lan.fixed_by_listen} (--listen, ACEBRIDGE_LISTEN or listen in the settings file): that decides, not this switch.`
    : "";
  const urls = $("lan-urls");
  const origin = lan.origins[0];
  const shared = Boolean(lan.enabled && origin && lan.token);
  urls.hidden = !shared;
  // The Media centres card names the tuner's address for other devices too.
  $("tuner-lan").hidden = !shared;
  if (!shared) return;
  const token = encodeURIComponent(lan.token);
  const tuner = `${origin}/hdhr/${token}`;
  $("tuner-lan-url").textContent = tuner;
  $("lan-playlist").value = `${origin}/playlist.m3u?token=${token}`;
  $("lan-epg").textContent = `${origin}/epg.xml?token=${token}`;
  $("lan-tuner").textContent = tuner;
  const others = lan.origins.slice(1);
  $("lan-others").hidden = others.length === 0;
  $("lan-others").textContent = others.length ? `This computer's other addresses: ${others.join(", ")}` : "";
  // A new URL each time, so a switch off and on shows the code anew.
  $("lan-qr").src = `/api/lan/qr.svg?v=${Date.now()}`;
}

async function loadLan() {
  try {
    showLan(await api("GET", "/api/lan"));
    $("sharing").hidden = false;
  } catch (_) {
    // On another device (manage routes are for this computer) or an older server.
    $("sharing").hidden = true;
  }
}

async function switchLan() {
  const message = $("lan-message");
  const on = $("lan-switch").checked;
  setStatus(message, on ? "Sharing…" : "Stopping sharing…");
  try {
    showLan(await api("PUT", "/api/lan", { enabled: on }));
    setStatus(message, on ? "Shared: other devices can play with the URLs below." : "Not shared: only this computer can play.", "ok");
  } catch (error) {
    $("lan-switch").checked = !on;
    setStatus(message, `Could not change sharing: ${error.message}`, "bad");
  }
}

$("lan-switch").addEventListener("change", switchLan);
$("lan-playlist-copy").addEventListener("click", () =>
  copyWithFeedback($("lan-playlist").value, $("lan-playlist-copy"), "playlist URL", () => $("lan-playlist").select()));
loadLan();
