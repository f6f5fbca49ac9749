// Page-level helpers for Ballsy (its test hooks are documented at the top of web/app.js) and
// the per-test scenario wrapper.

import { mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch } from './browser.mjs';
import { startFake, startFakeLive, startServer, startWeather, ARTIFACTS, REPO_DIR } from './procs.mjs';

export { sleep };

/** Poll fn until it returns a truthy value; returns it, or throws with `what` after timeoutMs. */
export async function until(what, fn, { timeoutMs = 10_000, everyMs = 50 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

export const bubbles = (page, role) => page.locator(`[data-testid="message"][data-role="${role}"]`);
export const lastBubble = (page, role) => bubbles(page, role).last();

/** Open the app and wait until it has a session, a live socket and its history. */
export async function openApp(page, url, opts = {}) {
  return boot(page, () => page.goto(url), opts);
}

/** Reload the page and wait as openApp does. */
export async function reloadApp(page, opts = {}) {
  return boot(page, () => page.reload(), opts);
}

async function boot(page, navigate, { connected = true } = {}) {
  const isGet = (path) => (r) => new URL(r.url()).pathname === path && r.request().method() === 'GET';
  const conversation = page.waitForResponse(isGet('/api/conversation'), { timeout: 15_000 });
  const settings = page.waitForResponse(isGet('/api/settings/me'), { timeout: 15_000 });
  for (const p of [conversation, settings]) p.catch(() => {}); // awaited below; no unhandled rejection if navigate throws
  await navigate();
  await page.waitForFunction(() => window.__ballsy && window.__ballsy.state.mode !== 'unknown', null, { timeout: 15_000 });
  if (connected) await waitConnected(page);
  await Promise.all([conversation, settings]);
  // History and settings are applied in the tasks that handle the responses; give them a frame.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
}

export async function waitConnected(page, timeout = 15_000) {
  await page.waitForSelector('[data-testid="connection-indicator"][data-state="connected"]', { timeout });
}

/** Type a command and press Enter. */
export async function typeCommand(page, text) {
  const input = page.getByTestId('text-input');
  await input.fill(text);
  await input.press('Enter');
}

/** The reply bubble after `count` assistant bubbles exist: waits for it to reach `status`. */
export async function waitReply(page, { index = -1, status = 'complete', timeout = 15_000 } = {}) {
  const loc = index < 0 ? lastBubble(page, 'assistant') : bubbles(page, 'assistant').nth(index);
  await loc.and(page.locator(`[data-status="${status}"]`)).waitFor({ timeout });
  return loc;
}

/** Ask, and wait for the n-th assistant bubble (0-based) to complete; returns its text. */
export async function ask(page, text, { timeout = 15_000 } = {}) {
  const before = await bubbles(page, 'assistant').count();
  await typeCommand(page, text);
  const loc = bubbles(page, 'assistant').nth(before);
  await loc.and(page.locator('[data-status="complete"]')).waitFor({ timeout });
  return (await loc.locator('.text').textContent()) ?? '';
}

/** Text of every bubble, in order: [{role, status, text}]. */
export async function transcript(page) {
  return page.$$eval('[data-testid="message"]', (els) => els.map((el) => ({
    role: el.dataset.role,
    status: el.dataset.status,
    text: el.querySelector('.text')?.textContent ?? '',
  })));
}

/** fetch() from the page (same origin, with its cookie). */
export async function pageFetch(page, path, init = {}) {
  return page.evaluate(async ({ path, init }) => {
    const r = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json', ...(init.json ? { 'Content-Type': 'application/json' } : {}) }, method: init.method || 'GET', body: init.json ? JSON.stringify(init.json) : undefined });
    const text = await r.text();
    let body = null;
    try { body = JSON.parse(text); } catch { body = text; }
    return { status: r.status, body };
  }, { path, init });
}

/**
 * Save a screenshot to e2e/artifacts/screens/NAME.png, and (with docsName and
 * UPDATE_SCREENSHOTS=1) copy it to docs/docsName.
 */
export async function screenshot(page, name, { docsName = null } = {}) {
  const dir = join(ARTIFACTS, 'screens');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, animations: 'disabled', caret: 'hide', scale: 'device' });
  if (docsName && process.env.UPDATE_SCREENSHOTS === '1') copyFileSync(path, join(REPO_DIR, 'docs', docsName));
  return path;
}

const slug = (s) => s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);

/**
 * Start what a test needs, run body(env), always clean up. On failure a screenshot of the page
 * goes to artifacts/failures/. The page must be clean (no console error, no CSP violation, no
 * external request, no popup) at the end.
 *   opts.fake:    options for startFake, or false for none (then the server is offline)
 *   opts.weather: options for startWeather, or absent for none (then weather questions fail
 *                 fast: the server points at a closed port, never at Open-Meteo)
 *   opts.live:    a fake Live script (startFakeLive): starts the fake Live server, env.live
 *   opts.server:  extra options for startServer
 *   opts.browser: options for launch
 */
export async function scenario(t, opts, body) {
  const cleanups = [];
  const env = { defer: (fn) => cleanups.push(fn) };
  try {
    if (opts.fake !== false) {
      env.fake = await startFake({ name: `fake-${slug(t.name)}`, ...(opts.fake || {}) });
      cleanups.push(() => env.fake.stop());
    }
    if (opts.weather) {
      env.weather = await startWeather({ name: `weather-${slug(t.name)}`, ...opts.weather });
      cleanups.push(() => env.weather.stop());
    }
    if (opts.live) {
      env.live = await startFakeLive({ name: `fake-live-${slug(t.name)}`, script: opts.live });
      cleanups.push(() => env.live.stop());
    }
    env.server = await startServer({ fake: env.fake || null, weather: env.weather || null, live: env.live || null, name: `ballsy-${slug(t.name)}`, ...(opts.server || {}) });
    cleanups.push(() => env.server.stop());
    env.browser = await launch(opts.browser || {});
    cleanups.push(() => env.browser.close());
    env.page = env.browser.page;
    try {
      await body(env);
    } catch (e) {
      try {
        const dir = join(ARTIFACTS, 'failures');
        mkdirSync(dir, { recursive: true });
        await env.page.screenshot({ path: join(dir, `${slug(t.name)}.png`), timeout: 5000 });
      } catch { /* best effort */ }
      const extra = env.browser.problems;
      const dirty = Object.values(extra).some((v) => v.length);
      if (dirty) e.message += `\nPage problems: ${JSON.stringify(extra, null, 2)}`;
      throw e;
    }
    env.browser.assertClean();
  } finally {
    for (const fn of cleanups.reverse()) {
      try { await fn(); } catch { /* keep cleaning */ }
    }
  }
}
