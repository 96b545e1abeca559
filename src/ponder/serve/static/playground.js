// The playground: a problem, an effort (or a strategy and budget), the reasoning summary as it streams
// from /v1/chat/completions, the answer with its check by rule, tokens and seconds, then the explorer.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {controller: null, key: localStorage.getItem("ponder-key") || ""};

function headers() {
  const h = {"Content-Type": "application/json"};
  if (state.key) h.Authorization = `Bearer ${state.key}`;
  return h;
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function getJSON(path) {
  const r = await fetch(path, {headers: headers()});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error ? body.error.message : `${r.status} ${r.statusText}`);
  return body;
}

async function loadChoices() {
  try {
    const models = await getJSON("/v1/models");
    const served = models.data[0].id;
    $("task").replaceChildren(new Option("from the words", served),
      ...models.data.slice(1).map((m) => new Option(m.task, m.id)));
    const listed = await getJSON("/strategies");
    $("strategy").append(...listed.strategies.map((s) => new Option(s, s)));
    say(`${served}, ready`);
  } catch (e) {
    say(`${e.message}${state.key ? "" : " (does the server need an API key?)"}`, true);
  }
}

async function draw() {
  const task = $("task").selectedOptions[0];
  const name = task && task.index > 0 ? task.textContent : "";
  try {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const got = await getJSON(`/problems/random?seed=${seed}` + (name ? `&task=${encodeURIComponent(name)}` : ""));
    $("problem").value = got.text;
  } catch (e) {
    say(e.message, true);
  }
}

function request() {
  const body = {model: $("task").value, messages: [{role: "user", content: $("problem").value}], stream: true,
                stream_options: {include_usage: true}, include_search: true, reasoning_effort: $("effort").value};
  if ($("strategy").value) body.strategy = $("strategy").value;
  if ($("budget").value) body.budget = Number($("budget").value);
  if ($("samples").value) body.samples = Number($("samples").value);
  return body;
}

// Server-sent events from a fetch body: calls onData with each parsed `data:` payload (comments skipped).
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue;  // ": keep-alive" comments and the like
        const data = line.slice(6);
        if (data !== "[DONE]") onData(JSON.parse(data));
      }
    }
  }
}

function begin() {
  $("result").hidden = false;
  $("explorer").hidden = true;
  $("thinking").textContent = "";
  $("answer").textContent = "";
  $("verdict").textContent = "";
  $("verdict").className = "";
  $("stats").textContent = "";
  $("submit").disabled = true;
  $("stop").disabled = false;
}

function end() {
  $("submit").disabled = false;
  $("stop").disabled = true;
  state.controller = null;
}

async function think(event) {
  event.preventDefault();
  if (!$("problem").value.trim()) {
    say("type a problem, or draw one", true);
    return;
  }
  begin();
  const t0 = performance.now();
  let first = null;
  let final = null;
  state.controller = new AbortController();
  say("thinking…");
  try {
    const r = await fetch("/v1/chat/completions", {method: "POST", headers: headers(), body: JSON.stringify(request()),
                                                   signal: state.controller.signal});
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.error ? body.error.message : `${r.status} ${r.statusText}`);
    }
    await readEvents(r, (chunk) => {
      if (chunk.error) throw new Error(chunk.error.message);
      for (const choice of chunk.choices || []) {
        const delta = choice.delta || {};
        if (delta.reasoning_content) {
          if (first === null) {
            first = (performance.now() - t0) / 1000;
            $("thinking").dataset.first = first.toFixed(3);
          }
          $("thinking").textContent += delta.reasoning_content;
          $("thinking").scrollTop = $("thinking").scrollHeight;
        }
        if (delta.content) $("answer").textContent += delta.content;
      }
      if (chunk.ponder) final = chunk;
    });
    const seconds = (performance.now() - t0) / 1000;
    if (final) show(final, seconds, first);
    say("done");
  } catch (e) {
    say(e.name === "AbortError" ? "stopped" : e.message, e.name !== "AbortError");
  } finally {
    end();
  }
}

function show(final, seconds, first) {
  const view = final.ponder.search && final.ponder.search[0];
  const info = final.ponder;
  if (view) {
    const v = $("verdict");
    v.textContent = view.correct === null ? "(not checked)" : `${Explorer.verdict(view.correct)}, checked by rule`;
    v.className = view.correct ? "good" : view.correct === false ? "bad" : "";
    $("explorer").hidden = false;
    $("explorer-kind").textContent = `(${info.strategy}${info.reward ? " with " + info.reward : ""}, on ${info.task})`;
    Explorer.draw(view, $("explorer-body"));
  }
  if (info.no_solution) $("verdict").textContent = "the solver proved it has no solution";
  const u = final.usage || {};
  const reasoning = (u.completion_tokens_details || {}).reasoning_tokens;
  $("stats").textContent = `${reasoning ?? "?"} reasoning tokens, ${u.prompt_tokens ?? "?"} prompt tokens; ` +
    `${seconds.toFixed(2)} s` + (first !== null ? ` (first reasoning after ${first.toFixed(2)} s)` : "");
}

function askKey() {
  const key = prompt("The server's API key (kept in this browser's storage):", state.key);
  if (key === null) return;
  state.key = key.trim();
  localStorage.setItem("ponder-key", state.key);
  loadChoices();
}

$("ask").addEventListener("submit", think);
$("stop").addEventListener("click", () => state.controller && state.controller.abort());
$("draw").addEventListener("click", draw);
$("key-button").addEventListener("click", askKey);
$("problem").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) $("ask").requestSubmit();
});
loadChoices();
