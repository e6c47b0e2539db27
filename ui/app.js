// acebridge web UI: what is playing, saved channels (one compact row each, grouped,
// searchable), adding and importing channels, and the engine.
// Plain JavaScript, no framework. Ids are never parsed here: the server does it (/api/parse).
// The server pushes changes (/api/events); they are applied in place, row by row,
// so focus, an open menu or a "Copied!" survive them.
"use strict";

const $ = (id) => document.getElementById(id);
const HEALTH_EVERY_MS = 10000;
/** Without live events (old server, proxy in between), streams are polled this often. */
const POLL_EVERY_MS = 3000;
/** On another device with LAN sharing on, the page was opened with ?token=…; the API needs it too. */
const PAGE_TOKEN = new URLSearchParams(location.search).get("token");
const NO_GROUP = "Other channels";

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

/** Copies `text`: clipboard API, else a hidden field + execCommand. False if both are blocked. */
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      /* fall through */
    }
  }
  const field = document.createElement("textarea");
  field.value = text;
  field.setAttribute("readonly", "");
  field.className = "visually-hidden";
  const focused = document.activeElement;
  document.body.append(field);
  field.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch (_) {
    copied = false;
  }
  field.remove();
  if (focused && focused.focus) focused.focus();
  return copied;
}

/** Copies and says so on the button for 2 s; `reveal` shows the text selected when copying is blocked. */
/** A button made in code: its text, what a screen reader hears, and maybe a class and a click. */
function makeButton(text, label, { className, onClick } = {}) {
  const button = document.createElement("button");
  button.type = "button";
  if (className) button.className = className;
  button.textContent = text;
  button.setAttribute("aria-label", label);
  if (onClick) button.addEventListener("click", onClick);
  return button;
}

/** Forgets an imported list or a guide source by its URL, then shows the list again; a failure is said in `statusId`. */
async function deleteByUrl(path, url, statusId, reload) {
  try {
    await api("DELETE", path, { url });
  } catch (error) {
    setStatus($(statusId), error.message, "bad");
  }
  reload();
}

async function copyWithFeedback(text, button, what, reveal) {
  const copied = await copyText(text);
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  if (copied) {
    button.textContent = "Copied!";
    button.classList.add("copied");
    announce(`${what} copied`);
  } else {
    button.textContent = "Press Ctrl+C";
    if (reveal) reveal();
    announce(`Copying is blocked here: the ${what} is selected, press Ctrl+C (⌘C) to copy it`);
  }
  clearTimeout(Number(button.dataset.timer) || 0);
  button.dataset.timer = String(setTimeout(() => {
    button.textContent = label;
    button.classList.remove("copied");
  }, 2000));
}

function selectContents(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

/* ------------------------------------------------------------------ channels */

/** id → { channel, row } for every saved channel; rows are reused across updates. */
const rows = new Map();
/** group name → its <section>. */
const groups = new Map();
/** id → viewers, from the last streams update. */
const playing = new Map();
let channelsLoaded = false;
let searchText = "";
const collapsed = new Set(JSON.parse(localStorage.getItem("acebridge.collapsed") || "[]"));

/** A download's name: the channel's letters and digits in any script ("Первый_канал"). */
function fileStem(name) {
  return (name || "channel").replace(/[^\p{L}\p{N}-]+/gu, "_").slice(0, 60) || "channel";
}

/** Lowercase without accents, so "futbol" finds "Fútbol" and "espana" finds "España". */
function fold(text) {
  return String(text || "").normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/** The words of `text` as search compares them: folded, split at anything but letters and digits. */
function searchWords(text) {
  return fold(text).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
}

/** A query that can only be (part of) an id: 6 or more hex digits, maybe after "acestream://". */
function idQuery(text) {
  const bare = text.trim().replace(/^acestream:\/\//i, "");
  return /^[0-9a-f]{6,40}$/i.test(bare) ? bare.toLowerCase() : null;
}

/** Up to two letters or digits from the first words of a name, for the logo's placeholder. */
function initialsOf(title) {
  const firsts = String(title).split(/\s+/).map((word) => (word.match(/[\p{L}\p{N}]/u) || [""])[0]).filter(Boolean);
  return firsts.slice(0, 2).join("").toUpperCase() || "·";
}

/** Channels just added: shown (and marked) whatever the search, until the search changes. */
const pinned = new Set();

/** Logo URLs that failed once: a row filled again (after any change) does not try them again. */
const failedLogos = new Set();

/** The logo over its placeholder: the box keeps its size whether the logo loads, fails or is absent. */
function fillLogo(row, channel, title) {
  const box = row.querySelector(".logo-box");
  const initials = initialsOf(title);
  const placeholder = box.querySelector(".initials");
  if (placeholder.textContent !== initials) placeholder.textContent = initials;
  const logo = box.querySelector(".logo");
  const url = channel.tvg_logo && !failedLogos.has(channel.tvg_logo) ? channel.tvg_logo : null;
  if (!url) {
    if (logo.hasAttribute("src")) logo.removeAttribute("src");
    box.dataset.logo = channel.tvg_logo ? "failed" : "none";
    return;
  }
  if (logo.getAttribute("src") === url) return;
  box.dataset.logo = "loading";
  logo.loading = "lazy";
  logo.referrerPolicy = "no-referrer";
  logo.onload = () => { box.dataset.logo = "loaded"; };
  logo.onerror = () => {
    failedLogos.add(url);
    logo.removeAttribute("src");
    box.dataset.logo = "failed";
  };
  logo.src = url;
}

/** The server names every channel (its name, else "Channel d5869d…"): one rule, written once. */
function titleOf(channel) {
  return channel.title;
}

function makeRow(channel) {
  const row = $("channel-template").content.firstElementChild.cloneNode(true);
  row.dataset.id = channel.id;
  row.querySelector(".name").id = `name-${channel.id}`;
  row.setAttribute("aria-labelledby", `name-${channel.id}`);
  return row;
}

/** Writes `channel` into its row; touches only what changed, so focus and feedback survive. */
function fillRow(row, channel) {
  const title = titleOf(channel);
  const name = row.querySelector(".name");
  if (name.textContent !== title) name.textContent = title;
  name.title = channel.tvg_name && channel.tvg_name !== title ? `${title} (${channel.tvg_name})` : title;
  fillLogo(row, channel, title);
  const note = row.querySelector(".note");
  const edited = editNote(channel);
  if (note.textContent !== edited) note.textContent = edited;
  note.hidden = !edited;
  const number = row.querySelector(".number");
  const numberText = channel.number ? String(channel.number) : "";
  if (number.textContent !== numberText) number.textContent = numberText;
  number.title = numberText ? `Channel number ${numberText}` : "";
  row.querySelector(".copy-ts").setAttribute("aria-label", `Copy TS URL of ${title} (VLC, mpv)`);
  row.querySelector(".copy-hls").setAttribute("aria-label", `Copy HLS URL of ${title} (browsers, TVs)`);
  const open = row.querySelector(".open");
  open.href = withToken(`/api/channels/${channel.id}/play.m3u`);
  open.download = `${fileStem(title)}.m3u`;
  open.setAttribute("aria-label", `Play ${title} in your player (downloads a playlist file)`);
  row.querySelector(".record").setAttribute("aria-label", `Record ${title} to a file`);
  row.querySelector(".more").setAttribute("aria-label", `More for ${title}: copy, rename, group, number, move, remove`);
  // Leading spaces: a query word matches the start of a word ("f1" finds "Sky Sports F1", not an id's "…f1…").
  row.dataset.search = ` ${searchWords(`${title} ${channel.group || ""} ${channel.tvg_name || ""} ${guideSearchText(channel)}`).join(" ")}`;
  row.dataset.ids = (channel.alternates && channel.alternates.length ? channel.alternates : [channel.id]).join(" ");
  fillGuideLine(row, channel);
  const menu = row.querySelector(".menu");
  if (menu) fillMenu(menu, channel);
  fillBadge(row, channel.id);
  const alts = row.querySelector(".alts");
  const count = (channel.alternates || []).length;
  alts.hidden = count < 2;
  if (count >= 2) {
    alts.textContent = `${count} ids`;
    alts.title = `${count} ids: when one fails, the next plays`;
  }
}

/** What the user changed of a channel from a list, and what the list says instead. */
function editNote(channel) {
  const says = channel.list_says;
  if (!says) return "";
  const parts = [];
  if ("name" in says) parts.push(says.name ? `renamed; the list calls it “${says.name}”` : "named; the list gives no name");
  if ("group" in says) parts.push(says.group ? `moved; the list puts it in “${says.group}”` : "grouped; the list gives no group");
  if ("tvg_logo" in says) parts.push("your logo, not the list's");
  return parts.join(" · ");
}

function fillBadge(row, hex) {
  const badge = row.querySelector(".playing");
  const viewers = playing.get(hex);
  if (viewers === undefined) {
    badge.hidden = true;
    return;
  }
  const text = `▶ ${viewers}`;
  if (badge.textContent !== text) badge.textContent = text;
  badge.title = `Playing, ${viewers} ${viewers === 1 ? "viewer" : "viewers"}`;
  badge.setAttribute("aria-label", badge.title);
  badge.hidden = false;
}

function groupOf(channel) {
  return channel.group || NO_GROUP;
}

function groupSection(name) {
  let section = groups.get(name);
  if (section) return section;
  section = $("group-template").content.firstElementChild.cloneNode(true);
  section.dataset.group = name;
  section.querySelector(".group-name").textContent = name;
  const toggle = section.querySelector(".group-toggle");
  const list = section.querySelector(".rows");
  list.id = `group-${groups.size}`;
  toggle.setAttribute("aria-controls", list.id);
  setCollapsed(section, collapsed.has(name));
  groups.set(name, section);
  return section;
}

function setCollapsed(section, shut) {
  section.querySelector(".group-toggle").setAttribute("aria-expanded", String(!shut));
  section.querySelector(".rows").hidden = shut;
}

/** Applies the saved channels as the server sent them: rows are added, changed, moved or removed in place. */
function applyChannels(list) {
  const seen = new Set();
  const arrived = [];
  for (const channel of list) {
    seen.add(channel.id);
    let entry = rows.get(channel.id);
    if (!entry) {
      entry = { channel, row: makeRow(channel) };
      rows.set(channel.id, entry);
      if (channelsLoaded) arrived.push(entry.row);
    }
    entry.channel = channel;
    fillRow(entry.row, channel);
  }
  for (const [id, entry] of rows) {
    if (!seen.has(id)) {
      const hadFocus = entry.row.contains(document.activeElement);
      entry.row.remove();
      rows.delete(id);
      if (hadFocus) $("search").focus();
    }
  }
  if (!channelsLoaded && list.length > 0) listFirst();
  layout(list);
  channelsLoaded = true;
  for (const row of arrived) {
    row.classList.remove("new");
    void row.offsetWidth; // restarts the highlight if it was already running
    row.classList.add("new");
    row.dataset.arrived = String(Date.now());
  }
  showArrivals(arrived);
  if (arrived.length === 1) announce(`${titleOf(rows.get(arrived[0].dataset.id).channel)} added`);
}

/** New rows are seen: under an active search they stay shown and marked, a collapsed group opens,
    and a single new row is scrolled to. */
function showArrivals(arrived) {
  if (arrived.length === 0) return;
  for (const row of arrived) {
    if (searchText) {
      pinned.add(row.dataset.id);
      row.classList.add("pinned");
    }
    const section = row.closest(".group");
    if (section && collapsed.delete(section.dataset.group)) {
      localStorage.setItem("acebridge.collapsed", JSON.stringify([...collapsed]));
    }
  }
  applySearch();
  if (arrived.length === 1) arrived[0].scrollIntoView({ block: "nearest" });
}

/** With channels saved, the list is what people come back for: it comes first and adding folds away. */
function listFirst() {
  $("add-fold").open = false;
  $("add").before($("channels"));
}

/** Puts rows into their groups in list order, moving only rows not already in place. */
function layout(list) {
  const byGroup = new Map();
  for (const channel of list) {
    const name = groupOf(channel);
    if (!byGroup.has(name)) byGroup.set(name, []);
    byGroup.get(name).push(rows.get(channel.id).row);
  }
  // Named groups in the order they first appear, channels without one last.
  const names = [...byGroup.keys()].filter((n) => n !== NO_GROUP);
  if (byGroup.has(NO_GROUP)) names.push(NO_GROUP);
  const container = $("channel-groups");
  names.forEach((name, index) => {
    const section = groupSection(name);
    if (container.children[index] !== section) container.insertBefore(section, container.children[index] || null);
    const ul = section.querySelector(".rows");
    byGroup.get(name).forEach((row, position) => {
      if (ul.children[position] !== row) ul.insertBefore(row, ul.children[position] || null);
    });
    while (ul.children.length > byGroup.get(name).length) ul.lastElementChild.remove();
    section.querySelector(".count").textContent = `(${byGroup.get(name).length})`;
  });
  for (const [name, section] of groups) {
    if (!byGroup.has(name)) {
      section.remove();
      groups.delete(name);
    }
  }
  // One unnamed group needs no heading.
  const single = names.length === 1 && names[0] === NO_GROUP;
  for (const section of groups.values()) section.classList.toggle("single", single);
  const datalist = $("group-names");
  const options = names.filter((n) => n !== NO_GROUP);
  if (datalist.children.length !== options.length || options.some((n, i) => datalist.children[i].value !== n)) {
    datalist.replaceChildren(...options.map((n) => Object.assign(document.createElement("option"), { value: n })));
  }
  $("channel-count").textContent = list.length ? `(${list.length})` : "";
  $("empty-hint").hidden = list.length > 0;
  $("channels-status").hidden = true;
  applySearch();
}

/** Whether a row matches the search: every word starts a word of its name or group, or the query is part of one of its ids. */
function rowMatches(row, words, hex) {
  if (pinned.has(row.dataset.id)) return true;
  if (hex && row.dataset.ids.includes(hex)) return true;
  if (words.length > 0 && matchesByProgramme(row)) return true;
  return words.every((w) => row.dataset.search.includes(` ${w}`));
}

/** Shows the rows matching the search box; groups with no match are hidden, matching groups open. */
function applySearch() {
  const words = searchWords(searchText);
  const hex = idQuery(searchText);
  let shown = 0;
  for (const section of groups.values()) {
    let inGroup = 0;
    for (const row of section.querySelector(".rows").children) {
      const match = rowMatches(row, words, hex);
      if (row.hidden === match) row.hidden = !match;
      if (match) inGroup += 1;
    }
    section.hidden = inGroup === 0;
    const shut = words.length === 0 && collapsed.has(section.dataset.group);
    setCollapsed(section, shut);
    shown += inGroup;
  }
  const status = $("channels-status");
  if (words.length > 0 && shown === 0) {
    setStatus(status, `No channel matches “${searchText}”.`);
    status.hidden = false;
  } else if (words.length > 0) {
    setStatus(status, `${shown} of ${rows.size} channels match.`);
    status.hidden = false;
  } else if (channelsLoaded) {
    status.hidden = true;
  }
}

function toggleGroup(section) {
  const name = section.dataset.group;
  const shut = !section.querySelector(".rows").hidden;
  if (shut) collapsed.add(name); else collapsed.delete(name);
  localStorage.setItem("acebridge.collapsed", JSON.stringify([...collapsed]));
  setCollapsed(section, shut);
}

/* ---- the per-row menu: rename, group, URLs, remove (built when first opened) */

function fillMenu(menu, channel) {
  const nameInput = menu.querySelector(".name-input");
  const groupInput = menu.querySelector(".group-input");
  if (document.activeElement !== nameInput) nameInput.value = channel.name || "";
  nameInput.placeholder = channel.name ? "" : channel.title;
  if (document.activeElement !== groupInput) groupInput.value = channel.group || "";
  const logoInput = menu.querySelector(".logo-input");
  if (document.activeElement !== logoInput) logoInput.value = channel.tvg_logo || "";
  menu.querySelector(".reset").hidden = !channel.list_says;
  const numberInput = menu.querySelector(".number-input");
  if (document.activeElement !== numberInput) numberInput.value = channel.number ? String(channel.number) : "";
  const title = titleOf(channel);
  menu.querySelector(".in-menu.copy-ts").setAttribute("aria-label", `Copy TS URL of ${title} (VLC, mpv)`);
  menu.querySelector(".in-menu.copy-hls").setAttribute("aria-label", `Copy HLS URL of ${title} (browsers, TVs)`);
  menu.querySelector(".ts-url").textContent = channel.ts_url;
  menu.querySelector(".hls-url").textContent = channel.hls_url;
  fillAlternates(menu, channel);
}

/** The channel's ids in the order they are tried, each with Up and Split; and what may merge in. */
function fillAlternates(menu, channel) {
  const ids = channel.alternates && channel.alternates.length ? channel.alternates : [channel.id];
  const list = menu.querySelector(".alt-list");
  list.replaceChildren(...ids.map((hex, index) => {
    const item = document.createElement("li");
    item.dataset.hex = hex;
    const code = document.createElement("code");
    code.textContent = `${hex.slice(0, 8)}…`;
    code.title = hex;
    item.append(code);
    if (hex === channel.last_good) item.append(" ✓");
    if (index > 0) {
      item.append(" ", makeButton("↑", `Try ${hex.slice(0, 8)} earlier`, { className: "alt-up" }));
    }
    if (ids.length > 1) {
      item.append(" ", makeButton("Split", `Make ${hex.slice(0, 8)} a channel of its own`, { className: "alt-split" }));
    }
    return item;
  }));
  const select = menu.querySelector(".merge-select");
  const others = [...rows.values()].map((e) => e.channel).filter((c) => c.id !== channel.id);
  select.replaceChildren(...others.map((other) => {
    const option = document.createElement("option");
    option.value = other.id;
    option.textContent = titleOf(other);
    return option;
  }));
  menu.querySelector(".alt-merge").hidden = others.length === 0;
}

/** Sends one change of a channel's ids (or its place); the answer is the whole list. */
async function changeAlternates(row, method, what, body, done, failed = "Could not change the ids") {
  const entry = rows.get(row.dataset.id);
  const status = row.querySelector(".channel-status");
  setStatus(status, "Saving…");
  try {
    const list = await api(method, `/api/channels/${entry.channel.id}/${what}`, body);
    applyChannels(list.channels);
    setStatus(status, done, "ok");
  } catch (error) {
    setStatus(status, `${failed}: ${error.message}`, "bad");
  }
}

function onAlternatesClick(row, button) {
  const channel = rows.get(row.dataset.id).channel;
  const hex = button.closest("li").dataset.hex;
  const ids = channel.alternates && channel.alternates.length ? [...channel.alternates] : [channel.id];
  if (button.classList.contains("alt-up")) {
    const at = ids.indexOf(hex);
    [ids[at - 1], ids[at]] = [ids[at], ids[at - 1]];
    changeAlternates(row, "PUT", "alternates", { alternates: ids }, "Order saved");
  } else {
    changeAlternates(row, "POST", "split", { id: hex }, "Split off");
  }
}

function toggleMenu(row, open) {
  const button = row.querySelector(".more");
  let menu = row.querySelector(".menu");
  const show = open === undefined ? !menu || menu.hidden : open;
  if (show && !menu) {
    menu = $("menu-template").content.firstElementChild.cloneNode(true);
    const id = row.dataset.id;
    menu.id = `menu-${id}`;
    menu.querySelector(".name-input").id = `rename-${id}`;
    button.setAttribute("aria-controls", menu.id);
    row.querySelector(".channel-status").before(menu);
  }
  if (!menu) return;
  if (show) fillMenu(menu, rows.get(row.dataset.id).channel);
  if (show) openGuideMenu(menu, row.dataset.id);
  menu.hidden = !show;
  button.setAttribute("aria-expanded", String(show));
  if (show) menu.querySelector(".name-input").focus();
}

async function saveMenu(row) {
  const entry = rows.get(row.dataset.id);
  const menu = row.querySelector(".menu");
  const status = row.querySelector(".channel-status");
  const name = menu.querySelector(".name-input").value.trim();
  const group = menu.querySelector(".group-input").value.trim();
  const change = { name, group };
  const number = menu.querySelector(".number-input").value.trim();
  if (number && number !== String(entry.channel.number || "")) change.number = number;
  const logo = menu.querySelector(".logo-input").value.trim();
  if (logo !== (entry.channel.tvg_logo || "")) change.tvg_logo = logo;
  setStatus(status, "Saving…");
  try {
    const saved = await api("PUT", `/api/channels/${entry.channel.id}`, change);
    setStatus(status, "Saved", "ok");
    // The event stream brings the same change; applying it now keeps the page in step without it.
    entry.channel = saved;
    fillRow(row, saved);
    layout([...rows.values()].map((e) => e.channel));
    setTimeout(() => { if (status.textContent === "Saved") setStatus(status, ""); }, 3000);
  } catch (error) {
    setStatus(status, `Could not save: ${error.message}`, "bad");
  }
}

/** Gives a channel from a list back the list's name, group and logo. */
async function resetChannel(row) {
  const entry = rows.get(row.dataset.id);
  const status = row.querySelector(".channel-status");
  setStatus(status, "Resetting…");
  try {
    const saved = await api("POST", `/api/channels/${entry.channel.id}/reset`);
    entry.channel = saved;
    fillRow(row, saved);
    layout([...rows.values()].map((e) => e.channel));
    setStatus(status, "As the list says again", "ok");
  } catch (error) {
    setStatus(status, `Could not reset: ${error.message}`, "bad");
  }
}

async function removeChannel(row) {
  const entry = rows.get(row.dataset.id);
  const title = titleOf(entry.channel);
  const status = row.querySelector(".channel-status");
  setStatus(status, "Removing…");
  const ordered = [...document.querySelectorAll("#channel-groups li.channel")];
  const next = ordered[ordered.indexOf(row) + 1] || ordered[ordered.indexOf(row) - 1];
  try {
    await api("DELETE", `/api/channels/${entry.channel.id}`);
    row.remove();
    rows.delete(entry.channel.id);
    layout([...rows.values()].map((e) => e.channel));
    (next && next.isConnected ? next.querySelector(".more") : $("paste")).focus();
    announce(`${title} removed`);
    // A list's channel stays removed across its re-reads: the import list offers to bring it back.
    if (entry.channel.source) loadSettings();
  } catch (error) {
    setStatus(status, `Could not remove: ${error.message}`, "bad");
  }
}

/** One listener for every row: 500 rows need no 3 000 handlers. */
function onChannelClick(event) {
  const toggle = event.target.closest(".group-toggle");
  if (toggle) {
    toggleGroup(toggle.closest(".group"));
    return;
  }
  const row = event.target.closest("li.channel");
  if (!row) return;
  const channel = rows.get(row.dataset.id).channel;
  const button = event.target.closest("button");
  if (!button) return;
  if (button.classList.contains("copy-ts")) {
    copyWithFeedback(channel.ts_url, button, "TS URL", () => revealUrl(row, ".ts-url"));
  } else if (button.classList.contains("copy-hls")) {
    copyWithFeedback(channel.hls_url, button, "HLS URL", () => revealUrl(row, ".hls-url"));
  } else if (button.classList.contains("more")) {
    toggleMenu(row);
  } else if (button.classList.contains("remove")) {
    removeChannel(row);
  } else if (button.classList.contains("reset")) {
    resetChannel(row);
  } else if (button.classList.contains("move")) {
    const by = Number(button.dataset.by);
    changeAlternates(row, "POST", "move", { by }, by < 0 ? "Moved up" : "Moved down", "Could not move it")
      .then(() => button.focus());
  } else if (button.classList.contains("alt-up") || button.classList.contains("alt-split")) {
    onAlternatesClick(row, button);
  }
}

function revealUrl(row, selector) {
  toggleMenu(row, true);
  selectContents(row.querySelector(selector));
}

async function loadChannels() {
  try {
    const data = await api("GET", "/api/channels");
    applyChannels(data.channels);
  } catch (error) {
    setStatus($("channels-status"), `Could not load the channels: ${error.message}. Retrying…`, "bad");
    $("channels-status").hidden = false;
    setTimeout(loadChannels, 5000);
  }
}

/* ------------------------------------------------------------------ add and import */

function showParseErrors(errors, more) {
  showLineErrors($("parse-errors"), errors, more, ["it stays in the box to fix", "they stay in the box to fix"]);
}

/** Lists the lines of a paste or a list that are not channels, in `box`; `what` says what became of one line and of several. */
function showLineErrors(box, errors, more, [one, many]) {
  if (errors.length === 0) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  const heading = document.createElement("p");
  heading.textContent = errors.length + more === 1
    ? `1 line is not a channel (${one}):`
    : `${errors.length + more} lines are not channels (${many}):`;
  const list = document.createElement("ul");
  for (const error of errors) {
    const item = document.createElement("li");
    const text = error.text.length > 60 ? `${error.text.slice(0, 60)}…` : error.text;
    item.textContent = `Line ${error.line}: “${text}”: ${error.error}`;
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
    const before = new Set(rows.keys());
    const known = new Set([...rows.values()].flatMap((e) => e.channel.alternates));
    const saved = await api("POST", "/api/channels", {
      channels: parsed.entries.map((e) => ({
        id: e.id, kind: e.kind, name: e.name,
        group: e.group, tvg_logo: e.tvg_logo, tvg_id: e.tvg_id, tvg_name: e.tvg_name, tvg_chno: e.tvg_chno,
      })),
      guide_urls: parsed.guide_urls || [],
    });
    applyChannels(saved.channels);
    // Entries of one channel (HD and FHD of it, say) are saved as one channel with alternates.
    const added = saved.channels.filter((c) => !before.has(c.id)).length;
    const already = parsed.entries.filter((e) => known.has(e.id)).length;
    let message = added === 1 ? "Added 1 channel." : `Added ${added} channels.`;
    if (already > 0) message += ` ${already} already saved.`;
    setStatus(status, message, "ok");
    // Only the lines that failed stay, to be fixed.
    const lines = text.split(/\r?\n/);
    paste.value = parsed.errors.map((e) => lines[e.line - 1]).join("\n");
  } catch (error) {
    setStatus(status, `Could not add: ${error.message}`, "bad");
  } finally {
    button.disabled = false;
  }
}

async function importList(event, url, refresh) {
  if (event) event.preventDefault();
  const status = $("import-status");
  const target = url || $("import-url").value.trim();
  if (!target) {
    setStatus(status, "Enter the list's URL, e.g. http://example.com/channels.m3u", "bad");
    $("import-url").focus();
    return;
  }
  const minutes = refresh !== undefined ? refresh : Number($("import-refresh").value);
  setStatus(status, `Reading ${target}…`);
  $("import-button").disabled = true;
  try {
    const report = await api("POST", "/api/imports", { url: target, refresh_mins: minutes });
    let message = `Read ${report.channels} channels: ${report.added} added, ${report.updated} changed, ${report.removed} removed.`;
    if (report.alternates) {
      message += report.alternates === 1
        ? " 1 entry became a second id of another channel."
        : ` ${report.alternates} entries became second ids of other channels.`;
    }
    setStatus(status, message, "ok");
    showLineErrors($("import-errors"), report.errors, 0, ["it was skipped", "they were skipped"]);
    if (!url) $("import-url").value = "";
    await loadChannels();
  } catch (error) {
    setStatus(status, `Could not import: ${error.message}`, "bad");
    $("import-errors").hidden = true;
  } finally {
    $("import-button").disabled = false;
    loadSettings();
  }
}

/** Brings back the channels of a list that the user removed (the list is read again). */
async function bringBack(url) {
  const status = $("import-status");
  setStatus(status, `Reading ${url}…`);
  try {
    const report = await api("POST", "/api/imports/bring-back", { url });
    setStatus(status, `Brought back ${report.added} ${report.added === 1 ? "channel" : "channels"}.`, "ok");
    await loadChannels();
  } catch (error) {
    setStatus(status, `Could not bring them back: ${error.message}`, "bad");
  }
  loadSettings();
}

function showImports(imports, removals) {
  const list = $("import-list");
  list.replaceChildren(...imports.map((item) => {
    const li = document.createElement("li");
    const url = document.createElement("code");
    url.className = "list-url";
    url.textContent = item.url;
    const info = document.createElement("span");
    info.className = item.last_error ? "status bad" : "status";
    const every = item.refresh_mins ? `re-read every ${item.refresh_mins >= 60 ? `${item.refresh_mins / 60} h` : `${item.refresh_mins} min`}` : "read once";
    info.textContent = item.last_error ? `${every}; last read failed: ${item.last_error}` : every;
    const again = makeButton("Read now", `Read ${item.url} now`, {
      onClick: () => importList(null, item.url, item.refresh_mins || 0),
    });
    const forget = makeButton("Forget", `Forget ${item.url} (its channels stay)`, {
      onClick: () => deleteByUrl("/api/imports", item.url, "import-status", loadSettings),
    });
    li.append(url, info, again, forget);
    const removed = removals[item.url] || 0;
    if (removed > 0) {
      const note = document.createElement("span");
      note.className = "status";
      note.textContent = removed === 1 ? "1 channel removed by you" : `${removed} channels removed by you`;
      const back = makeButton("Bring back", `Bring back the channels of ${item.url} you removed`, {
        className: "bring-back",
        onClick: () => bringBack(item.url),
      });
      li.append(note, back);
    }
    return li;
  }));
}

/* ------------------------------------------------------------------ programme guide */

function clockTime(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function timeLeft(stop) {
  const mins = Math.max(1, Math.round((stop - Date.now() / 1000) / 60));
  return mins < 60 ? `${mins} min left` : `${Math.floor(mins / 60)} h ${mins % 60} min left`;
}

/** What `channel` shows now and next; moves on by itself when the programme the server named has ended. */
function onAir(channel) {
  const at = Date.now() / 1000;
  const runs = (p) => p && p.start <= at && at < p.stop;
  let { now, next } = channel || {};
  if (now && !runs(now)) now = null;
  if (!now && runs(next)) [now, next] = [next, null];
  if (next && next.stop <= at) next = null;
  return { now, next };
}

/** The programme titles the channel search also matches ("arsenal" finds the channel showing the match). */
function guideSearchText(channel) {
  return [channel.now && channel.now.title, channel.next && channel.next.title].filter(Boolean).join(" ");
}

/** Fills the "Now … · Next …" line of a channel row or a Now playing card; hidden without guide data. */
function fillGuideLine(element, channel) {
  const line = element.querySelector(".guide-line");
  if (!line) return;
  const { now, next } = onAir(channel);
  const nowText = now ? `${now.title} · ${timeLeft(now.stop)}` : "";
  const nextText = next ? `${clockTime(next.start)} ${next.title}` : "";
  line.querySelector(".guide-now").textContent = nowText;
  line.querySelector(".guide-next").textContent = nextText;
  line.querySelector(".guide-now-label").hidden = !nowText;
  line.querySelector(".guide-next-label").hidden = !nextText;
  line.hidden = !nowText && !nextText;
}

/** Time left moves on: rows and cards are refreshed every half minute. */
function refreshGuideLines() {
  for (const entry of rows.values()) fillGuideLine(entry.row, entry.channel);
  for (const [key, card] of streamCards) fillGuideLine(card, rows.get(key)?.channel);
}

function guideSourceText(source) {
  const when = source.last_success_unix ? `read ${clockTime(source.last_success_unix)}` : "not read yet";
  const found = source.channels != null
    ? `: ${source.channels} channels, ${source.programmes} programmes (${source.programmes_kept} kept)` : "";
  return source.last_error ? `${when}${found}; last read failed: ${source.last_error}` : `${when}${found}`;
}

function showGuideSources(data) {
  $("guide-placeholders").checked = data.placeholders;
  $("guide-sources").replaceChildren(...data.sources.map((source) => {
    const li = document.createElement("li");
    const url = document.createElement("code");
    url.className = "list-url";
    url.textContent = source.url;
    const info = document.createElement("span");
    info.className = source.last_error ? "status bad" : "status";
    info.textContent = guideSourceText(source);
    const remove = makeButton("Remove", `Remove the guide ${source.url}`, {
      onClick: () => deleteByUrl("/api/guide/sources", source.url, "guide-status", loadGuide),
    });
    li.append(url, info, remove);
    return li;
  }));
}

async function loadGuide() {
  try {
    showGuideSources(await api("GET", "/api/guide/sources"));
  } catch (error) {
    setStatus($("guide-status"), `Could not load the guides: ${error.message}`, "bad");
  }
}

async function addGuide(event) {
  event.preventDefault();
  const status = $("guide-status");
  const url = $("guide-url").value.trim();
  if (!url) {
    setStatus(status, "Enter the guide's URL, e.g. https://example.com/guide.xml.gz", "bad");
    $("guide-url").focus();
    return;
  }
  $("guide-add").disabled = true;
  setStatus(status, "Reading the guide…");
  try {
    const source = await api("POST", "/api/guide/sources", { url });
    if (source.last_error) {
      setStatus(status, `Added, but it could not be read: ${source.last_error}`, "bad");
    } else {
      setStatus(status, `Read: ${source.channels} channels, ${source.programmes_kept} programmes kept.`, "ok");
      $("guide-url").value = "";
    }
  } catch (error) {
    setStatus(status, `Could not add: ${error.message}`, "bad");
  } finally {
    $("guide-add").disabled = false;
  }
  loadGuide();
}

function startGuide() {
  $("epg-url").textContent = `${location.origin}/epg.xml`;
  $("guide-form").addEventListener("submit", addGuide);
  startGuideControls();
  loadGuide();
  setInterval(refreshGuideLines, 30000);
}

/* ------------------------------------------------------------------ now playing */

const streamCards = new Map();

function formatUptime(secs) {
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = Math.floor(secs % 60);
  const mm = String(m).padStart(2, "0");
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

const ENGINE_STATUS = { prebuf: "prebuffering", dl: "downloading", check: "checking", wait: "waiting", idle: "idle" };


/** "3 (2 TS, 1 HLS)" when the server says how they split, else the total. */
function viewersText(stream) {
  const v = stream.viewers;
  if (v && typeof v === "object") {
    const parts = [];
    if (v.ts) parts.push(`${v.ts} TS`);
    if (v.hls) parts.push(`${v.hls} HLS`);
    return parts.length > 1 ? `${stream.players} (${parts.join(", ")})` : String(stream.players);
  }
  return String(stream.players);
}

function fillStream(card, stream) {
  // One channel serves TS and HLS players alike: the viewers line splits them.
  const title = stream.title;
  const alternates = stream.alternates || [];
  // A channel with alternates says which one plays, and how often it switched.
  const which = alternates.length > 1
    ? ` · id ${alternates.indexOf(stream.id) + 1}/${alternates.length}${stream.switches ? `, ${stream.switches} ${stream.switches === 1 ? "switch" : "switches"}` : ""}`
    : "";
  const nameLine = card.querySelector(".stream-name");
  nameLine.textContent = `${title}${which}`;
  nameLine.title = stream.last_switch ? `Last switch: ${stream.last_switch}` : "";
  card.dataset.id = stream.id;
  const state = card.querySelector(".state");
  state.textContent = stream.state;
  state.className = `badge state ${stream.state}`;
  const engine = stream.engine || {};
  card.querySelector(".players").textContent = viewersText(stream);
  card.querySelector(".speed").textContent = engine.speed_down != null ? `${engine.speed_down} KB/s` : "—";
  card.querySelector(".peers").textContent = engine.peers != null ? String(engine.peers) : "—";
  card.querySelector(".uptime").textContent = formatUptime(stream.uptime_secs || 0);
  card.querySelector(".engine-state").textContent = engine.status ? ENGINE_STATUS[engine.status] || engine.status : "—";
  card.querySelector(".stop").setAttribute("aria-label", `Stop ${title} for everyone watching it`);
  card.querySelector(".record").setAttribute("aria-label", `Record ${title} to a file`);
  fillGuideLine(card, rows.get(stream.channel || stream.id)?.channel);
}

function streamCard(stream) {
  const hex = stream.id;
  const card = $("stream-template").content.firstElementChild.cloneNode(true);
  card.dataset.id = hex;
  const stop = card.querySelector(".stop");
  const status = card.querySelector(".stream-status");
  stop.addEventListener("click", async () => {
    stop.disabled = true;
    setStatus(status, "Stopping…");
    try {
      // The id playing now: a channel with alternates may have switched since the card was made.
      await api("DELETE", `/api/streams/${card.dataset.id}`);
      setStatus(status, "Stopped", "ok");
    } catch (error) {
      stop.disabled = false;
      setStatus(status, `Could not stop: ${error.message}`, "bad");
    }
    if (!liveEvents) pollStreams(false);
  });
  return card;
}

/** Applies a streams snapshot (pushed or polled) in place. */
function applyStreams(data) {
  const status = $("now-status");
  const list = $("stream-list");
  const seen = new Set();
  const viewers = new Map();
  for (const stream of data.streams) {
    // A saved channel keeps its card across switches between its ids.
    const key = stream.channel || stream.id;
    seen.add(key);
    viewers.set(key, (viewers.get(key) || 0) + (stream.players || 0));
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
  // Playing badges on the channel rows: only the rows whose count changed are touched.
  const changed = new Set([...playing.keys(), ...viewers.keys()]);
  playing.clear();
  for (const [hex, count] of viewers) playing.set(hex, count);
  for (const hex of changed) {
    const entry = rows.get(hex);
    if (entry) fillBadge(entry.row, hex);
  }
  if (data.streams.length === 0) {
    setStatus(status, "Nothing is playing. Press Play on a channel, or open its URL in your player.");
    status.hidden = false;
  } else {
    status.hidden = true;
  }
  showProblems(data.problems);
}

function showProblems(problems) {
  const box = $("problems");
  if (!Array.isArray(problems) || problems.length === 0) {
    box.hidden = true;
    return;
  }
  const key = problems.map((p) => `${p.at_unix}${p.error}`).join("\n");
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  $("problem-count").textContent = `(${problems.length})`;
  $("problem-list").replaceChildren(...problems.map((problem) => {
    const li = document.createElement("li");
    const time = document.createElement("time");
    const at = new Date(problem.at_unix * 1000);
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleTimeString();
    li.append(time, problem.title ? ` ${problem.title}: ${problem.error}` : ` ${problem.error}`);
    return li;
  }));
  box.hidden = false;
}

let pollTimer = 0;
async function pollStreams(schedule = true) {
  if (!(schedule && document.hidden)) {
    try {
      applyStreams(await api("GET", "/api/streams"));
    } catch (error) {
      setStatus($("now-status"), `Could not read the streams: ${error.message}`, "bad");
      $("now-status").hidden = false;
    }
  }
  if (schedule && !liveEvents) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(pollStreams, POLL_EVERY_MS);
  }
}

/* ------------------------------------------------------------------ live events */

let liveEvents = null;

/** Subscribes to /api/events; while it is connected, nothing is polled. */
function connectEvents() {
  if (!window.EventSource) {
    pollStreams();
    return;
  }
  const source = new EventSource(withToken("/api/events"));
  source.addEventListener("open", () => {
    liveEvents = source;
    clearTimeout(pollTimer);
  });
  source.addEventListener("channels", (event) => {
    applyChannels(JSON.parse(event.data).channels);
    // A guide read changes its source's state and the channels' now/next alike.
    refreshGuideLines();
    loadGuide();
  });
  source.addEventListener("streams", (event) => applyStreams(JSON.parse(event.data)));
  source.addEventListener("error", () => {
    // EventSource reconnects by itself; poll meanwhile so Now playing stays current.
    if (liveEvents === source) liveEvents = null;
    clearTimeout(pollTimer);
    pollTimer = setTimeout(pollStreams, POLL_EVERY_MS);
  });
}

/* ------------------------------------------------------------------ engine */

let engineUrlShown = false;
let healthTimer = 0;
let engineReachable = null;

function plainUrl(url) {
  return String(url || "").replace(/\/$/, "");
}

/** The engine's error without what the banner already says ("engine unreachable at <url>: … Is it running?"). */
function engineReason(error) {
  return String(error || "no answer")
    .replace(/^starting [0-9a-f]{40}: /, "")
    .replace(/^engine unreachable at \S+: /, "")
    .replace(/\s*Is the AceStream engine running\?$/, "");
}

async function refreshHealth(schedule = true) {
  const pill = $("engine-pill");
  const status = $("engine-status");
  const banner = $("engine-banner");
  try {
    const health = await api("GET", "/api/health");
    const engine = health.engine;
    if (!engineUrlShown) {
      $("engine-url").value = plainUrl(engine.url);
      engineUrlShown = true;
    }
    engineReachable = engine.reachable;
    renderEnginePool(health.engines || []);
    // acebridge may start (and stop) the engine itself when it knows a command.
    const process = engine.process || {};
    const starting = process.state === "starting";
    const canStart = Boolean(process.command) && process.state !== "not managed";
    const ours = Boolean(process.started_by_acebridge);
    $("banner-start").hidden = engine.reachable || !canStart;
    const why = $("banner-why");
    why.hidden = engine.reachable || canStart;
    why.textContent = process.command
      ? "acebridge starts an engine only on this computer; this URL points elsewhere."
      : "No engine program found to start here: install AceStream, or set engine_command in the settings.";
    $("banner-start").disabled = starting;
    $("engine-start").hidden = engine.reachable || !canStart;
    $("engine-start").disabled = starting;
    $("engine-stop").hidden = !(engine.reachable && ours);
    if (engine.reachable) {
      setStatus(pill, `Engine ${engine.version}`, "ok");
      pill.href = "#engine";
      const whose = ours ? " Started by acebridge." : "";
      setStatus(status, `${plainUrl(engine.url)} is reachable, version ${engine.version}.${whose}`, "ok");
      banner.hidden = true;
    } else {
      setStatus(pill, starting ? "Engine starting…" : "Engine unreachable", "bad");
      pill.href = "#engine-banner";
      $("banner-url").textContent = plainUrl(engine.url);
      const why = process.state === "failed" && process.error ? process.error : engineReason(engine.error);
      setStatus(status, `${plainUrl(engine.url)} does not answer (${why}).`, "bad");
      banner.hidden = false;
    }
  } catch (error) {
    engineReachable = null;
    setStatus(pill, "acebridge unreachable", "bad");
    setStatus(status, error.message, "bad");
  }
  if (schedule) {
    clearTimeout(healthTimer);
    healthTimer = setTimeout(refreshHealth, HEALTH_EVERY_MS);
  }
}

async function retryEngine() {
  const status = $("banner-status");
  setStatus(status, "Checking…");
  await refreshHealth(false);
  if (engineReachable) {
    setStatus(status, "");
    announce("The engine answers now");
  } else {
    setStatus(status, `Still no answer at ${new Date().toLocaleTimeString()}.`, "bad");
  }
}

/** Start or Stop engine (`what`), from the banner or the engine card. */
async function engineProcess(what, status) {
  setStatus(status, what === "start" ? "Starting the engine…" : "Stopping the engine…");
  for (const id of ["banner-start", "engine-start", "engine-stop"]) $(id).disabled = true;
  try {
    await api("POST", `/api/engine/${what}`, {});
    setStatus(status, what === "start" ? "The engine runs." : "The engine is stopped.", "ok");
  } catch (error) {
    setStatus(status, error.message, "bad");
  }
  for (const id of ["banner-start", "engine-start", "engine-stop"]) $(id).disabled = false;
  await refreshHealth(false);
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
  const buttons = [$("engine-test"), $("engine-save"), $("engine-add")];
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
  await testEngineUrl(engine);
}

async function testEngineUrl(engine) {
  const message = $("engine-message");
  setStatus(message, `Testing ${engine}…`);
  await withButtons(async () => {
    try {
      const result = await api("POST", "/api/engine/test", { engine });
      if (result.reachable) {
        setStatus(message, `Reachable: ${plainUrl(result.engine)} runs version ${result.version}.`, "ok");
      } else {
        setStatus(message, `Not reachable: ${engineReason(result.error)}.`, "bad");
      }
    } catch (error) {
      setStatus(message, error.message, "bad");
    }
  });
}

/** Save: the typed URL becomes the only engine. With a pool that replaces
 *  every engine listed, so the page asks first (Add engine keeps them). */
async function saveEngine(event) {
  event.preventDefault();
  const engine = engineInput();
  if (engine === null) return;
  if (poolEngines.length > 1) {
    askReplacePool(engine);
    return;
  }
  await saveOneEngine(engine);
}

/** Engine the Save question is about, while it is asked. */
let replacingWith = null;

function askReplacePool(engine) {
  replacingWith = engine;
  const listed = poolEngines.some((other) => plainUrl(other.url) === plainUrl(engine));
  const others = poolEngines.length - (listed ? 1 : 0);
  const them = others === 1 ? "the other engine listed is" : `the ${others} ${listed ? "other " : ""}engines listed are`;
  const it = others === 1 ? "it" : "them";
  $("engine-replace-text").textContent =
    `Save makes ${engine} the only engine: ${them} taken off. ` +
    `Channels playing on ${it} play on until they end; every new channel goes to ${engine}. ` +
    `To keep ${it} and add this one, use Add engine.`;
  $("engine-replace-yes").textContent = `Replace ${it}`;
  $("engine-replace-no").textContent = `Keep ${it}`;
  $("engine-replace").hidden = false;
  setStatus($("engine-message"), "");
  $("engine-replace-no").focus();
}

/** Closes the question; `answer` says what became of the pool. */
function closeReplacePool(answer) {
  replacingWith = null;
  $("engine-replace").hidden = true;
  if (answer) setStatus($("engine-message"), answer);
}

/** Keep them (or Escape): the pool stays as it is. */
function keepPool() {
  closeReplacePool(`Kept the ${poolEngines.length} engines.`);
  $("engine-url").focus();
}

async function replacePool() {
  const engine = replacingWith;
  closeReplacePool();
  if (engine !== null) await saveOneEngine(engine);
  $("engine-url").focus();
}

async function saveOneEngine(engine) {
  const message = $("engine-message");
  setStatus(message, "Saving…");
  await withButtons(async () => {
    try {
      const saved = await api("PUT", "/api/settings", { engine });
      $("engine-url").value = plainUrl(saved.engine);
      await refreshHealth(false);
      if (engineReachable) {
        setStatus(message, "Saved. New channels use this engine.", "ok");
      } else {
        setStatus(message, "Saved, but this engine does not answer: new channels will fail until it does.", "bad");
      }
    } catch (error) {
      setStatus(message, error.message, "bad");
    }
  });
}

/* ------------------------------------------------------------------ engine pool */

/** The engines of `/api/health`, as last shown. */
let poolEngines = [];

/** With several engines: each with its state and channels, and Test and Remove. */
function renderEnginePool(engines) {
  poolEngines = engines;
  $("engine-pool").hidden = engines.length < 2;
  // The Save question is about a pool: gone with it.
  if (engines.length < 2 && replacingWith !== null) closeReplacePool();
  $("engine-list").replaceChildren(...engines.map((engine) => {
    const url = plainUrl(engine.url);
    const item = document.createElement("li");
    const text = document.createElement("span");
    const room = engine.max_channels != null ? ` of ${engine.max_channels}` : "";
    const why = engine.state === "down" && engine.last_error ? ` (${engineReason(engine.last_error)})` : "";
    const state = engine.state === "unknown" ? "not checked yet" : engine.state;
    const channels = `${engine.channels}${room} ${engine.channels === 1 && !room ? "channel" : "channels"}`;
    text.textContent = `${url}: ${state}, ${channels}${why}`;
    text.className = engine.state === "up" ? "ok" : engine.state === "down" ? "bad" : "";
    const others = engines.filter((other) => other.url !== engine.url);
    item.append(
      text,
      makeButton("Test", `Test ${url}`, { onClick: () => testEngineUrl(url) }),
      makeButton("Remove", `Remove ${url}`, { onClick: () => changePool(others, `Removed ${url}.`) }),
    );
    return item;
  }));
}

/** An engine as `PUT /api/settings {"engines"}` takes it. */
function poolEntry(engine) {
  const url = plainUrl(engine.url);
  return engine.max_channels != null ? { url, max_channels: engine.max_channels } : url;
}

async function changePool(engines, done) {
  const message = $("engine-message");
  try {
    await api("PUT", "/api/settings", { engines: engines.map(poolEntry) });
    await refreshHealth(false);
    setStatus(message, done, "ok");
  } catch (error) {
    setStatus(message, error.message, "bad");
  }
}

/** Add engine: the typed URL joins the engines there are. */
async function addEngine() {
  const engine = engineInput();
  if (engine === null) return;
  if (replacingWith !== null) closeReplacePool();
  const engines = [...poolEngines, { url: engine, max_channels: null }];
  await withButtons(() => changePool(engines, `Added ${engine}: new channels are spread over ${engines.length} engines.`));
}

/** Brings the engine URL field into view and focus (the tray opens the window at /#engine). */
function focusEngineIfAsked() {
  if (location.hash !== "#engine") return;
  const field = $("engine-url");
  $("engine").scrollIntoView({ block: "start" });
  field.focus({ preventScroll: true });
  field.select();
}

/* ------------------------------------------------------------------ tuner */

/** The tuner count, from the tuner's own discover.json (what media centres read). */
async function loadTuner() {
  try {
    const response = await fetch("/discover.json" + location.search, { cache: "no-store" });
    if (!response.ok) return;
    const tuner = await response.json();
    if (Number.isInteger(tuner.TunerCount)) $("tuner-count").textContent = String(tuner.TunerCount);
  } catch (_) {
    // The section keeps its wording without a number.
  }
}

/* ------------------------------------------------------------------ settings */

async function loadSettings() {
  try {
    const settings = await api("GET", "/api/settings");
    if (settings.lan_token) {
      const query = `token=${encodeURIComponent(settings.lan_token)}`;
      $("lan-token").textContent = `?${query}`;
      $("lan").hidden = false;
      $("playlist-url").value = `${location.origin}/playlist.m3u?${query}`;
      const port = location.port ? `:${location.port}` : "";
      $("tuner-lan-url").textContent =
        `http://<LAN address>${port}/hdhr/${encodeURIComponent(settings.lan_token)}`;
      $("tuner-lan").hidden = false;
    }
    const warnings = settings.warnings || [];
    const banner = $("settings-banner");
    if (warnings.length && !sessionStorage.getItem(`acebridge.dismissed.${warnings[0]}`)) {
      // The first sentence names the file and where its copy is; the others, each
      // about one line of it, need not repeat the file's name.
      const file = settings.settings_file || "";
      $("settings-summary").textContent = warnings[0];
      $("settings-warnings").replaceChildren(...warnings.slice(1).map((text) => {
        const li = document.createElement("li");
        if (file && text.startsWith(`${file} line `)) {
          li.textContent = `Line ${text.slice(file.length + 6)}`;
        } else if (file && text.startsWith(`${file}: `)) {
          li.textContent = text.slice(file.length + 2);
        } else {
          li.textContent = text;
        }
        return li;
      }));
      banner.hidden = false;
      banner.dataset.key = warnings[0];
    }
    showImports(settings.imports || [], settings.list_removals || {});
  } catch (error) {
    // The page works without it; the URLs from the server carry the token anyway.
  }
}

/* ------------------------------------------------------------------ start */

/* ------------------------------------------------------------------ recordings */

const RECORDING_POLL_MS = 2000;
const RUNNING = new Set(["starting", "recording"]);
const recordingItems = new Map();
let recordingsTimer = 0;

function formatSize(bytes) {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.round(bytes / 1e3)} kB`;
}

/** "0:42 · 12.3 MB", and the drops when the disk was too slow. */
function recordingMeta(rec) {
  if (rec.state === "scheduled" || rec.state === "missed") {
    const from = new Date(rec.start_unix * 1000);
    const to = new Date(rec.ends_at * 1000);
    return `${from.toLocaleString()} – ${to.toLocaleTimeString()}`;
  }
  const drops = rec.dropped ? ` · ${rec.dropped} ${rec.dropped === 1 ? "drop" : "drops"}` : "";
  return `${formatUptime(rec.duration_secs || 0)} · ${formatSize(rec.bytes || 0)}${drops}`;
}

function recordingItem(rec) {
  const li = document.createElement("li");
  li.dataset.id = rec.id;
  const title = document.createElement("strong");
  title.className = "rec-title";
  const state = document.createElement("span");
  const meta = document.createElement("span");
  meta.className = "rec-meta";
  const stop = document.createElement("button");
  stop.type = "button";
  stop.className = "rec-stop";
  const file = document.createElement("code");
  file.className = "rec-file";
  const error = document.createElement("span");
  error.className = "rec-error";
  stop.addEventListener("click", async () => {
    stop.disabled = true;
    try {
      await api("DELETE", `/api/recordings/${encodeURIComponent(li.dataset.id)}`);
      announce("Recording stopped; the file stays");
    } catch (failure) {
      error.hidden = false;
      error.textContent = `Could not stop: ${failure.message}`;
    }
    stop.disabled = false;
    loadRecordings(false);
  });
  li.append(title, state, meta, stop, file, error);
  return li;
}

function fillRecording(li, rec) {
  const title = rec.title || rec.channel;
  li.querySelector(".rec-title").textContent = rec.programme ? `${title} – ${rec.programme}` : title;
  const state = li.children[1];
  state.className = `badge ${rec.state}`;
  state.textContent = rec.state === "recording" ? "● recording" : rec.state;
  li.querySelector(".rec-meta").textContent = recordingMeta(rec);
  const stop = li.querySelector(".rec-stop");
  const scheduled = rec.state === "scheduled" || rec.state === "missed";
  stop.hidden = !(RUNNING.has(rec.state) || scheduled);
  stop.textContent = scheduled ? "Cancel" : "Stop";
  stop.setAttribute("aria-label", `${stop.textContent} the recording of ${rec.title || rec.channel}`);
  const file = li.querySelector(".rec-file");
  file.hidden = !rec.file;
  file.textContent = rec.file || "";
  const error = li.querySelector(".rec-error");
  if (!error.textContent.startsWith("Could not stop")) {
    error.hidden = !rec.error;
    error.textContent = rec.error || "";
  }
}

/** The Recordings section, and "● Recording" on the Now playing cards. */
function showRecordings(data) {
  const list = $("recording-list");
  $("recordings").hidden = data.recordings.length === 0;
  $("recordings-dir").textContent = data.dir;
  const seen = new Set();
  data.recordings.forEach((rec, index) => {
    seen.add(rec.id);
    let li = recordingItems.get(rec.id);
    if (!li) {
      li = recordingItem(rec);
      recordingItems.set(rec.id, li);
    }
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    fillRecording(li, rec);
  });
  for (const [id, li] of recordingItems) {
    if (!seen.has(id)) {
      li.remove();
      recordingItems.delete(id);
    }
  }
  const running = data.recordings.filter((rec) => rec.state === "recording");
  for (const [key, card] of streamCards) {
    const mine = running.filter((rec) => rec.channel === key || rec.channel === card.dataset.id);
    const badge = card.querySelector(".badge.rec");
    badge.hidden = mine.length === 0;
    if (mine.length) {
      const longest = mine.reduce((a, b) => (a.duration_secs >= b.duration_secs ? a : b));
      const bytes = mine.reduce((sum, rec) => sum + (rec.bytes || 0), 0);
      badge.textContent = `● Recording ${formatUptime(longest.duration_secs || 0)} · ${formatSize(bytes)}`;
    }
  }
  return data.recordings.some((rec) => RUNNING.has(rec.state) || rec.state === "scheduled");
}

async function loadRecordings(schedule = true) {
  let busy = false;
  try {
    busy = showRecordings(await api("GET", "/api/recordings"));
  } catch (_) {
    /* the streams view reports an unreachable server */
  }
  if (schedule) {
    clearTimeout(recordingsTimer);
    recordingsTimer = setTimeout(loadRecordings, busy ? RECORDING_POLL_MS : POLL_EVERY_MS);
  }
}

/** Record on a channel row or a Now playing card: the channel's key, or the id playing. */
async function onRecordClick(event) {
  const button = event.target.closest("button.record");
  if (!button) return;
  const row = button.closest("li.channel");
  const card = button.closest("li.stream");
  const channel = row ? row.dataset.id : card && card.dataset.key;
  const status = row ? row.querySelector(".channel-status") : card.querySelector(".stream-status");
  if (!channel) return;
  button.disabled = true;
  setStatus(status, "Starting the recording…");
  try {
    const rec = await api("POST", "/api/recordings", { channel });
    setStatus(status, `Recording to ${rec.file}`, "ok");
  } catch (error) {
    setStatus(status, `Could not record: ${error.message}`, "bad");
  }
  button.disabled = false;
  loadRecordings(false);
}

function startRecordings() {
  $("channel-groups").addEventListener("click", onRecordClick);
  $("stream-list").addEventListener("click", onRecordClick);
  loadRecordings();
}

function start() {
  $("add-form").addEventListener("submit", addChannels);
  $("paste").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) addChannels(event);
  });
  $("import-form").addEventListener("submit", (event) => importList(event));
  $("engine-form").addEventListener("submit", saveEngine);
  $("engine-replace-yes").addEventListener("click", replacePool);
  $("engine-replace-no").addEventListener("click", keepPool);
  $("engine-replace").addEventListener("keydown", (event) => {
    if (event.key === "Escape") keepPool();
  });
  $("engine-test").addEventListener("click", testEngine);
  $("engine-add").addEventListener("click", addEngine);
  $("banner-retry").addEventListener("click", retryEngine);
  $("banner-start").addEventListener("click", () => engineProcess("start", $("banner-status")));
  $("engine-start").addEventListener("click", () => engineProcess("start", $("engine-message")));
  $("engine-stop").addEventListener("click", () => engineProcess("stop", $("engine-message")));
  $("banner-change").addEventListener("click", (event) => {
    event.preventDefault();
    history.replaceState(null, "", "#engine");
    focusEngineIfAsked();
  });
  $("settings-dismiss").addEventListener("click", () => {
    const banner = $("settings-banner");
    sessionStorage.setItem(`acebridge.dismissed.${banner.dataset.key}`, "1");
    banner.hidden = true;
  });
  $("tuner-url").value = location.origin;
  $("tuner-copy").addEventListener("click", () =>
    copyWithFeedback($("tuner-url").value, $("tuner-copy"), "tuner address", () => $("tuner-url").select()));
  $("playlist-url").value = `${location.origin}/playlist.m3u`;
  $("playlist-copy").addEventListener("click", () =>
    copyWithFeedback($("playlist-url").value, $("playlist-copy"), "playlist URL", () => $("playlist-url").select()));
  const groupsBox = $("channel-groups");
  groupsBox.addEventListener("click", onChannelClick);
  groupsBox.addEventListener("submit", (event) => {
    event.preventDefault();
    const row = event.target.closest("li.channel");
    if (!row) return;
    if (event.target.classList.contains("alt-add")) {
      const input = event.target.querySelector(".alt-input");
      changeAlternates(row, "POST", "alternates", { id: input.value.trim() }, "Id added").then(() => { input.value = ""; });
    } else if (event.target.classList.contains("alt-merge")) {
      const from = event.target.querySelector(".merge-select").value;
      if (from) changeAlternates(row, "POST", "merge", { from }, "Merged");
    } else {
      saveMenu(row);
    }
  });
  groupsBox.addEventListener("keydown", (event) => {
    const row = event.target.closest("li.channel");
    if (row && event.key === "Escape" && row.querySelector(".menu:not([hidden])")) {
      toggleMenu(row, false);
      row.querySelector(".more").focus();
    }
  });
  $("search").addEventListener("input", (event) => {
    searchText = event.target.value.trim();
    searchProgrammes(searchText);
    for (const id of pinned) {
      const entry = rows.get(id);
      if (entry) entry.row.classList.remove("pinned");
    }
    pinned.clear();
    applySearch();
  });
  $("now-title").tabIndex = -1;
  window.addEventListener("hashchange", focusEngineIfAsked);
  loadChannels();
  loadSettings();
  loadTuner();
  startRecordings();
  startGuide();
  connectEvents();
  refreshHealth().then(focusEngineIfAsked);
  focusEngineIfAsked();
}

start();
