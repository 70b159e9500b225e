// askd's HTTP API as the page uses it. Every call carries the token in the Authorization header
// (never in a URL), and every failure becomes an ApiError carrying the server's own sentence.

/** A failed call: `status` is the HTTP status, or 0 when askd could not be reached. */
export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Seconds from a Retry-After value (seconds or an HTTP date), or null. */
function seconds(value) {
  if (value === null || value === undefined || value === '') return null;
  const number = Number(value);
  if (Number.isFinite(number)) return Math.max(0, Math.ceil(number));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

const unreachable = 'askd could not be reached: the network or the server is down';

export class Api {
  /** @param {() => string} token the current access token */
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token()}`, ...extra };
  }

  async call(method, path, body, signal) {
    const init = { method, headers: this.headers(), signal, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, unreachable);
    }
    if (response.status === 204) return null;
    const payload = await response.json().catch(() => null);
    if (!response.ok) throw Api.failure(response, payload);
    return payload;
  }

  static failure(response, payload) {
    const sentence = payload && typeof payload.error === 'string' ? payload.error : `${response.status} ${response.statusText}`.trim();
    return new ApiError(response.status, sentence, seconds(response.headers.get('Retry-After')));
  }

  conversations(cursor, limit = 30) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    return this.call('GET', `/conversations?${query}`);
  }

  conversation(id, cursor) {
    const query = cursor ? `?${new URLSearchParams({ cursor })}` : '';
    return this.call('GET', `/conversation/${encodeURIComponent(id)}${query}`);
  }

  change(id, fields) {
    return this.call('PATCH', `/conversation/${encodeURIComponent(id)}`, fields);
  }

  remove(id) {
    return this.call('DELETE', `/conversation/${encodeURIComponent(id)}`);
  }

  removeAll() {
    return this.call('DELETE', '/conversations');
  }

  usage() {
    return this.call('GET', '/usage');
  }

  /** The model names of GET /v1/models (OpenAI's shape), or null if askd does not answer it. */
  async models() {
    try {
      const list = await this.call('GET', '/v1/models');
      const names = (list && Array.isArray(list.data) ? list.data : []).map((model) => model && model.id).filter((id) => typeof id === 'string');
      return names.length ? names : null;
    } catch (error) {
      if (error.status === 401) throw error;
      return null;
    }
  }

  /**
   * POST /ask with "stream": true, read as Server-Sent Events from the fetch body (EventSource
   * cannot POST). Calls `onDelta` with each piece of text; resolves with the `done` event's
   * response; rejects with an ApiError (or an AbortError when `signal` aborts).
   */
  async ask(fields, signal, onDelta) {
    let response;
    try {
      response = await fetch('/ask', {
        method: 'POST',
        headers: this.headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
        body: JSON.stringify({ ...fields, stream: true }),
        signal,
        cache: 'no-store',
      });
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      throw new ApiError(0, unreachable);
    }
    if (!response.ok || !(response.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
      throw Api.failure(response, await response.json().catch(() => null));
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (error.name === 'AbortError') throw error;
        throw new ApiError(0, 'the connection to askd broke off midway: nothing of this answer was kept');
      }
      if (chunk.done) break;
      buffer += chunk.value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseEvent(block);
        if (!event) continue;
        if (event.type === 'message' && typeof event.data.delta === 'string') onDelta(event.data.delta);
        else if (event.type === 'done') return event.data.response;
        else if (event.type === 'error') {
          throw new ApiError(event.data.status || 502, event.data.error || 'the answer failed', seconds(event.data.retry_after));
        }
      }
    }
    throw new ApiError(502, 'the answer ended before it was complete: nothing of it was kept');
  }
}

/** One SSE event from its lines; null for a comment (": keep-alive") or an unreadable one. */
function parseEvent(block) {
  let type = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  try {
    return { type, data: JSON.parse(data.join('\n')) };
  } catch {
    return null;
  }
}
