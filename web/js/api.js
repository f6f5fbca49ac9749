// Same-origin JSON API client. Every error becomes an ApiError with the server's
// {detail, code, field?, retry_after_ms?} (or a synthetic 'network' / 'timeout' code).

export class ApiError extends Error {
  constructor(status, code, detail, { field = null, retryAfterMs = null } = {}) {
    super(detail || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = field;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * api('/api/command', {method: 'POST', json: {...}})
 * api('/api/voice', {method: 'POST', form: formData, timeout: 60000})
 */
export async function api(path, { method = 'GET', json, form, timeout = 30000, keepalive = false } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  const headers = { Accept: 'application/json' };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form; // the browser sets the multipart boundary
  }
  let res;
  try {
    res = await fetch(path, {
      method, headers, body, keepalive,
      credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal,
    });
  } catch (e) {
    clearTimeout(timer);
    if (ctrl.signal.aborted) throw new ApiError(0, 'timeout', 'The server took too long to answer.');
    throw new ApiError(0, 'network', navigator.onLine === false ? 'You are offline.' : 'Could not reach Ballsy.');
  }
  let data = null;
  try {
    const text = await res.text();
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok) {
    let retryAfterMs = Number.isFinite(data?.retry_after_ms) ? data.retry_after_ms : null;
    const header = res.headers.get('Retry-After');
    if (retryAfterMs == null && header && /^\d+$/.test(header.trim())) retryAfterMs = Number(header) * 1000;
    throw new ApiError(res.status, data?.code || `http_${res.status}`, data?.detail || res.statusText || 'Request failed', {
      field: data?.field ?? null, retryAfterMs,
    });
  }
  return data;
}

/** Seconds to show for a retry hint (at least 1). */
export const retrySeconds = (ms) => Math.max(1, Math.ceil((Number(ms) || 1000) / 1000));

/** A sentence a person can act on, for any ApiError / socket error ({code, message, retry_after_ms}). */
export function describeError(err, { maxChars = 1000 } = {}) {
  const code = err?.code;
  const retry = err?.retryAfterMs ?? err?.retry_after_ms;
  switch (code) {
    case 'network':
      return navigator.onLine === false
        ? "You're offline. Check your connection and try again."
        : "Can't reach Ballsy right now. Check your connection and try again.";
    case 'timeout': return 'Ballsy took too long to answer. Please try again.';
    case 'rate_limited':
      return `You're going a bit fast. Try again in ${retrySeconds(retry)} s.`;
    case 'command_too_long': return `That's too long. Keep it under ${maxChars} characters.`;
    case 'invalid_command': return 'Please say or type a command.';
    case 'voice_unavailable':
      return 'Voice upload needs the AI, and the server is in offline mode. Type your command instead.';
    case 'payload_too_large': return 'That recording is too long. Try a shorter one.';
    case 'unsupported_media_type': return "This browser's audio format isn't supported. Type your command instead.";
    case 'storage_unavailable': return "Ballsy can't save right now. Please try again in a moment.";
    case 'busy': return 'Ballsy is still busy with the last reply. Try again in a moment.';
    case 'connection_lost': return 'Connection lost. Please retry.';
    case 'no_reply': return 'No reply from Ballsy. Please retry.';
    default:
      return err?.detail || err?.message || 'Something went wrong. Please try again.';
  }
}
