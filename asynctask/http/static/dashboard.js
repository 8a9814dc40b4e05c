/* The AsyncTask dashboard: asks the service's JSON routes every 2 s and updates the page in place.

   Every value from the server goes in as text (textContent, text nodes,
   dataset), never as HTML, so a task whose params or log hold markup shows
   it literally. The token, when the service asks for one, is kept in
   sessionStorage and sent as an Authorization header, never in a URL. */
"use strict";

(() => {
  const ENDPOINT = document.querySelector('meta[name="asynctask-endpoint"]').content;
  const BASE = ENDPOINT.replace(/\/+$/, "");
  const TOKEN_KEY = "asynctask-token " + ENDPOINT;
  const EVERY_MS = 2000;
  const PAGE_SIZE = 50;
  const STATUSES = ["running", "success", "failed"];
  const COLUMNS = ["Task", "Status", "Progress", "Attempt", "Submitted", "Started", "Ended", "Error"];
  const FACTS = [
    ["attempt", "Attempt"], ["progress", "Progress"], ["create_time", "Submitted"],
    ["start_time", "Started"], ["end_time", "Ended"], ["update_time", "Updated"],
    ["retries_left", "Retries left"], ["retry_time", "Retry at"],
  ];
  const $ = (id) => document.getElementById(id);
  const stacked = window.matchMedia("(max-width: 1199px)"); // the detail is below the list (dashboard.css)

  const view = {
    status: "", // the status filter; "" is every task
    cursor: null, // the cursor of the page shown (null: the first page)
    newer: [], // the cursors of the pages before it
    next: null, // the next_cursor of the page shown
    generation: 0, // bumped when the filter or the page changes: older answers are dropped
    rows: new Map(), // task_id -> its <tr>
    open: null, // the task_id shown in the detail pane
    log: { offset: 0, done: false }, // how far the open task's log is read
    facts: new Map(), // detail field -> its <dd>
    timer: null,
    busy: false,
    again: false,
    needsToken: false,
  };

  class NeedsToken extends Error {}

  /* One JSON request; answers the envelope's data, or throws with its error_msg. */
  async function call(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const answer = await fetch(path, init);
    const envelope = await answer.json().catch(() => ({ status: "error", error_msg: "HTTP " + answer.status }));
    if (answer.status === 401) {
      askForToken(token ? "That token was refused." : "");
      throw new NeedsToken("needs a token");
    }
    if (envelope.status !== "ok") throw new Error(envelope.error_msg || "HTTP " + answer.status);
    return envelope.data;
  }

  function query(params) {
    const given = Object.entries(params).filter(([, value]) => value !== null && value !== "");
    return new URLSearchParams(given).toString();
  }

  function askForToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    view.needsToken = true;
    setText($("token-message"), message);
    if ($("token-form").hidden) {
      $("token-form").hidden = false;
      $("token-input").focus();
    }
    say("waiting for the token");
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault(); // never a form submission: the token must not reach a URL
    const token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    $("token-form").hidden = true;
    view.needsToken = false;
    refresh();
  });

  /* One round: counts, the page of tasks and the open detail; then the next round in 2 s. */
  async function refresh() {
    if (view.busy) {
      view.again = true;
      return;
    }
    view.busy = true;
    clearTimeout(view.timer);
    try {
      if (!document.hidden) {
        await Promise.all([refreshCounts(), refreshList(), refreshDetail()]);
        say("updated " + new Date().toISOString().slice(11, 19) + " · all times UTC");
      }
    } catch (error) {
      if (!(error instanceof NeedsToken)) say("cannot reach the service: " + error.message, true);
    } finally {
      view.busy = false;
    }
    if (view.needsToken) return;
    if (view.again) {
      view.again = false;
      refresh();
    } else {
      view.timer = setTimeout(refresh, EVERY_MS);
    }
  }

  async function refreshCounts() {
    let counts = null;
    try {
      counts = await call("GET", BASE + "/counts");
    } catch (error) {
      if (error instanceof NeedsToken) throw error; // otherwise: a service without /counts shows none
    }
    let all = 0;
    for (const status of STATUSES) {
      const count = counts ? Number(counts[status]) || 0 : null;
      all += count || 0;
      setText($("count-" + status), count === null ? "" : String(count));
    }
    setText($("count-all"), counts ? String(all) : "");
  }

  async function refreshList() {
    const generation = view.generation;
    const asked = { status: view.status, limit: PAGE_SIZE, cursor: view.cursor };
    const page = await call("GET", BASE + "/tasks?" + query(asked));
    if (generation !== view.generation) return; // the filter or the page changed meanwhile
    view.next = page.next_cursor;
    const body = $("tasks").tBodies[0];
    const shown = new Set();
    page.tasks.forEach((task, index) => {
      shown.add(task.task_id);
      const row = view.rows.get(task.task_id) || newRow(task.task_id);
      fillRow(row, task);
      if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    });
    for (const [id, row] of view.rows) {
      if (!shown.has(id)) {
        row.remove();
        view.rows.delete(id);
      }
    }
    $("empty").hidden = page.tasks.length > 0;
    $("older").disabled = !view.next;
    $("newer").disabled = view.newer.length === 0;
  }

  function newRow(id) {
    const row = document.createElement("tr");
    row.dataset.taskId = id;
    row.tabIndex = 0;
    for (const label of COLUMNS) row.insertCell().dataset.label = label;
    const bar = document.createElement("progress");
    bar.max = 1;
    const note = document.createElement("span");
    note.className = "note";
    row.cells[2].append(bar, note);
    row.addEventListener("click", () => openDetail(id));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter") openDetail(id);
    });
    view.rows.set(id, row);
    return row;
  }

  function fillRow(row, task) {
    const cells = row.cells;
    setText(cells[0], task.task_id);
    setStatus(cells[1], task.status);
    fillProgress(cells[2], task.progress);
    setText(cells[3], String(task.attempt ?? ""));
    setTime(cells[4], task.create_time);
    setTime(cells[5], task.start_time);
    setTime(cells[6], task.end_time);
    setText(cells[7], lastLine(task.error));
    row.classList.toggle("open", task.task_id === view.open);
  }

  function fillProgress(cell, progress) {
    const [bar, note] = cell.children;
    bar.hidden = !progress;
    if (progress && typeof progress.fraction === "number") bar.value = progress.fraction;
    else bar.removeAttribute("value"); // no fraction: an indeterminate bar
    setText(note, progress && progress.message ? progress.message : "");
  }

  function openDetail(id) {
    if (view.open !== id) {
      view.open = id;
      view.log = { offset: 0, done: false };
      for (const name of ["id", "message", "params", "result", "error", "log"]) setText($("detail-" + name), "");
      setText($("detail-id"), id);
      $("detail").hidden = false;
      for (const [rowId, row] of view.rows) row.classList.toggle("open", rowId === id);
    }
    if (stacked.matches) $("detail").scrollIntoView({ block: "start" });
    refresh();
  }

  $("close").addEventListener("click", () => {
    view.open = null;
    $("detail").hidden = true;
    for (const row of view.rows.values()) row.classList.remove("open");
  });

  async function refreshDetail() {
    const id = view.open;
    if (!id) return;
    let task;
    try {
      task = await call("GET", ENDPOINT + "?" + query({ task_id: id }));
    } catch (error) {
      if (error instanceof NeedsToken) throw error;
      setText($("detail-message"), error.message);
      return;
    }
    if (view.open !== id) return;
    fillDetail(task);
    if (task.status === "running") view.log.done = false;
    await followLog(id, task.status !== "running");
  }

  function fillDetail(task) {
    setStatus($("detail-status"), task.status);
    setText($("detail-params"), pretty(task.params));
    setText($("detail-result"), pretty(task.result));
    setText($("detail-error"), task.error || "–");
    $("cancel").hidden = task.status !== "running";
    $("rerun").hidden = task.status !== "failed";
    for (const [field, label] of FACTS) {
      const value = field === "progress" ? progressText(task.progress) : task[field];
      const dd = view.facts.get(field) || newFact(field, label);
      dd.parentElement.hidden = value === undefined || value === null;
      setText(dd, field.endsWith("_time") ? timeText(value) : String(value ?? ""));
    }
  }

  function newFact(field, label) {
    const pair = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    pair.append(dt, dd);
    $("detail-times").append(pair);
    view.facts.set(field, dd);
    return dd;
  }

  /* Read the open task's log from where the last read ended, as `tail -f` does. */
  async function followLog(id, ended) {
    const log = view.log;
    for (let reads = 0; reads < 8 && !log.done; reads++) {
      const piece = await call("GET", BASE + "/logs?" + query({ task_id: id, offset: log.offset }));
      if (view.open !== id || view.log !== log) return;
      if (piece.text) appendLog(piece.text);
      const moved = piece.next_offset !== log.offset;
      log.offset = piece.next_offset;
      if (!moved) {
        log.done = ended; // an ended task has written its last line: no need to ask again
        return;
      }
    }
  }

  function appendLog(text) {
    const pre = $("detail-log");
    const pinned = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(text); // a text node: markup in a log line stays text
    if (pinned) pre.scrollTop = pre.scrollHeight;
  }

  async function act(path, body, done) {
    for (const id of ["cancel", "rerun"]) $(id).disabled = true;
    try {
      await call("POST", path, body);
      setText($("detail-message"), done);
      view.log.done = false;
    } catch (error) {
      if (!(error instanceof NeedsToken)) setText($("detail-message"), error.message);
    } finally {
      for (const id of ["cancel", "rerun"]) $(id).disabled = false;
    }
    refresh();
  }

  $("cancel").addEventListener("click", () => act(BASE + "/cancel", { task_id: view.open }, "cancelled"));
  $("rerun").addEventListener("click", () => act(ENDPOINT, { data: { task_id: view.open } }, "submitted again"));

  for (const button of document.querySelectorAll(".counts button")) {
    button.setAttribute("aria-pressed", String(button.classList.contains("chosen")));
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".counts button")) {
        other.classList.toggle("chosen", other === button);
        other.setAttribute("aria-pressed", String(other === button));
      }
      turnTo(null, [], button.dataset.status);
    });
  }
  $("older").addEventListener("click", () => view.next && turnTo(view.next, [...view.newer, view.cursor]));
  $("newer").addEventListener("click", () => view.newer.length && turnTo(view.newer.at(-1), view.newer.slice(0, -1)));

  function turnTo(cursor, newer, status = view.status) {
    Object.assign(view, { cursor, newer, status, generation: view.generation + 1 });
    refresh();
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text; // untouched text keeps a reader's selection
  }

  function setStatus(node, status) {
    setText(node, status || "");
    node.className = "status" + (STATUSES.includes(status) ? " status-" + status : "");
  }

  function setTime(node, iso) {
    setText(node, timeText(iso));
    node.title = iso || "";
  }

  /* "23:51:25" for a time in the last 12 hours, else "2026-12-01 23:51"; the cell's title has it all. */
  function timeText(iso) {
    if (!iso) return "–";
    const text = String(iso);
    const recent = Date.now() - Date.parse(text) < 12 * 3600 * 1000;
    return recent ? text.slice(11, 19) : text.slice(0, 16).replace("T", " ");
  }

  const lastLine = (text) => (text ? String(text).trim().split("\n").pop() : "");
  const pretty = (value) => (value === undefined ? "–" : JSON.stringify(value, null, 2));

  function progressText(progress) {
    if (!progress) return undefined;
    const part = typeof progress.fraction === "number" ? Math.round(progress.fraction * 100) + "%" : "";
    return [part, progress.message || ""].filter(Boolean).join(" ") || "–";
  }

  function say(text, isError = false) {
    setText($("state"), text);
    $("state").classList.toggle("error", isError);
  }

  document.addEventListener("visibilitychange", () => document.hidden || refresh());
  refresh();
})();
