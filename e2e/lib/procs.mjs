// Start and stop the Ballsy server and the fake Gemini server as child processes.
//
// Every process gets a free port (PORT=0 / --port 0; the real port is read from the first log
// line) and every server a fresh SQLite file in its own temp dir, unless a test passes one in
// (the restart test reuses both). Output goes to memory and to e2e/artifacts/logs/ so a failing
// run can be read afterwards.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(E2E_DIR, '..');
export const ARTIFACTS = join(E2E_DIR, 'artifacts');

const TARGET = '/root/.cache/ballsy-target/debug';
export const BALLSY_BIN = process.env.BALLSY_BIN || join(TARGET, 'ballsy');
export const FAKE_GEMINI_BIN = process.env.FAKE_GEMINI_BIN || join(TARGET, 'fake-gemini');
// The fake Open-Meteo; by default next to the fake Gemini (both are ballsy-bench binaries).
export const FAKE_WEATHER_BIN = process.env.FAKE_WEATHER_BIN || join(dirname(FAKE_GEMINI_BIN), 'fake-weather');
export const FAKE_LIVE_BIN = process.env.FAKE_LIVE_BIN || join(TARGET, 'fake-live');

// Children still running when the test process goes away are killed with it.
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
});

let seq = 0;
function logFile(name) {
  const dir = join(ARTIFACTS, 'logs');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.log`);
}

/** A temp dir for one test (SQLite files, browser profiles); removed by cleanup(). */
export function tempDir(prefix = 'ballsy-e2e-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir) {
  try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
}

/**
 * Spawn `bin args` and resolve once `ready(line)` returns a truthy value for a stdout/stderr
 * line; rejects if the process exits first or timeoutMs passes.
 */
function spawnUntil(name, bin, args, env, ready, timeoutMs) {
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const path = logFile(`${name}-${process.pid}-${++seq}`);
  const file = createWriteStream(path);
  const lines = [];
  const exited = new Promise((res) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      file.end();
      res({ code, signal });
    });
  });
  const result = new Promise((resolvePromise, reject) => {
    let done = false;
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      fn(v);
    };
    const timer = setTimeout(() => {
      finish(reject, new Error(`${name}: not ready after ${timeoutMs} ms. Output:\n${lines.join('\n')}`));
      child.kill('SIGKILL');
    }, timeoutMs);
    const onData = (stream) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        file.write(chunk);
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          lines.push(line);
          if (!done) {
            const v = ready(line);
            if (v) finish(resolvePromise, v);
          }
        }
      });
    };
    onData(child.stdout);
    onData(child.stderr);
    child.on('error', (e) => finish(reject, new Error(`${name}: could not start ${bin}: ${e.message}`)));
    exited.then(({ code, signal }) =>
      finish(reject, new Error(`${name}: exited (code ${code}, signal ${signal}) before it was ready. Output:\n${lines.join('\n')}`)));
  });
  return { child, lines, exited, result, logPath: path };
}

/**
 * The fake Gemini server. Options map to its flags (ttftMs, chunkDelayMs, chunks, reply).
 * Returns helpers for its /__fake control API.
 */
export async function startFake({ ttftMs = 200, chunkDelayMs = 150, chunks = 6, reply = 'Hello from the fake.', name = 'fake-gemini' } = {}) {
  const args = ['--port', '0', '--ttft-ms', String(ttftMs), '--chunk-delay-ms', String(chunkDelayMs),
    '--chunks', String(chunks), '--reply', reply];
  const p = spawnUntil(name, FAKE_GEMINI_BIN, args, { ...process.env },
    (line) => line.match(/^fake-gemini listening on (http:\/\/\S+)/)?.[1], 15_000);
  const url = await p.result;
  const call = async (method, path, body) => {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`fake ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    url,
    logPath: p.logPath,
    config: (patch) => call('POST', '/__fake/config', patch),
    fault: (f) => call('POST', '/__fake/faults', f),
    requests: () => call('GET', '/__fake/requests'),
    stats: () => call('GET', '/__fake/stats'),
    async stop() {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    },
  };
}

/**
 * The fake Open-Meteo (forecast and geocoding on one port; fixture cities Boston, Paris, New
 * York, Austin; any coordinates get a forecast). `now` pins its clock (RFC 3339). Returns
 * helpers for its /__fake control API; pass it to startServer as `weather`.
 */
export async function startWeather({ now = null, name = 'fake-weather' } = {}) {
  const args = ['--port', '0', ...(now ? ['--now', now] : [])];
  const p = spawnUntil(name, FAKE_WEATHER_BIN, args, { ...process.env },
    (line) => line.match(/^fake-weather listening on (http:\/\/\S+)/)?.[1], 15_000);
  const url = await p.result;
  const call = async (method, path, body) => {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`fake-weather ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    url,
    logPath: p.logPath,
    /** [{endpoint, query, ...}] as the fake recorded them. */
    requests: () => call('GET', '/__fake/requests'),
    stats: () => call('GET', '/__fake/stats'),
    fault: (endpoint, f) => call('POST', `/__fake/faults?endpoint=${endpoint}`, f),
    async stop() {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    },
  };
}

/**
 * The fake Gemini Live server (bench/src/fake_live.rs). `script` is its FakeLiveConfig (turns of
 * events, audio_bytes_per_turn, …); it can be replaced later with configure(). Pass the result
 * as startServer's `live` to point GEMINI_LIVE_URL at it.
 */
export async function startFakeLive({ script = null, name = 'fake-live' } = {}) {
  const p = spawnUntil(name, FAKE_LIVE_BIN, ['--port', '0'], { ...process.env },
    (line) => line.match(/^fake-live listening on (ws:\/\/\S+)/)?.[1], 15_000);
  const url = await p.result;
  const base = new URL(url);
  const control = `http://${base.host}`;
  const call = async (method, path, body) => {
    const res = await fetch(control + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`fake-live ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const fake = {
    url,
    logPath: p.logPath,
    /** Replace the script (and start again at its first turn). */
    configure: (config) => call('POST', '/__fake/config', config),
    /** Every connection the relay opened, as the fake saw it (setup, audio_bytes, …). */
    connections: () => call('GET', '/__fake/connections'),
    async stop() {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    },
  };
  if (script) await fake.configure(script);
  return fake;
}

/**
 * The Ballsy server. `fake` (from startFake) enables Gemini against it; without it the server
 * runs in offline mode. `weather` (from startWeather) serves Open-Meteo; `live` (from
 * startFakeLive) points Live voice at the fake Live server. `db` reuses a SQLite file, `port` a
 * port (0 = any free one).
 */
export async function startServer({ fake = null, weather = null, live = null, db = null, dir = null, port = 0, env = {}, name = 'ballsy' } = {}) {
  const ownDir = dir ? null : tempDir();
  const dbPath = db || join(dir || ownDir, 'ballsy.db');
  const childEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    DATABASE_URL: `sqlite://${dbPath}`,
    LOG_FORMAT: 'json',
    RATE_LIMIT_ENABLED: 'false',
    ...(fake ? { GEMINI_API_KEY: 'e2e-fake-key', GEMINI_BASE_URL: fake.url } : {}),
    // Without a fake weather the server still must not reach Open-Meteo: point it nowhere.
    WEATHER_BASE_URL: weather ? weather.url : 'http://127.0.0.1:9',
    GEOCODING_BASE_URL: weather ? weather.url : 'http://127.0.0.1:9',
    ...(live ? { GEMINI_LIVE_URL: live.url } : {}),
    ...env,
  };
  // An empty value means "leave this variable out" (GEMINI_API_KEY: '' = offline mode).
  for (const [k, v] of Object.entries(childEnv)) if (v === '' || v == null) delete childEnv[k];
  const p = spawnUntil(name, BALLSY_BIN, [], childEnv, (line) => {
    if (!line.startsWith('{')) return null;
    try {
      const j = JSON.parse(line);
      return typeof j.message === 'string' && j.message.startsWith('Ballsy is listening on') ? j : null;
    } catch {
      return null;
    }
  }, 20_000);
  const info = await p.result;
  const stopped = { value: null };
  return {
    url: info.url,
    port: info.port,
    dbPath,
    info,
    lines: p.lines,
    logPath: p.logPath,
    child: p.child,
    exited: p.exited,
    /** SIGTERM (default) and wait; resolves {code, signal}. Kills after timeoutMs. */
    async stop({ signal = 'SIGTERM', timeoutMs = 15_000 } = {}) {
      if (stopped.value) return stopped.value;
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
      const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
      stopped.value = await p.exited;
      clearTimeout(t);
      if (ownDir) removeDir(ownDir);
      return stopped.value;
    },
  };
}
