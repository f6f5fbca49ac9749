// Launch the system Chromium through playwright-core, with a fresh profile per browser, and
// record everything on the page that a test must fail on: console errors, uncaught
// exceptions, CSP violations, requests leaving localhost, popups, crashes.

import { chromium } from 'playwright-core';
import { basePageStubs, liveAudioRecorder, speechRecognitionStub, withoutSpeechRecognition } from './stubs.mjs';
import { tempDir, removeDir } from './procs.mjs';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

const isLocal = (url) => {
  try {
    const u = new URL(url);
    if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true;
    return ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
  } catch {
    return true;
  }
};

/**
 * opts: viewport, isMobile, hasTouch, deviceScaleFactor, colorScheme,
 *       recognition (options for speechRecognitionStub, null for the browser's own, or false
 *       for none at all: the page takes its recorder path), args (extra Chromium flags, e.g.
 *       the fake media stream ones), permissions (granted to every origin),
 *       liveAudio (install liveAudioRecorder: window.__audio).
 * Returns {context, page, problems, tolerate(), assertClean(), close()}.
 */
export async function launch(opts = {}) {
  const {
    viewport = { width: 1280, height: 800 }, isMobile = false, hasTouch = false,
    deviceScaleFactor = 1, colorScheme = 'light', recognition = null, args = [], permissions = [],
    liveAudio = false,
  } = opts;
  const profile = tempDir('ballsy-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, ...args],
    // Only when asked for: an explicit empty list makes Chromium deny what it would otherwise
    // leave to the page to ask (Notification.permission becomes "denied", not "default").
    ...(permissions.length ? { permissions } : {}),
    viewport, isMobile, hasTouch, deviceScaleFactor, colorScheme,
    locale: 'en-US',
    timezoneId: 'UTC',
    serviceWorkers: 'block',
  });

  const problems = { console: [], pageErrors: [], csp: [], external: [], popups: [], crashes: [] };
  const tolerated = [];
  const tolerances = new Set();
  const t0 = Date.now();
  const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(2)}s`;

  await context.exposeBinding('__e2eReport', (_source, msg) => {
    if (msg?.kind === 'csp') problems.csp.push(msg.detail);
  });
  await context.addInitScript(basePageStubs);
  if (recognition) await context.addInitScript(speechRecognitionStub, recognition);
  else if (recognition === false) await context.addInitScript(withoutSpeechRecognition);
  if (liveAudio) await context.addInitScript(liveAudioRecorder);

  // Nothing may leave the machine (there is no network, and the page promises not to try).
  await context.route((url) => !isLocal(url.href), (route) => {
    problems.external.push(route.request().url());
    return route.abort('blockedbyclient');
  });

  const watch = (page, label) => {
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const loc = msg.location();
      const entry = { when: stamp(), page: label, text: msg.text(), url: loc?.url || '' };
      const tol = [...tolerances].find((re) => re.test(entry.text));
      if (tol) tolerated.push(entry);
      else problems.console.push(entry);
    });
    page.on('pageerror', (err) => problems.pageErrors.push({ when: stamp(), page: label, text: String(err?.stack || err) }));
    page.on('crash', () => problems.crashes.push({ when: stamp(), page: label }));
  };
  let pages = 0;
  let expected = 0; // pages a test opens itself (newPage), not popups
  context.on('page', (p) => {
    pages++;
    if (pages > 1 && expected > 0) expected--;
    else if (pages > 1) problems.popups.push(p.url() || '(blank)');
    watch(p, `page${pages}`);
  });
  const page = context.pages()[0] || (await context.newPage());
  if (pages === 0) {
    pages = 1;
    watch(page, 'page1');
  }

  return {
    context,
    page,
    problems,
    tolerated,
    /** A second tab in the same profile (same cookies), watched like the first. */
    async newPage() {
      expected++;
      return context.newPage();
    },
    /** Console errors matching re are collected apart (not failures) until the returned fn is called. */
    tolerate(re) {
      tolerances.add(re);
      return () => tolerances.delete(re);
    },
    /** Throws, listing everything, if the page logged an error, broke its CSP, etc. */
    assertClean() {
      const bad = Object.entries(problems).filter(([, v]) => v.length);
      if (bad.length) {
        throw new Error(`The page was not clean:\n${JSON.stringify(Object.fromEntries(bad), null, 2)}`);
      }
    },
    async close() {
      try { await context.close(); } catch { /* already gone */ }
      removeDir(profile);
    },
  };
}
