// askd's chat page: sign-in, the conversation list, one conversation, the composer and the
// settings. The server keeps the history; this page keeps only the token (localStorage) and
// shows the open conversation's id in the address (#/c/<id>).
import { Api, ApiError } from './api.js?v=6a26e105ed';
import { renderMarkdown, handleCopy } from './render.js?v=72e2eea5c1';

const $ = (id) => document.getElementById(id);
const tokenKey = 'askd.token';
const api = new Api(() => localStorage.getItem(tokenKey) || '');

const state = {
  conversations: [], // the list as loaded so far, newest first
  listCursor: undefined, // undefined: not loaded yet; null: the last page is in
  listLoading: false,
  current: null, // the open conversation (GET /conversation/{id}), or null for a new chat
  opening: 0, // which openConversation call is the latest
  olderCursor: null,
  olderLoading: false,
  draft: { model: '', system: '' }, // settings for a new chat, sent with its first prompt
  stream: null, // { controller } while an answer streams
  retryAt: 0, // until when sending waits (a 429's Retry-After)
  countdown: 0,
  pinned: true, // whether the reader is at the bottom of the messages
  models: undefined, // the allowed models, once known
};

// --- Signing in and out ---------------------------------------------------------------------

function showSignIn(sentence = '') {
  abortStream();
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = sentence ? `askd said: ${sentence}` : '';
  $('token').value = '';
  $('token').focus();
}

function signOut(sentence = '') {
  localStorage.removeItem(tokenKey);
  state.conversations = [];
  state.listCursor = undefined;
  state.current = null;
  $('conversation-list').replaceChildren();
  $('message-list').replaceChildren();
  history.replaceState(null, '', location.pathname);
  showSignIn(sentence);
}

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  localStorage.setItem(tokenKey, token);
  $('token').value = '';
  start();
});

$('sign-out').addEventListener('click', () => signOut());

// --- Errors, in words -----------------------------------------------------------------------

function hideNotice() {
  clearInterval(state.countdown);
  $('notice').hidden = true;
  $('notice').className = 'notice';
}

function notice(text, { kind = 'info', retry = null } = {}) {
  clearInterval(state.countdown);
  $('notice').className = `notice ${kind}`;
  $('notice-text').textContent = text;
  $('notice-retry').hidden = !retry;
  $('notice-retry').onclick = retry ? () => { hideNotice(); retry(); } : null;
  $('notice').hidden = false;
}

/** Shows what went wrong; a 401 signs out with the server's sentence. */
function showError(error, retry = null) {
  if (!(error instanceof ApiError)) {
    console.warn(error);
    notice(`Something went wrong in this page: ${error.message}`, { kind: 'error', retry });
    return;
  }
  if (error.status === 401) {
    signOut(error.message);
    return;
  }
  if (error.status === 0) {
    notice(`${capitalized(error.message)}.`, { kind: 'error', retry });
    return;
  }
  if (error.retryAfter !== null && [429, 409, 503].includes(error.status)) {
    waitBeforeSending(error);
    return;
  }
  const what = error.status === 502 || error.status === 504 ? 'The model did not answer' : 'askd refused';
  notice(`${what} (${error.status}): ${error.message}.`, { kind: 'error', retry });
  if (error.status === 400) learnAllowedModels(error.message);
}

/** A 429 (or 409/503) with Retry-After: says so and counts down; sending waits until then. */
function waitBeforeSending(error) {
  state.retryAt = Date.now() + error.retryAfter * 1000;
  const cause = error.status === 429 ? 'The model is rate-limited' : capitalized(error.message);
  const tick = () => {
    const left = Math.ceil((state.retryAt - Date.now()) / 1000);
    if (left > 0) {
      $('notice-text').textContent = `${cause} (${error.status}, askd said: ${error.message}). You can send again in ${left} s.`;
    } else {
      $('notice-text').textContent = `${cause} (${error.status}). You can send again now.`;
      clearInterval(state.countdown);
      updateComposer();
    }
  };
  notice('', { kind: 'error' });
  tick();
  state.countdown = setInterval(tick, 250);
  updateComposer();
}

function capitalized(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// --- The conversation list -----------------------------------------------------------------

function listItem(conversation) {
  const item = document.createElement('li');
  item.dataset.id = conversation.id;
  const open = document.createElement('button');
  open.type = 'button';
  open.className = 'open';
  open.textContent = conversation.title || 'Untitled';
  open.title = conversation.title || 'Untitled';
  const rename = document.createElement('button');
  rename.type = 'button';
  rename.className = 'rename';
  rename.textContent = 'Rename';
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'delete';
  remove.textContent = 'Delete';
  const actions = document.createElement('span');
  actions.className = 'actions';
  actions.append(rename, remove);
  labelItem(item, conversation.title);
  item.append(open, actions);
  if (state.current && state.current.id === conversation.id) open.setAttribute('aria-current', 'page');
  return item;
}

function labelItem(item, title) {
  item.querySelector('.open')?.replaceChildren(title || 'Untitled');
  item.querySelector('.rename')?.setAttribute('aria-label', `Rename “${title || 'Untitled'}”`);
  item.querySelector('.delete')?.setAttribute('aria-label', `Delete “${title || 'Untitled'}”`);
}

function itemFor(id) {
  return $('conversation-list').querySelector(`li[data-id="${CSS.escape(id)}"]`);
}

async function loadMoreConversations() {
  if (state.listLoading || state.listCursor === null) return;
  state.listLoading = true;
  $('list-status').textContent = 'Loading conversations…';
  try {
    const page = await api.conversations(state.listCursor);
    const known = new Set(state.conversations.map((c) => c.id));
    const fresh = page.conversations.filter((c) => !known.has(c.id));
    state.conversations.push(...fresh);
    $('conversation-list').append(...fresh.map(listItem));
    state.listCursor = page.next_cursor;
    $('list-status').textContent = state.conversations.length ? '' : 'No conversations yet.';
  } catch (error) {
    $('list-status').textContent = '';
    showError(error, loadMoreConversations);
  } finally {
    state.listLoading = false;
  }
  fillConversationList();
}

/** Loads further pages while the list does not fill its column (or is scrolled to the end). */
function fillConversationList() {
  const scroller = $('conversation-scroller');
  if (state.listCursor && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 200) loadMoreConversations();
}

$('conversation-scroller').addEventListener('scroll', fillConversationList, { passive: true });

/** Puts a conversation at the top of the list (after an answer), with its current title. */
function moveToTop(conversation) {
  state.conversations = [conversation, ...state.conversations.filter((c) => c.id !== conversation.id)];
  const item = itemFor(conversation.id) || listItem(conversation);
  labelItem(item, conversation.title);
  $('conversation-list').prepend(item);
  $('list-status').textContent = '';
  markCurrent();
}

function markCurrent() {
  for (const button of $('conversation-list').querySelectorAll('button.open')) {
    const current = state.current && button.parentElement.dataset.id === state.current.id;
    if (current) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
}

$('conversation-list').addEventListener('click', (event) => {
  const button = event.target.closest('button');
  const item = button?.closest('li');
  if (!item) return;
  const id = item.dataset.id;
  if (button.classList.contains('open')) {
    openConversation(id);
    closeSidebar();
  } else if (button.classList.contains('rename')) startRename(item);
  else if (button.classList.contains('delete')) deleteConversation(id);
});

function startRename(item) {
  const id = item.dataset.id;
  const conversation = state.conversations.find((c) => c.id === id);
  const open = item.querySelector('.open');
  const input = document.createElement('input');
  input.className = 'rename-input';
  input.value = conversation?.title || '';
  input.setAttribute('aria-label', 'New title (Enter saves, Escape cancels)');
  open.hidden = true;
  item.prepend(input);
  input.focus();
  input.select();
  let finished = false;
  const finish = async (save) => {
    if (finished) return;
    finished = true;
    const title = input.value.trim();
    input.remove();
    open.hidden = false;
    open.focus();
    if (!save || !title || title === conversation?.title) return;
    try {
      const changed = await api.change(id, { title });
      if (conversation) conversation.title = changed.title;
      labelItem(item, changed.title);
      if (state.current?.id === id) {
        state.current.title = changed.title;
        showTitle();
      }
    } catch (error) {
      showError(error);
    }
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') { event.preventDefault(); finish(true); }
    if (event.key === 'Escape') { event.preventDefault(); finish(false); }
  });
  input.addEventListener('blur', () => finish(true));
}

/** Asks in a dialog; with `typed`, the button works only once that text is typed. */
function confirmAction(text, button, typed = null) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = button;
  $('confirm-typed-row').hidden = !typed;
  $('confirm-typed').value = '';
  $('confirm-ok').disabled = Boolean(typed);
  $('confirm-typed').oninput = () => { $('confirm-ok').disabled = $('confirm-typed').value.trim().toLowerCase() !== typed; };
  dialog.returnValue = '';
  dialog.showModal();
  (typed ? $('confirm-typed') : $('confirm-ok')).focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

async function deleteConversation(id) {
  const conversation = state.conversations.find((c) => c.id === id);
  const ok = await confirmAction(`Delete “${conversation?.title || 'Untitled'}”? Its messages are deleted for good.`, 'Delete');
  if (!ok) return;
  try {
    await api.remove(id);
  } catch (error) {
    if (error.status !== 404) return showError(error, () => deleteConversation(id));
  }
  state.conversations = state.conversations.filter((c) => c.id !== id);
  itemFor(id)?.remove();
  if (state.current?.id === id) newChat();
  notice(`Deleted “${conversation?.title || 'Untitled'}”.`);
  fillConversationList();
}

$('delete-all').addEventListener('click', async () => {
  const ok = await confirmAction(
    'Delete every conversation of this token, with all their messages? This cannot be undone.',
    'Delete everything',
    'delete all',
  );
  if (!ok) return;
  try {
    await api.removeAll();
  } catch (error) {
    return showError(error);
  }
  state.conversations = [];
  state.listCursor = null;
  $('conversation-list').replaceChildren();
  $('list-status').textContent = 'No conversations yet.';
  newChat();
  notice('Deleted every conversation.');
});

// --- One conversation -----------------------------------------------------------------------

const messages = $('messages');

function showTitle() {
  const title = state.current ? state.current.title || 'Untitled' : 'New chat';
  $('title').textContent = title;
  document.title = `${title} · askd`;
}

function messageElement(message) {
  const item = document.createElement('li');
  item.className = `message ${message.role}`;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = message.role === 'user' ? 'You' : message.model ? `askd · ${message.model}` : 'askd';
  const body = document.createElement('div');
  body.className = 'body';
  if (message.role === 'assistant') renderMarkdown(body, message.content);
  else body.textContent = message.content;
  item.append(who, body);
  return item;
}

function newChat() {
  state.opening += 1;
  state.current = null;
  state.olderCursor = null;
  $('message-list').replaceChildren();
  $('older-status').textContent = '';
  history.replaceState(null, '', location.pathname);
  showTitle();
  markCurrent();
  fillSettings();
}

async function openConversation(id) {
  const opening = ++state.opening;
  hideNotice();
  $('older-status').textContent = 'Loading…';
  if (location.hash !== `#/c/${id}`) history.replaceState(null, '', `#/c/${id}`);
  let page;
  try {
    page = await api.conversation(id);
  } catch (error) {
    if (opening !== state.opening) return;
    $('older-status').textContent = '';
    if (error.status === 404) {
      newChat();
      notice('That conversation no longer exists.');
    } else showError(error, () => openConversation(id));
    return;
  }
  if (opening !== state.opening) return;
  state.current = page;
  state.olderCursor = page.next_cursor;
  $('message-list').replaceChildren(...page.messages.map(messageElement));
  $('older-status').textContent = state.olderCursor ? '' : page.messages.length ? 'The start of this conversation.' : '';
  performance.mark('askd:messages');
  showTitle();
  markCurrent();
  fillSettings();
  state.pinned = true;
  messages.scrollTop = messages.scrollHeight;
  loadOlderWhileShort();
}

/** Loads the page of messages before the oldest shown, keeping what is on screen in place. */
async function loadOlder() {
  const conversation = state.current;
  if (!conversation || !state.olderCursor || state.olderLoading) return;
  state.olderLoading = true;
  $('older-status').textContent = 'Loading earlier messages…';
  try {
    const page = await api.conversation(conversation.id, state.olderCursor);
    if (state.current !== conversation) return;
    const before = messages.scrollHeight;
    $('message-list').prepend(...page.messages.map(messageElement));
    messages.scrollTop += messages.scrollHeight - before;
    state.olderCursor = page.next_cursor;
    $('older-status').textContent = state.olderCursor ? '' : 'The start of this conversation.';
  } catch (error) {
    $('older-status').textContent = '';
    showError(error, loadOlder);
  } finally {
    state.olderLoading = false;
  }
}

function loadOlderWhileShort() {
  if (state.olderCursor && messages.scrollTop < 300) loadOlder();
}

messages.addEventListener('scroll', () => {
  state.pinned = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  loadOlderWhileShort();
}, { passive: true });

messages.addEventListener('click', handleCopy);
// A narrower window or a taller composer must not unpin a reader who was at the bottom.
new ResizeObserver(followIfPinned).observe(messages);

// --- Sending and streaming ------------------------------------------------------------------

const prompt = $('prompt');

function updateComposer() {
  const streaming = Boolean(state.stream);
  $('send').hidden = streaming;
  $('stop').hidden = !streaming;
  $('send').disabled = Date.now() < state.retryAt;
}

function abortStream() {
  state.stream?.controller.abort();
}

prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = prompt.value;
  if (!text.trim() || state.stream || Date.now() < state.retryAt) return;
  prompt.value = '';
  send(text);
});

$('stop').addEventListener('click', abortStream);

function followIfPinned() {
  if (state.pinned) messages.scrollTop = messages.scrollHeight;
}

async function send(text) {
  hideNotice();
  const conversation = state.current;
  const fields = { prompt: text };
  if (conversation) fields.conversation_id = conversation.id;
  else {
    if (state.draft.model) fields.model = state.draft.model;
    if (state.draft.system) fields.system = state.draft.system;
  }
  const mine = messageElement({ role: 'user', content: text });
  const answer = messageElement({ role: 'assistant', content: '' });
  answer.classList.add('streaming');
  const body = answer.querySelector('.body');
  $('message-list').append(mine, answer);
  state.pinned = true;
  followIfPinned();

  const controller = new AbortController();
  state.stream = { controller };
  updateComposer();
  $('progress').textContent = 'askd is answering…';
  let written = '';
  let frame = 0;
  const draw = () => {
    frame = 0;
    renderMarkdown(body, written);
    followIfPinned();
  };
  try {
    const response = await api.ask(fields, controller.signal, (delta) => {
      written += delta;
      if (!frame) frame = requestAnimationFrame(draw);
    });
    cancelAnimationFrame(frame);
    renderMarkdown(body, response.message);
    answer.querySelector('.who').textContent = `askd · ${response.model}`;
    answer.classList.remove('streaming');
    followIfPinned();
    $('progress').textContent = 'The answer is complete.';
    await afterAnswer(conversation, response, text);
  } catch (error) {
    cancelAnimationFrame(frame);
    if (written) renderMarkdown(body, written);
    answer.classList.replace('streaming', 'unsaved');
    mine.classList.add('unsaved');
    if (!written) answer.remove();
    const note = document.createElement('p');
    note.className = 'unsaved-note';
    note.textContent = 'Not kept: askd stored nothing of this turn.';
    (written ? answer : mine).append(note);
    if (!prompt.value) prompt.value = text;
    $('progress').textContent = '';
    if (error.name === 'AbortError') {
      notice('Stopped. askd cut the model off and kept nothing of this turn; your message is back in the box.');
    } else {
      showError(error, () => {
        mine.remove();
        answer.remove();
        prompt.value = '';
        send(text);
      });
    }
  } finally {
    state.stream = null;
    updateComposer();
  }
}

async function afterAnswer(conversation, response, text) {
  if (conversation) {
    conversation.message_count += 2;
    if (state.current === conversation) state.current.model = response.model;
    moveToTop({ ...(state.conversations.find((c) => c.id === conversation.id) || conversation), model: response.model });
  } else {
    const title = text.split('\n').find((line) => line.trim())?.trim().slice(0, 60) || 'Untitled';
    state.current = { id: response.conversation_id, title, model: response.model, system: state.draft.system || null, message_count: 2 };
    state.draft = { model: '', system: '' };
    history.replaceState(null, '', `#/c/${response.conversation_id}`);
    moveToTop(state.current);
    showTitle();
    // The server makes the title; take its spelling.
    api.conversations(undefined, 1).then((page) => {
      const newest = page.conversations[0];
      if (newest?.id !== response.conversation_id) return;
      Object.assign(state.conversations.find((c) => c.id === newest.id) || {}, newest);
      labelItem(itemFor(newest.id), newest.title);
      if (state.current?.id === newest.id) {
        state.current.title = newest.title;
        showTitle();
      }
    }, () => {});
  }
  refreshUsage();
}

// --- Settings and usage ---------------------------------------------------------------------

function fillSettings() {
  $('model').value = state.current ? state.current.model || '' : state.draft.model;
  $('system').value = state.current ? state.current.system || '' : state.draft.system;
  $('settings-note').textContent = state.current ? 'For this conversation.' : 'For the next new chat.';
}

function learnAllowedModels(sentence) {
  const match = /allowed: ([^;]+)/.exec(sentence);
  if (!match) return;
  showModels(match[1].split(',').map((name) => name.trim()).filter(Boolean));
}

function showModels(names) {
  state.models = names;
  $('model-options').replaceChildren(...names.map((name) => Object.assign(document.createElement('option'), { value: name })));
}

async function toggleSettings(open = $('settings').hidden) {
  $('settings').hidden = !open;
  $('settings-button').setAttribute('aria-expanded', String(open));
  if (!open) return;
  fillSettings();
  $('model').focus();
  if (state.models === undefined) {
    state.models = null;
    try {
      const names = await api.models();
      if (names) showModels(names);
    } catch (error) {
      showError(error);
    }
  }
}

$('settings-button').addEventListener('click', () => toggleSettings());
$('settings-close').addEventListener('click', () => toggleSettings(false));

$('settings').addEventListener('submit', async (event) => {
  event.preventDefault();
  const model = $('model').value.trim();
  const system = $('system').value.trim();
  if (!state.current) {
    state.draft = { model, system };
    $('settings-note').textContent = 'Saved: the next new chat starts with these.';
    return;
  }
  const fields = {};
  if (model !== (state.current.model || '')) fields.model = model || null;
  if (system !== (state.current.system || '')) fields.system = system || null;
  if (!Object.keys(fields).length) {
    $('settings-note').textContent = 'Nothing changed.';
    return;
  }
  try {
    const changed = await api.change(state.current.id, fields);
    state.current.model = changed.model;
    state.current.system = changed.system;
    $('settings-note').textContent = 'Saved for this conversation.';
  } catch (error) {
    if (error.status === 400) {
      learnAllowedModels(error.message);
      $('settings-note').textContent = `askd refused: ${error.message}.`;
    } else showError(error);
  }
});

async function refreshUsage() {
  try {
    const usage = await api.usage();
    const count = (n, what) => `${n.toLocaleString('en')} ${what}${n === 1 ? '' : 's'}`;
    const line = (day) => `${count(day.requests, 'request')}, ${count(day.prompt_tokens + day.completion_tokens, 'token')}`;
    $('usage').textContent = `Today: ${line(usage.today)}. In total: ${line(usage.total)}.`;
  } catch (error) {
    if (error.status === 401) showError(error);
  }
}

// --- The narrow layout's drawer, and the keyboard --------------------------------------------

function openSidebar() {
  $('app').classList.add('sidebar-open');
  $('scrim').hidden = false;
  $('open-sidebar').setAttribute('aria-expanded', 'true');
  $('new-chat').focus();
}

function closeSidebar() {
  if (!$('app').classList.contains('sidebar-open')) return;
  $('app').classList.remove('sidebar-open');
  $('scrim').hidden = true;
  $('open-sidebar').setAttribute('aria-expanded', 'false');
}

$('open-sidebar').addEventListener('click', openSidebar);
$('close-sidebar').addEventListener('click', () => { closeSidebar(); $('open-sidebar').focus(); });
$('scrim').addEventListener('click', closeSidebar);
$('new-chat').addEventListener('click', () => {
  newChat();
  closeSidebar();
  prompt.focus();
});

document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || $('confirm').open) return;
  if (!$('settings').hidden) toggleSettings(false);
  else closeSidebar();
});

// --- Start ----------------------------------------------------------------------------------

function start() {
  if (!localStorage.getItem(tokenKey)) return showSignIn();
  $('signin').hidden = true;
  $('app').hidden = false;
  const id = /^#\/c\/([\w-]+)$/.exec(location.hash)?.[1];
  const list = loadMoreConversations();
  if (id) openConversation(id);
  else {
    showTitle();
    fillSettings();
    const opening = state.opening;
    list.then(() => {
      if (state.opening === opening && state.conversations.length) openConversation(state.conversations[0].id);
    });
  }
  refreshUsage();
  prompt.focus();
}

start();
