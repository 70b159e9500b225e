// The page at /shared/{share_id}: reads the shared conversation from /s/{share_id} (no token)
// and shows it read-only. Titles and prompts are set as text; answers are rendered by
// render.js (marked, then DOMPurify), as the chat page renders them.
import { renderMarkdown, handleCopy } from './render.js?v=72e2eea5c1';

const $ = (id) => document.getElementById(id);

function messageElement(message) {
  const item = document.createElement('li');
  item.className = `message ${message.role}`;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = message.role === 'user' ? 'Prompt' : message.role === 'system' ? 'System' : 'askd';
  const body = document.createElement('div');
  body.className = 'body';
  if (message.role === 'assistant') renderMarkdown(body, message.content);
  else body.textContent = message.content;
  item.append(who, body);
  return item;
}

async function show() {
  const id = decodeURIComponent(location.pathname.split('/').pop() || '');
  let response;
  try {
    response = await fetch(`/s/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' }, credentials: 'omit' });
  } catch {
    $('status').textContent = 'askd cannot be reached; try again shortly.';
    return;
  }
  if (!response.ok) {
    $('status').textContent = response.status === 404
      ? 'This shared conversation does not exist, has expired or was revoked.'
      : 'The shared conversation could not be loaded; try again shortly.';
    return;
  }
  const shared = await response.json();
  const title = shared.title || 'Untitled';
  $('title').textContent = title;
  document.title = `${title} · askd`;
  $('message-list').replaceChildren(...shared.messages.map(messageElement));
  $('status').textContent = shared.messages.length ? '' : 'This conversation has no messages.';
}

$('message-list').addEventListener('click', handleCopy);
show();
