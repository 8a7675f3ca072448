// The PLBA console: plain JavaScript over the control plane's JSON API. Signing in trades a
// token for a session cookie (HttpOnly: this script never sees it); changes carry the
// session's CSRF token. Data is always written with textContent, never as HTML.
"use strict";

const state = {
  session: null, previous: null, timer: null, views: [], search: {}, traceQuery: null, renders: 0,
  drawing: false,
};
const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function table(headers, rows) {
  const wrap = el("div", null, "table");
  const t = el("table");
  const head = el("tr");
  headers.forEach((h) => head.appendChild(el("th", h)));
  t.appendChild(head);
  rows.forEach((cells) => {
    const tr = el("tr");
    cells.forEach((cell) => {
      const td = el("td");
      if (cell instanceof Node) td.appendChild(cell);
      else td.textContent = cell === undefined || cell === null ? "–" : String(cell);
      tr.appendChild(td);
    });
    t.appendChild(tr);
  });
  wrap.appendChild(t);
  return wrap;
}

function badge(value) {
  return el("span", value, "state-" + String(value).toLowerCase());
}

async function api(method, path) {
  const headers = {};
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf;
  const response = await fetch(path, { method, headers, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (response.status === 401) { showSignIn(); }
  return { status: response.status, body };
}

function say(text, isError) {
  const m = $("message");
  m.textContent = text || "";
  m.className = isError ? "message error" : "message";
}

function isAdmin() { return state.session && state.session.role === "admin"; }
// Operators run the work (stop, start, dead letters); admins also the configuration.
function canOperate() { return state.session && (state.session.role === "operator" || isAdmin()); }

function button(label, action) {
  const b = el("button", label);
  b.type = "button";
  b.addEventListener("click", action);
  return b;
}

async function overview(content) {
  const [status, health] = await Promise.all([api("GET", "/status"), api("GET", "/health")]);
  const s = status.body || {};
  content.appendChild(table(["state", "uptime", "version", "configuration generation"], [[
    badge(s.state), s.uptime_seconds ? Math.round(s.uptime_seconds) + " s" : "–", s.version, s.config_generation,
  ]]));
  const contributors = (health.body && health.body.contributors) || [];
  content.appendChild(el("h3", "Health"));
  content.appendChild(table(["contributor", "state", "reason", "critical"],
    contributors.map((c) => [c.name, badge(c.state), c.reason, c.critical ? "yes" : "no"])));
  // Mail source liveness, from the metrics the sources export.
  const metrics = await fetch("/metrics", { credentials: "same-origin" });
  const text = metrics.status === 200 ? await metrics.text() : "";
  const value = (name) => {
    const line = text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
    return line ? Number(line.split(" ").pop()) : null;
  };
  const last = value("plba_mail_source_last_success_timestamp_seconds");
  if (last !== null) {
    content.appendChild(el("h3", "Mail source"));
    content.appendChild(table(
      ["last successful scan", "seconds since", "cycles", "published", "oldest unfinished mail"],
      [[last > 0 ? new Date(last * 1000).toISOString() : "never",
        Math.round(value("plba_mail_source_seconds_since_success")),
        value("plba_mail_source_cycles_total"), value("plba_mail_source_published_total"),
        Math.round(value("plba_mail_oldest_unprocessed_seconds")) + " s"]]));
  }
  if ((s.schedules || []).length > 0) {
    content.appendChild(el("h3", "Schedules"));
    content.appendChild(table(["schedule", "when", "next run", "last run", "last outcome", "runs here", "lease"],
      s.schedules.map((t) => [t.name, t.cadence, t.next_run || "–", t.last_run || "–", t.last_outcome || "–", t.runs,
        t.holds_lease === null ? "–" : (t.holds_lease ? "held here" : "elsewhere")])));
  }
  content.appendChild(el("h3", "Workers"));
  const workers = [];
  (s.workers || []).forEach((pool) => (pool.copies || []).forEach((copy) => workers.push([
    pool.name, copy.copy, badge(copy.status), copy.restarts, copy.last_error,
  ])));
  content.appendChild(table(["pool", "copy", "status", "restarts", "last error"], workers));
}

async function queues(content) {
  const status = await api("GET", "/status");
  const now = Date.now();
  const list = (status.body && status.body.queues) || [];
  const previous = state.previous;
  state.previous = { at: now, queues: list };
  const rate = (name, field, value) => {
    if (!previous || value === undefined) return "–";
    const before = previous.queues.find((q) => q.name === name);
    if (!before || !before.stats) return "–";
    const seconds = (now - previous.at) / 1000;
    return seconds > 0 ? ((value - before.stats[field]) / seconds).toFixed(1) + "/s" : "–";
  };
  content.appendChild(table(
    ["queue", "waiting", "oldest waiting", "in flight", "delayed", "dead", "published", "acked",
      "published rate", "acked rate", "error"],
    list.map((q) => {
      const st = q.stats || {};
      const oldest = st.oldest_waiting_ms === null || st.oldest_waiting_ms === undefined
        ? "–" : (st.oldest_waiting_ms / 1000).toFixed(1) + " s";
      return [q.name, st.depth, oldest, st.in_flight, st.delayed, st.dead, st.published, st.acked,
        rate(q.name, "published", st.published), rate(q.name, "acked", st.acked), q.error];
    })));
}

async function deadLetters(content) {
  const status = await api("GET", "/status");
  const names = ((status.body && status.body.queues) || []).map((q) => q.name);
  for (const name of names) {
    content.appendChild(el("h3", "Queue " + name));
    const path = "/queues/" + encodeURIComponent(name) + "/dead-letters";
    const letters = await api("GET", path + "?limit=100");
    const list = (letters.body && letters.body.dead_letters) || [];
    const settle = (verb, task) => async () => {
      const query = task ? "?task=" + encodeURIComponent(task) : "";
      const done = await api("POST", path + "/" + verb + query);
      if (done.status === 200) say(verb + ": " + JSON.stringify(done.body), false);
      else say((done.body && done.body.error && done.body.error.message) || "refused", true);
      render();
    };
    content.appendChild(table(["task", "name", "attempts", "last error", "dead since", ""],
      list.map((d) => {
        const actions = el("span");
        if (canOperate()) {
          actions.appendChild(button("Replay", settle("replay", d.task_id)));
          actions.appendChild(button("Purge", settle("purge", d.task_id)));
        }
        return [d.task_id, d.name, d.attempts, d.reason, new Date(d.dead_at * 1000).toISOString(), actions];
      })));
    if (canOperate() && list.length > 0) {
      content.appendChild(button("Replay all", settle("replay", null)));
      content.appendChild(button("Purge all", settle("purge", null)));
    }
  }
}

async function traces(content) {
  const form = el("form");
  const input = el("input");
  input.placeholder = "task or trace id";
  input.id = "trace-search";
  form.appendChild(input);
  form.appendChild(button("Search", () => form.requestSubmit()));
  const results = el("div");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    results.textContent = "";
    const found = await api("GET", "/traces/" + encodeURIComponent(input.value.trim()));
    results.appendChild(found.status === 200
      ? el("pre", JSON.stringify(found.body, null, 2))
      : el("p", "no recent trace for this id", "error"));
  });
  content.appendChild(form);
  content.appendChild(results);
  if (state.traceQuery) {
    // Opened from a row's trace link: show that trace.
    input.value = state.traceQuery;
    state.traceQuery = null;
    const found = await api("GET", "/traces/" + encodeURIComponent(input.value));
    results.appendChild(found.status === 200
      ? el("pre", JSON.stringify(found.body, null, 2))
      : el("p", "no recent trace for this id", "error"));
  }
  const recent = await api("GET", "/traces?limit=50");
  const list = (recent.body && recent.body.traces) || [];
  content.appendChild(table(["task", "name", "queue", "trace", "steps"], list.map((t) => [
    t.task_id, t.task_name, t.destination, t.trace_id,
    (t.steps || []).map((s) => s.step).join(" → "),
  ])));
}

async function config(content) {
  const current = await api("GET", "/config");
  if (current.status !== 200) {
    content.appendChild(el("p", (current.body && current.body.error && current.body.error.message) || "unavailable", "error"));
    return;
  }
  const store = current.body.config_store;
  content.appendChild(el("p", "generation " + current.body.generation));
  if (store) {
    content.appendChild(el("h3", "Configuration database"));
    content.appendChild(table(["database", "revision in force", "latest revision", "state", "problem", "needs a restart"], [[
      store.database, store.revision, store.latest_revision, badge(store.state), store.problem,
      (store.restart_required || []).join(", ") || "–",
    ]]));
  }
  if (isAdmin()) {
    content.appendChild(button("Reload", async () => {
      const done = await api("POST", "/actions/reload");
      say(done.status === 200 ? "reloaded" : (done.body && done.body.error && done.body.error.message), done.status !== 200);
      render();
    }));
    const level = el("input");
    level.id = "log-level";
    level.placeholder = "log level, e.g. debug";
    content.appendChild(level);
    content.appendChild(button("Set log level", async () => {
      const done = await api("POST", "/actions/log-level?level=" + encodeURIComponent(level.value.trim()));
      say(done.status === 200 ? "log level: " + done.body.log_level : (done.body && done.body.error && done.body.error.message), done.status !== 200);
    }));
  }
  if (isAdmin() && store) content.appendChild(storeForm());
  content.appendChild(el("h3", "Values"));
  content.appendChild(table(["key", "value", "layer"], (current.body.values || []).map((v) => [
    v.key, typeof v.value === "string" ? v.value : JSON.stringify(v.value), v.origin || "–",
  ])));
  if (store) {
    content.appendChild(el("h3", "Changes in the database"));
    const history = await api("GET", "/config/history?limit=50");
    if (history.status !== 200) {
      content.appendChild(el("p", (history.body && history.body.error && history.body.error.message) || "unavailable", "error"));
    } else {
      content.appendChild(table(["revision", "when", "who", "key", "was", "now", "why"], history.body.history.map((h) => [
        h.revision, h.at, h.actor, h.key, h.old_value === null ? "(not set)" : h.old_value,
        h.new_value === null ? "(not set)" : h.new_value, h.comment,
      ])));
    }
  }
}

// An admin's change to the configuration database: checked by the server as a reload is,
// then committed and applied by every instance.
function storeForm() {
  const form = el("form");
  form.appendChild(el("h3", "Change a value in the database"));
  const input = (id, placeholder, tag) => {
    const node = el(tag || "input");
    node.id = id;
    node.placeholder = placeholder;
    form.appendChild(node);
    return node;
  };
  const key = input("config-key", "key, e.g. mail_order_bot.workers");
  key.required = true;
  const value = input("config-value", "value, as YAML", "textarea");
  const comment = input("config-comment", "why (kept in the history)");
  const send = async (remove) => {
    const response = await fetch("/config/values", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": state.session.csrf },
      body: JSON.stringify({ key: key.value.trim(), value: remove ? null : value.value, comment: comment.value }),
    });
    const body = await response.json().catch(() => null);
    if (response.status === 200) {
      say("revision " + body.revision + ": " + (remove ? "removed " : "set ") + body.key, false);
      render();
    } else {
      if (response.status === 401) { showSignIn(); return; }
      say((body && body.error && body.error.message) || "The value was not changed.", true);
    }
  };
  const set = button("Set in the database", () => form.requestSubmit());
  set.id = "config-set";
  form.appendChild(set);
  const unset = button("Remove from the database", () => send(true));
  unset.id = "config-unset";
  form.appendChild(unset);
  form.addEventListener("submit", (event) => { event.preventDefault(); send(false); });
  return form;
}

async function audit(content) {
  const entries = await api("GET", "/audit");
  const list = (entries.body && entries.body.audit) || [];
  content.appendChild(table(["when", "who", "from", "action", "about", "answer"], list.map((a) => [
    new Date(a.at * 1000).toISOString(), a.who, a.client || "", a.action, a.subject || "", a.status,
  ])));
  // Refused requests are listed apart, so a flood of them never hides a change.
  const refused = (entries.body && entries.body.refusals) || [];
  content.appendChild(el("h3", "Refused requests"));
  content.appendChild(table(["when", "client", "who", "action", "answer"], refused.map((r) => [
    new Date(r.at * 1000).toISOString(), r.client, r.who, r.action, r.status,
  ])));
}

// A page an application module contributes (orders, rejections, …): search, rows, detail.
async function appView(content, name) {
  const form = el("form");
  const input = el("input");
  input.id = "view-search";
  input.placeholder = "search";
  input.value = state.search[name] || "";
  form.appendChild(input);
  form.appendChild(button("Search", () => form.requestSubmit()));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.search[name] = input.value.trim();
    render();
  });
  content.appendChild(form);
  const detail = el("div");
  const path = "/views/" + encodeURIComponent(name);
  const rows = await api("GET", path + "?limit=100&q=" + encodeURIComponent(state.search[name] || ""));
  if (rows.status !== 200) {
    content.appendChild(el("p", (rows.body && rows.body.error && rows.body.error.message) || "unavailable", "error"));
    return;
  }
  const traced = rows.body.rows.some((row) => row.trace_id);
  const columns = traced ? rows.body.columns.concat(["trace"]) : rows.body.columns;
  content.appendChild(table(columns, rows.body.rows.map((row) => {
    const open = button(row.cells[0], async () => {
      const item = await api("GET", path + "/" + encodeURIComponent(row.id));
      detail.textContent = "";
      detail.appendChild(el("pre", JSON.stringify(item.body, null, 2)));
    });
    const cells = [open].concat(row.cells.slice(1));
    if (traced) {
      cells.push(row.trace_id
        ? button("trace", () => { state.traceQuery = row.trace_id; location.hash = "#traces"; })
        : "–");
    }
    return cells;
  })));
  content.appendChild(detail);
}

// For admins, when the application keeps users: who may sign in, and with which role.
async function users(content) {
  const found = await api("GET", "/users");
  if (found.status !== 200) {
    content.appendChild(el("p", (found.body && found.body.error && found.body.error.message) || "unavailable", "error"));
    return;
  }
  const act = (path) => async () => {
    const done = await api("POST", path);
    say(done.status === 200 ? "done" : (done.body && done.body.error && done.body.error.message), done.status !== 200);
    render();
  };
  content.appendChild(table(["user", "role", "state", ""], found.body.users.map((u) => {
    const path = "/users/" + encodeURIComponent(u.name);
    const actions = el("span");
    actions.appendChild(u.disabled
      ? button("Enable", act(path + "/enable"))
      : button("Disable", act(path + "/disable")));
    ["viewer", "operator", "admin"].filter((r) => r !== u.role).forEach((r) => {
      actions.appendChild(button("Make " + r, act(path + "/role?role=" + r)));
    });
    return [u.name, u.role, u.disabled ? "disabled" : "enabled", actions];
  })));
  content.appendChild(el("p", "Add users and reset passwords with the CLI: users add NAME --role ROLE (the password on standard input)."));
}

// A user's own account: their API tokens (made here, shown once) and their password.
async function account(content) {
  const found = await api("GET", "/me/tokens");
  if (found.status !== 200) {
    content.appendChild(el("p", (found.body && found.body.error && found.body.error.message) || "unavailable", "error"));
    return;
  }
  content.appendChild(el("h3", "My API tokens"));
  const now = Date.now();
  const when = (ms) => (ms ? new Date(ms).toISOString() : "never");
  content.appendChild(table(["id", "name", "expires", "last used", "state", ""], found.body.tokens.map((t) => {
    const live = !t.revoked && t.expires_ms > now;
    const revoke = live ? button("Revoke", async () => {
      const done = await api("POST", "/me/tokens/" + encodeURIComponent(t.id) + "/revoke");
      say(done.status === 200 ? "revoked " + t.id : (done.body && done.body.error && done.body.error.message), done.status !== 200);
      render();
    }) : "";
    return [t.id, t.name, when(t.expires_ms), when(t.last_used_ms), t.revoked ? "revoked" : (live ? "live" : "expired"), revoke];
  })));
  const make = el("form");
  const name = el("input");
  name.id = "token-name";
  name.placeholder = "token name (e.g. ci)";
  name.required = true;
  const days = el("select");
  days.id = "token-days";
  [["7", "7 days"], ["30", "30 days"], ["90", "90 days"], ["365", "1 year"]].forEach(([value, label]) => {
    const option = el("option", label);
    option.value = value;
    days.appendChild(option);
  });
  days.value = "90";
  const shown = el("p");
  make.appendChild(name);
  make.appendChild(days);
  make.appendChild(button("Make token", () => make.requestSubmit()));
  make.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await api("POST", "/me/tokens?name=" + encodeURIComponent(name.value.trim()) + "&days=" + days.value);
    if (done.status !== 200) {
      say(done.body && done.body.error && done.body.error.message, true);
      return;
    }
    // Shown this once: the server keeps only its hash.
    shown.textContent = "";
    shown.appendChild(el("span", "Copy it now, it is shown only once: "));
    const code = el("code", done.body.token);
    code.id = "new-token";
    shown.appendChild(code);
    say("made token " + done.body.info.id);
  });
  content.appendChild(make);
  content.appendChild(shown);

  content.appendChild(el("h3", "Change password"));
  if (!found.body.password) {
    content.appendChild(el("p", "You sign in through single sign-on: your password is your identity provider's."));
    return;
  }
  const change = el("form");
  const field = (id, label, autocomplete) => {
    const input = el("input");
    input.id = id;
    input.type = "password";
    input.required = true;
    input.autocomplete = autocomplete;
    input.placeholder = label;
    change.appendChild(input);
    return input;
  };
  const current = field("current-password", "current password", "current-password");
  const fresh = field("new-password", "new password (12 characters or more)", "new-password");
  const again = field("repeat-password", "the new password again", "new-password");
  change.appendChild(button("Change password", () => change.requestSubmit()));
  change.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (fresh.value !== again.value) {
      say("The new password and its repetition differ.", true);
      return;
    }
    // Not through api(): a wrong current password must not look like a lost session.
    const response = await fetch("/me/password", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": state.session.csrf },
      body: JSON.stringify({ current: current.value, new: fresh.value }),
    });
    [current, fresh, again].forEach((input) => { input.value = ""; });
    if (response.status === 200) {
      showSignIn();
      $("sign-in-error").textContent = "Password changed: sign in with the new one.";
      return;
    }
    const body = await response.json().catch(() => null);
    say((body && body.error && body.error.message) || "The password was not changed.", true);
  });
  content.appendChild(change);
}

const pages = {
  account: ["Account", account],
  users: ["Users", users],
  overview: ["Overview", overview],
  queues: ["Queues", queues],
  dead: ["Dead letters", deadLetters],
  traces: ["Traces", traces],
  config: ["Configuration", config],
  audit: ["Audit", audit],
};

async function render() {
  if (!state.session) return;
  // A render that finishes after a newer one started (a refresh racing a page change)
  // must not replace the newer page.
  state.renders += 1;
  const mine = state.renders;
  state.drawing = true;
  const name = (location.hash || "#overview").slice(1);
  const view = state.views.find((v) => "view/" + v.name === name);
  const [title, draw] = view
    ? [view.title, (content) => appView(content, view.name)]
    : pages[name] || pages.overview;
  document.querySelectorAll("nav a").forEach((a) => {
    a.classList.toggle("active", a.getAttribute("href") === "#" + name);
  });
  $("title").textContent = title;
  const content = el("div");
  content.id = "content";
  try { await draw(content); } catch (error) { content.appendChild(el("p", String(error), "error")); }
  if (mine !== state.renders) return;
  state.drawing = false;
  $("content").replaceWith(content);
}

// Why a single sign-on came back without a session, by the word the server sends.
const SIGN_IN_ERRORS = {
  expired: "That sign-in took too long or was already used: sign in again.",
  no_role: "Your account has no role in this console: ask an administrator to add you to one of its groups.",
  disabled: "Your account is disabled in this console.",
  name_taken: "Your name is taken here by a user who signs in with a password: ask an administrator.",
  bad_token: "The identity provider's answer failed its checks.",
  refused: "The identity provider did not sign you in.",
  provider: "The identity provider cannot be reached: try again later.",
  busy: "Too many sign-ins at once: wait a minute.",
  unavailable: "Single sign-on is not set up here.",
};

function showSignIn() {
  state.session = null;
  if (state.timer) clearInterval(state.timer);
  $("nav").hidden = true;
  $("page").hidden = true;
  $("sign-in").hidden = false;
  showSingleSignOn();
}

// The provider's button, when the console has one; it comes back to the page shown now.
async function showSingleSignOn() {
  const methods = await fetch("/ui/session/methods", { credentials: "same-origin" });
  const sso = methods.status === 200 ? (await methods.json()).single_sign_on : null;
  $("sso").hidden = !sso;
  if (!sso) return;
  $("sso-link").textContent = "Sign in with " + sso.label;
  $("sso-link").href = "/ui/oidc/start?page=" + encodeURIComponent((location.hash || "").slice(1));
}

async function addViewLinks() {
  document.querySelectorAll("nav a.view").forEach((a) => a.remove());
  const views = await api("GET", "/views");
  state.views = (views.body && views.body.views) || [];
  const before = document.querySelector("nav a[href='#traces']");
  state.views.forEach((v) => {
    const a = el("a", v.title);
    a.href = "#view/" + v.name;
    a.classList.add("view");
    before.parentNode.insertBefore(a, before);
  });
}

async function showPages(session) {
  state.session = session;
  await addViewLinks();
  // The Users page is an admin's, and only where the application keeps users.
  const usersLink = document.querySelector("nav a[href='#users']");
  if (usersLink) usersLink.remove();
  if (isAdmin() && (await api("GET", "/users")).status === 200) {
    const a = el("a", "Users");
    a.href = "#users";
    const before = document.querySelector("nav a[href='#audit']");
    before.parentNode.insertBefore(a, before.nextSibling);
  }
  // A user's own page: tokens and password (configured tokens have no account).
  const accountLink = document.querySelector("nav a[href='#account']");
  if (accountLink) accountLink.remove();
  if (session.user) {
    const a = el("a", "Account");
    a.href = "#account";
    $("who").parentNode.insertBefore(a, $("who"));
  }
  $("who").textContent = session.name + " (" + session.role + ")";
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("page").hidden = false;
  render();
  // Live values: the overview, queues and audit refresh by themselves.
  state.timer = setInterval(() => {
    const name = (location.hash || "#overview").slice(1);
    // A refresh never overtakes a page still being drawn (a slow health check, say).
    if (!state.drawing && ["overview", "queues", "audit", ""].includes(name)) render();
  }, 2000);
}

async function start() {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = $("user").value.trim();
    const secret = $("token").value;
    $("token").value = "";
    // A user signs in with a password (HTTP Basic, UTF-8); without a user, the secret is a
    // control token.
    const bytes = new TextEncoder().encode(user + ":" + secret);
    const basic = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
    const authorization = user ? "Basic " + basic : "Bearer " + secret;
    const response = await fetch("/ui/session", {
      method: "POST", headers: { Authorization: authorization }, credentials: "same-origin",
    });
    if (response.status === 200) showPages(await response.json());
    else if (response.status === 429) $("sign-in-error").textContent = "Too many attempts: wait a minute.";
    else $("sign-in-error").textContent = user
      ? "This user name or password is not valid."
      : "This token is not valid.";
  });
  $("sign-out").addEventListener("click", async () => {
    await api("POST", "/ui/session/end");
    showSignIn();
  });
  $("sign-out-everywhere").addEventListener("click", async () => {
    await api("POST", "/ui/session/end-everywhere");
    showSignIn();
  });
  window.addEventListener("hashchange", render);
  const failed = new URLSearchParams(location.search).get("sign_in_error");
  if (failed) {
    $("sign-in-error").textContent = SIGN_IN_ERRORS[failed] || "Single sign-on failed.";
    history.replaceState(null, "", "/ui" + location.hash);
  }
  const current = await fetch("/ui/session", { credentials: "same-origin" });
  if (current.status === 200) showPages(await current.json());
  else showSignIn();
}

start();
