// quill review desk: the page over quill serve's JSON API.  Every text from
// the store (model output, notes, names, recipes) goes into the page with
// textContent or as an attribute value, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { me: null, csrf: null, outputs: [], sel: -1, detail: null, editing: false, seq: 0, last: null };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function say(text) { $('msg').textContent = text || ''; }

// data-busy on <body> counts the requests in flight (tests wait for 0).
let busy = 0;
function setBusy(d) { busy += d; document.body.dataset.busy = String(busy); }

async function api(method, path, body) {
  setBusy(1);
  try { return await call(method, path, body); } finally { setBusy(-1); }
}

async function call(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin' };
  if (method !== 'GET') opt.headers['X-CSRF-Token'] = state.csrf || '';
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (r.status === 401 && path !== '/api/login') showLogin('Your session ended; log in again.');
  return { status: r.status, body: j };
}

function showLogin(why) {
  state.me = null;
  $('desk').hidden = true;
  $('login').hidden = false;
  $('login-msg').textContent = why || '';
}

async function loggedIn(who) {
  state.me = who.reviewer;
  state.csrf = who.csrf;
  $('me').textContent = who.reviewer;
  $('login').hidden = true;
  $('desk').hidden = false;
  await loadQueue();
  loadRuns();
}

async function loadQueue(keep) {
  const p = new URLSearchParams({ status: $('f-status').value, limit: '200' });
  if ($('f-recipe').value) p.set('recipe', $('f-recipe').value);
  if ($('f-q').value) p.set('q', $('f-q').value);
  const r = await api('GET', '/api/outputs?' + p);
  if (r.status !== 200) return;
  state.outputs = r.body.outputs;
  const c = r.body.counts;
  if (c) {
    const total = c.pending + c.approved + c.rejected;
    $('progress').textContent = `${c.pending} of ${total} pending, ${c.needed} approval${c.needed === 1 ? '' : 's'} needed each`;
  }
  renderQueue();
  const i = keep === undefined ? 0 : Math.max(0, Math.min(keep, state.outputs.length - 1));
  await select(i);
}

function renderQueue() {
  const q = $('queue');
  q.replaceChildren();
  state.outputs.forEach((o, i) => {
    const li = el('li', { 'data-id': String(o.id), class: i === state.sel ? 'sel' : '' },
      el('span', { class: 'st-' + o.status }, `#${o.id} ${o.status} ${o.approvals}/${o.needed} `),
      o.text);
    li.title = o.text;
    li.addEventListener('click', () => select(i));
    q.append(li);
  });
}

async function select(i) {
  state.sel = i;
  state.editing = false;
  state.detail = null; // no verdict on what is not shown yet
  [...$('queue').children].forEach((li, k) => li.classList.toggle('sel', k === i));
  const o = state.outputs[i];
  if (!o) { $('detail').replaceChildren(el('p', { class: 'empty' }, 'Nothing here.')); return; }
  $('queue').children[i].scrollIntoView({ block: 'nearest' });
  const seq = ++state.seq; // a later selection wins over a slower answer
  const r = await api('GET', '/api/outputs/' + o.id);
  if (r.status === 200 && seq === state.seq) { state.detail = r.body; renderDetail(); }
}

// Word-level diff (longest common subsequence) of a against b.
function diff(a, b) {
  const x = a.split(/(\s+)/), y = b.split(/(\s+)/);
  const n = x.length, m = y.length;
  if (n * m > 4e6) return [['del', a], ['ins', b]];
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.push(['same', x[i]]); i++; j++; }
    else if (j < m && (i === n || L[i][j + 1] >= L[i + 1][j])) out.push(['ins', y[j++]]);
    else out.push(['del', x[i++]]);
  }
  return out;
}

function renderDiff(a, b) {
  const d = el('div', { class: 'diff continuation' });
  for (const [k, t] of diff(a, b)) d.append(k === 'same' ? document.createTextNode(t) : el(k, {}, t));
  return d;
}

// What text breaks among the output's constraints (its generation params).
function breaks(params, text) {
  const found = [];
  const fc = params.forbid_chars || '';
  const cs = !!params.forbid_case_sensitive;
  for (const ch of fc) {
    const hit = cs ? text.includes(ch) : text.toLowerCase().includes(ch.toLowerCase());
    if (hit) found.push(`forbidden character '${ch}'`);
  }
  for (const w of params.banned_words || []) {
    const re = new RegExp('\\b' + w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\b', params.case_sensitive ? '' : 'i');
    if (re.test(text)) found.push(`banned word '${w}'`);
  }
  return found;
}

// A poetic form's facts (issue 16): each line's syllables against its
// count, the acrostic's letter, the last word and the line it rhymes with.
function renderForm(f) {
  const ol = el('ol', { id: 'd-form' });
  for (const l of f.line) {
    const parts = [`${l.syllables}${l.target === null ? '' : '/' + l.target} syllables`];
    if (l.letter) parts.push(`initial ${l.initial} (acrostic ${l.letter})`);
    if (l.last_word) parts.push(`ends “${l.last_word}” ${l.rhyme}`);
    if (l.rhymes_with) parts.push((l.rhymes ? 'rhymes with line ' : 'does NOT rhyme with line ') + l.rhymes_with);
    ol.append(el('li', {}, parts.join(', ')));
  }
  return [el('h3', {}, 'Form'), el('p', { class: f.holds ? 'ok' : 'broken' },
    `${f.lines} line${f.lines === 1 ? '' : 's'}` + (f.lines_wanted ? ` of ${f.lines_wanted}` : '') +
    (f.holds ? ' — the text holds the form' : ' — broken: ' + f.what)), ol];
}

function renderDetail() {
  const o = state.detail, pv = o.provenance, params = pv.params || {};
  const d = $('detail');
  d.replaceChildren();
  d.append(el('h2', {}, `Output #${o.id} — `, el('span', { class: 'st-' + o.status }, o.status),
    ` (${o.approvals}/${o.needed} approvals, version ${o.version})`));
  d.append(el('h3', {}, 'Prompt'), el('div', { class: 'prompt', id: 'd-prompt' }, o.prompt));
  d.append(el('h3', {}, 'Continuation'), el('div', { class: 'continuation', id: 'd-cont' },
    o.edited ? o.text.slice(o.text.startsWith(o.prompt) ? o.prompt.length : 0) : o.continuation));
  if (o.edited) d.append(el('h3', {}, 'Edit against the original'), renderDiff(o.original, o.text));
  const cons = [];
  if (params.forbid_chars) cons.push(`no '${params.forbid_chars}'`);
  if ((params.banned_words || []).length) cons.push('banned: ' + params.banned_words.join(', '));
  d.append(el('h3', {}, 'Constraints'), el('p', { class: o.holds_constraints ? 'ok' : 'broken', id: 'd-cons' },
    (cons.join('; ') || 'none') + (o.holds_constraints ? ' — the text holds them' : ' — broken: ' + o.breaks)));
  if (o.form) d.append(...renderForm(o.form));
  const dl = el('dl', {});
  const row = (k, v) => dl.append(el('dt', {}, k), el('dd', {}, v === null || v === undefined ? '—' : String(v)));
  row('recipe', pv.recipe); row('recipe run', pv.recipe_run_id); row('model', pv.model);
  row('checkpoint', pv.checkpoint_id); row('seed', pv.seed); row('finish', pv.finish_reason);
  row('parameters', JSON.stringify(params));
  d.append(el('h3', {}, 'Provenance'), dl);
  const rv = el('ul', { id: 'd-reviews' });
  for (const r of o.reviews)
    rv.append(el('li', {}, `${r.at} ${r.reviewer} ${r.verdict} version ${r.version}`, r.note ? ` — ${r.note}` : ''));
  d.append(el('h3', {}, 'Reviews'), rv);
  const ta = el('textarea', { id: 'edit-text', hidden: '' });
  ta.value = o.text;
  const warn = el('p', { class: 'broken', id: 'edit-warn' });
  ta.addEventListener('input', () => {
    const b = breaks(params, ta.value);
    ta.classList.toggle('bad', b.length > 0);
    warn.textContent = b.length ? 'This edit has the ' + b.join(', ') : '';
  });
  const save = el('button', { id: 'edit-save', hidden: '' }, 'Save edit');
  save.addEventListener('click', saveEdit);
  const note = el('input', { id: 'note', placeholder: 'note (n)', size: '40' });
  note.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); sendNote(); }
  });
  d.append(ta, warn, save, el('p', {}, note));
}

async function verdict(v) {
  const o = state.detail;
  if (!o) return;
  const r = await api('POST', `/api/outputs/${o.id}/review`, { verdict: v, version: o.version, note: $('note') ? $('note').value : '' });
  if (r.status === 200) {
    state.last = o.id; // what u undoes, even once the queue moved on
    say(`Output #${o.id}: ${v === 'approve' ? 'approved' : 'rejected'} by you, now ${r.body.status}.`);
    await loadQueue(state.sel);
  } else if (r.status === 409 && r.body.code === 'stale') {
    say(`Stale: ${r.body.error}. The current text is shown; look at it again before you judge.`);
    if (r.body.output) { state.detail = r.body.output; renderDetail(); }
  } else say(r.body ? r.body.error : 'failed');
}

function startEdit() {
  const ta = $('edit-text');
  if (!ta) return;
  state.editing = true;
  ta.hidden = false;
  $('edit-save').hidden = false;
  ta.focus();
}

async function saveEdit() {
  const o = state.detail;
  const r = await api('POST', `/api/outputs/${o.id}/edit`, { text: $('edit-text').value, version: o.version });
  if (r.status === 200) {
    say(`Output #${o.id}: edited, now version ${r.body.version}.`);
    state.detail = r.body;
    state.editing = false;
    renderDetail();
  } else if (r.status === 422 || r.status === 409) say(r.body.error);
  else say(r.body ? r.body.error : 'failed');
}

async function sendNote() {
  const o = state.detail, n = $('note').value;
  if (!n) return;
  const r = await api('POST', `/api/outputs/${o.id}/note`, { note: n });
  if (r.status === 200) { say(`Output #${o.id}: noted.`); state.detail = r.body; renderDetail(); }
  else say(r.body ? r.body.error : 'failed');
}

// u: undo my last verdict given here (else my verdict on the output shown).
async function undo() {
  const id = state.last || (state.detail && state.detail.id);
  if (!id) return;
  const r = await api('POST', `/api/outputs/${id}/undo`, {});
  if (r.status === 200) {
    state.last = null;
    say(`Output #${id}: your verdict is undone, now ${r.body.status}.`);
    await loadQueue(state.sel);
  } else say(r.body ? r.body.error : 'failed');
}

function onKey(e) {
  if ($('desk').hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target.tagName;
  if (t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT') {
    if (e.key === 'Escape') { e.target.blur(); if (state.detail) renderDetail(); }
    return;
  }
  const acts = {
    j: () => state.sel + 1 < state.outputs.length && select(state.sel + 1),
    k: () => state.sel > 0 && select(state.sel - 1),
    a: () => verdict('approve'), r: () => verdict('reject'),
    e: startEdit, n: () => $('note') && $('note').focus(), u: undo,
  };
  if (acts[e.key]) { e.preventDefault(); acts[e.key](); }
}

async function loadRuns() {
  const r = await api('GET', '/api/runs');
  const box = $('runs');
  box.replaceChildren();
  if (r.status !== 200 || !r.body.runs.length) { box.append(el('p', {}, 'No training runs.')); return; }
  for (const run of r.body.runs) {
    const l = await api('GET', `/api/runs/${run.id}/logs`);
    box.append(el('h3', {}, `Run ${run.id} (${run.status}, ${run.last_step}/${run.total_steps} steps, from ${run.model})`));
    if (l.status === 200) box.append(curve(l.body.logs));
  }
}

// Loss (blue) and eval loss (orange) by step, as SVG drawn here.
function curve(logs) {
  const NS = 'http://www.w3.org/2000/svg', W = 480, H = 160, P = 24;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', 'curve'); svg.setAttribute('width', W); svg.setAttribute('height', H);
  if (!logs.length) return svg;
  const steps = logs.map((x) => x.step), losses = logs.map((x) => x.loss);
  const s0 = Math.min(...steps), s1 = Math.max(...steps) || 1;
  const l0 = Math.min(...losses), l1 = Math.max(...losses);
  const X = (s) => P + (W - 2 * P) * (s1 === s0 ? 0.5 : (s - s0) / (s1 - s0));
  const Y = (v) => H - P - (H - 2 * P) * (l1 === l0 ? 0.5 : (v - l0) / (l1 - l0));
  for (const kind of ['train', 'eval']) {
    const pts = logs.filter((x) => x.kind === kind).map((x) => `${X(x.step).toFixed(1)},${Y(x.loss).toFixed(1)}`);
    if (!pts.length) continue;
    const pl = document.createElementNS(NS, 'polyline');
    pl.setAttribute('class', kind); pl.setAttribute('points', pts.join(' '));
    svg.append(pl);
  }
  const label = document.createElementNS(NS, 'text');
  label.setAttribute('x', P); label.setAttribute('y', 14);
  label.textContent = `loss ${l0.toFixed(3)}–${l1.toFixed(3)}, steps ${s0}–${s1} (blue train, orange eval)`;
  svg.append(label);
  return svg;
}

async function start() {
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = await api('POST', '/api/login', { token: $('token').value.trim() });
    $('token').value = '';
    if (r.status === 200) loggedIn(r.body);
    else $('login-msg').textContent = r.body ? r.body.error : 'login failed';
  });
  $('logout').addEventListener('click', async () => {
    await api('POST', '/api/logout');
    showLogin('Logged out.');
  });
  for (const id of ['f-status', 'f-recipe', 'f-q']) $(id).addEventListener('change', () => loadQueue());
  document.addEventListener('keydown', onKey);
  const r = await api('GET', '/api/session');
  if (r.status === 200) loggedIn(r.body); else showLogin('');
}

start();
