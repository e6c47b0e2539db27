"use strict";
// The guide on each channel: its programmes with a Record button each (under the
// row's now/next), which guide channel it is matched to and picking another (in
// its menu), a recording planned by time (in its menu), and the channel search
// finding programmes later than now/next. Loaded before app.js, which calls it;
// it calls app.js's helpers ($, api, setStatus, makeButton, rows, loadRecordings…)
// only from within its functions.

/** "20:00", or "Sat 01:00" for another day than today. */
function dayTime(unix) {
  const at = new Date(unix * 1000);
  const time = clockTime(unix);
  return at.toDateString() === new Date().toDateString()
    ? time
    : `${at.toLocaleDateString([], { weekday: "short" })} ${time}`;
}

/** The value a datetime-local input shows for `unix`, in local time. */
function localInputValue(unix) {
  const at = new Date(unix * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/* ---- a channel's programmes, each with Record */

/** The schedule that records `programme` of `channelId`, if one is planned. */
function scheduleOf(schedules, channelId, programme) {
  return schedules.find((rec) => rec.channel === channelId && rec.programme === programme.title
    && rec.start_unix < programme.stop && rec.ends_at > programme.start);
}

function programmeItem(row, programme, schedule) {
  const li = document.createElement("li");
  li.className = "programme";
  const when = document.createElement("time");
  when.dateTime = new Date(programme.start * 1000).toISOString();
  when.textContent = `${dayTime(programme.start)}–${clockTime(programme.stop)}`;
  const title = document.createElement("span");
  title.className = "programme-title";
  title.textContent = programme.title;
  li.append(when, " ", title, " ");
  if (schedule) {
    const badge = document.createElement("span");
    badge.className = "badge scheduled";
    badge.textContent = "scheduled";
    li.append(badge, " ", makeButton("Cancel", `Cancel the recording of ${programme.title}`, {
      className: "programme-cancel",
      onClick: () => cancelProgramme(row, schedule),
    }));
  } else {
    li.append(makeButton("Record", `Record ${programme.title} at ${dayTime(programme.start)}`, {
      className: "programme-record",
      onClick: (event) => recordProgramme(row, programme, event.currentTarget),
    }));
  }
  return li;
}

/** Fills the row's programme list from the guide (now to a day ahead). */
async function loadProgrammes(row) {
  const list = row.querySelector(".programmes");
  const id = row.dataset.id;
  try {
    const [guide, recordings] = await Promise.all([
      api("GET", `/api/guide?channel=${encodeURIComponent(id)}`),
      api("GET", "/api/recordings"),
    ]);
    const schedules = recordings.recordings.filter((rec) => rec.state === "scheduled");
    if (guide.programmes.length === 0) {
      const empty = document.createElement("li");
      empty.textContent = "The guide has nothing for this channel in the next day.";
      list.replaceChildren(empty);
      return;
    }
    list.replaceChildren(...guide.programmes.map((p) => programmeItem(row, p, scheduleOf(schedules, id, p))));
  } catch (error) {
    setStatus(row.querySelector(".channel-status"), `Could not load the programmes: ${error.message}`, "bad");
  }
}

function labelToggle(row) {
  const title = rows.get(row.dataset.id)?.channel.title || "";
  row.querySelector(".guide-toggle").setAttribute("aria-label", `All programmes of ${title}`);
}

function toggleProgrammes(row, button) {
  labelToggle(row);
  const list = row.querySelector(".programmes");
  const open = list.hidden;
  list.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  button.textContent = open ? "▾" : "▸";
  if (open) loadProgrammes(row);
}

function recordingWindow(rec) {
  return `${dayTime(rec.start_unix)}–${clockTime(rec.ends_at)}`;
}

async function recordProgramme(row, programme, button) {
  const status = row.querySelector(".channel-status");
  button.disabled = true;
  try {
    const rec = await api("POST", "/api/recordings", { channel: row.dataset.id, programme: { start: programme.start } });
    setStatus(status, `Scheduled “${programme.title}”: records ${recordingWindow(rec)}`, "ok");
    announce(`${programme.title} will be recorded`);
  } catch (error) {
    setStatus(status, `Could not schedule “${programme.title}”: ${error.message}`, "bad");
    button.disabled = false;
    return;
  }
  loadRecordings(false);
  loadProgrammes(row);
}

async function cancelProgramme(row, schedule) {
  const status = row.querySelector(".channel-status");
  try {
    await api("DELETE", `/api/recordings/${encodeURIComponent(schedule.id)}`);
    setStatus(status, `Cancelled the recording of “${schedule.programme}”`, "ok");
  } catch (error) {
    setStatus(status, `Could not cancel: ${error.message}`, "bad");
  }
  loadRecordings(false);
  loadProgrammes(row);
}

/* ---- which guide channel a channel is (in its menu) */

const HOW = { "tvg-id": "matched by its tvg-id", name: "matched by its name", pick: "your pick" };

function showMatch(menu, matched, picked) {
  const text = menu.querySelector(".guide-match");
  if (matched) {
    const name = matched.names[0] || matched.id;
    text.textContent = `${name} (${matched.id}) · ${HOW[matched.how] || matched.how}`;
  } else if (picked) {
    text.textContent = `${picked} · your pick, not in the guide now`;
  } else {
    text.textContent = "No guide channel matches this channel: search the guide below to pick one.";
  }
  menu.querySelector(".guide-auto").hidden = !picked;
}

async function loadMatch(menu, id) {
  try {
    const guide = await api("GET", `/api/guide?channel=${encodeURIComponent(id)}&to=0&from=0`);
    showMatch(menu, guide.matched, rows.get(id)?.channel.guide_id);
  } catch (error) {
    setStatus(menu.querySelector(".guide-pick-status"), `Could not read the guide: ${error.message}`, "bad");
  }
}

async function searchGuideChannels(menu) {
  const query = menu.querySelector(".guide-query").value.trim();
  const hits = menu.querySelector(".guide-hits");
  if (!query) {
    hits.replaceChildren();
    return;
  }
  try {
    const found = await api("GET", `/api/guide/channels?q=${encodeURIComponent(query)}`);
    if (menu.querySelector(".guide-query").value.trim() !== query) return;
    if (found.length === 0) {
      const none = document.createElement("li");
      none.textContent = `No guide channel is called “${query}”.`;
      hits.replaceChildren(none);
      return;
    }
    hits.replaceChildren(...found.map((hit) => {
      const li = document.createElement("li");
      const name = hit.names[0] || hit.id;
      li.append(`${name} `, Object.assign(document.createElement("code"), { textContent: hit.id }), " ",
        makeButton("Use", `Use the guide channel ${name}`, {
          className: "guide-use",
          onClick: () => pickGuide(menu, hit.id),
        }));
      return li;
    }));
  } catch (error) {
    setStatus(menu.querySelector(".guide-pick-status"), `Could not search the guide: ${error.message}`, "bad");
  }
}

/** Keeps `guideId` as the channel's guide channel (`null`: matched automatically again). */
async function pickGuide(menu, guideId) {
  const id = menu.closest("li.channel").dataset.id;
  const status = menu.querySelector(".guide-pick-status");
  try {
    const picked = await api("PUT", `/api/channels/${encodeURIComponent(id)}/guide`, { guide_id: guideId });
    const entry = rows.get(id);
    if (entry) entry.channel.guide_id = picked.guide_id;
    showMatch(menu, picked.matched, picked.guide_id);
    menu.querySelector(".guide-hits").replaceChildren();
    menu.querySelector(".guide-query").value = "";
    setStatus(status, guideId ? "Kept; now and next follow it" : "Matched automatically again", "ok");
    // Now/next of the row change with the pick.
    api("GET", "/api/channels").then((list) => applyChannels(list.channels)).catch(() => {});
  } catch (error) {
    setStatus(status, `Could not keep the pick: ${error.message}`, "bad");
  }
}

/* ---- a recording planned by time (in the menu) */

/** The range the form asks for, in unix seconds, or a sentence saying what is wrong. */
function laterRange(form) {
  const startText = form.querySelector(".later-start").value;
  const endText = form.querySelector(".later-end").value;
  const minutes = Number(form.querySelector(".later-mins").value);
  if (!startText) return "Say when the recording starts.";
  const start = Math.floor(new Date(startText).getTime() / 1000);
  if (Number.isNaN(start)) return "The start is not a date and time.";
  let end;
  if (form.querySelector(".later-mins").value) {
    if (!Number.isInteger(minutes) || minutes < 1) return "The length is a whole number of minutes, at least 1.";
    end = start + minutes * 60;
  } else if (endText) {
    end = Math.floor(new Date(endText).getTime() / 1000);
  } else {
    return "Say when it ends, or for how many minutes it records.";
  }
  if (end <= start) return "The end is before the start.";
  if (end <= Date.now() / 1000) return "That time is over already.";
  return { start, end };
}

async function scheduleLater(event) {
  event.preventDefault();
  // The menu's own form handler (rename) must not see this one.
  event.stopPropagation();
  const form = event.currentTarget;
  const status = form.querySelector(".later-status");
  const range = laterRange(form);
  if (typeof range === "string") {
    setStatus(status, range, "bad");
    return;
  }
  const channel = form.closest("li.channel").dataset.id;
  form.querySelector(".later-add").disabled = true;
  try {
    const rec = await api("POST", "/api/recordings", { channel, start_unix: range.start, end_unix: range.end });
    setStatus(status, `Scheduled: records ${recordingWindow(rec)}`, "ok");
    loadRecordings(false);
  } catch (error) {
    setStatus(status, `Could not schedule: ${error.message}`, "bad");
  } finally {
    form.querySelector(".later-add").disabled = false;
  }
}

/** Called by the menu when it opens: the guide match, and the form's defaults. */
function openGuideMenu(menu, id) {
  if (!menu.dataset.guideReady) {
    menu.dataset.guideReady = "1";
    const query = menu.querySelector(".guide-query");
    let timer = 0;
    query.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => searchGuideChannels(menu), 250);
    });
    menu.querySelector(".guide-search").addEventListener("submit", (event) => {
      event.preventDefault();
      event.stopPropagation();
      searchGuideChannels(menu);
    });
    menu.querySelector(".guide-auto").addEventListener("click", () => pickGuide(menu, null));
    menu.querySelector(".record-later").addEventListener("submit", scheduleLater);
    const start = menu.querySelector(".later-start");
    const nextHour = Math.ceil(Date.now() / 3600000) * 3600;
    start.value = localInputValue(nextHour);
    menu.querySelector(".later-end").value = localInputValue(nextHour + 3600);
  }
  loadMatch(menu, id);
}

/* ---- the channel search finds programmes later than now/next */

/** id → the programme the last search matched on that channel. */
const programmeHits = new Map();
let programmeQuery = "";
let programmeTimer = 0;

/** Whether the row matches the search by a later programme (said on the row). */
function matchesByProgramme(row) {
  return programmeHits.has(row.dataset.id);
}

function showProgrammeHits() {
  for (const [id, entry] of rows) {
    const line = entry.row.querySelector(".programme-hit");
    if (!line) continue;
    const hit = programmeHits.get(id);
    line.hidden = !hit;
    line.textContent = hit ? `Found: ${hit.title} · ${dayTime(hit.start)}` : "";
  }
}

/** Asks the server which channels show a programme called like `text` (from now to the guide's end). */
function searchProgrammes(text) {
  clearTimeout(programmeTimer);
  programmeQuery = text;
  programmeHits.clear();
  showProgrammeHits();
  if (searchWords(text).length === 0 || idQuery(text)) return;
  programmeTimer = setTimeout(async () => {
    try {
      const hits = await api("GET", `/api/guide/search?q=${encodeURIComponent(text)}`);
      if (programmeQuery !== text) return;
      programmeHits.clear();
      for (const hit of hits) programmeHits.set(hit.channel, hit.programme);
      showProgrammeHits();
      applySearch();
    } catch (_) {
      /* the search by name still works */
    }
  }, 200);
}

function startGuideControls() {
  $("channel-groups").addEventListener("click", (event) => {
    const toggle = event.target.closest(".guide-toggle");
    if (toggle) toggleProgrammes(toggle.closest("li.channel"), toggle);
  });
  $("guide-placeholders").addEventListener("change", async (event) => {
    const box = event.target;
    try {
      const options = await api("PUT", "/api/guide/options", { placeholders: box.checked });
      box.checked = options.placeholders;
      setStatus($("guide-status"), box.checked
        ? "Channels without guide data get placeholder programmes in /epg.xml"
        : "Channels without guide data have no programmes in /epg.xml", "ok");
    } catch (error) {
      box.checked = !box.checked;
      setStatus($("guide-status"), `Could not change it: ${error.message}`, "bad");
    }
  });
}
