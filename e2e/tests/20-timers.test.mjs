// 20. Timers on the page: setting one by typing, the pending list with a live countdown, the
// ring (card, Web Audio chime, spoken label, Notification) and Dismiss / "+5 min", removing one
// from the list, and the "missed" card for one that came due while no page was open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, ask, until, sleep, pageFetch } from '../lib/app.mjs';
import { audioRecorder, notificationRecorder } from '../lib/stubs.mjs';
import { assertAccessible } from '../lib/axe.mjs';

const audio = (page) => page.evaluate(() => {
  const a = window.__e2e.audio;
  return { contexts: a.contexts, starts: a.starts.length, state: a.context?.state ?? null, states: a.states };
});

test('"set a timer for 2 seconds" rings: card, chime repeated until Dismiss, label spoken, a notification', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server, browser }) => {
    await browser.context.grantPermissions(['notifications'], { origin: server.url });
    await browser.context.addInitScript(audioRecorder);
    await browser.context.addInitScript(notificationRecorder);
    await openApp(page, server.url);
    assert.equal((await audio(page)).contexts, 0, 'no AudioContext before any timer');

    const reply = await ask(page, 'set a timer for 2 seconds');
    assert.match(reply, /2 seconds/i, `the reply confirms it: "${reply}"`);

    // Pending, with a countdown, until it rings.
    const item = page.getByTestId('timer-item');
    await item.waitFor({ timeout: 2000 });
    assert.match(await item.getByTestId('timer-countdown').textContent(), /^0:0[12]$/);

    const card = page.getByTestId('timer-ringing');
    await card.waitFor({ timeout: 5000 });
    await item.waitFor({ state: 'detached', timeout: 1000 });
    assert.match(await card.textContent(), /Timer/);

    // The chime started on a running AudioContext, and repeats while the card is up.
    const first = await until('the chime to start', async () => {
      const a = await audio(page);
      return a.starts > 0 && a;
    }, { timeoutMs: 2000 });
    assert.equal(first.contexts, 1, 'one AudioContext');
    assert.equal(first.state, 'running', `the context runs (states: ${first.states.join(' → ')})`);
    await until('the chime to repeat', async () => (await audio(page)).starts > first.starts, { timeoutMs: 4000 });

    const spoken = await page.evaluate(() => window.__e2e.utterances.map((u) => u.text));
    assert.ok(spoken.some((s) => /timer is done/i.test(s)), `the ring is spoken: ${JSON.stringify(spoken)}`);

    const notes = await page.evaluate(() => window.__e2e.notifications);
    assert.equal(notes.asked.length, 0, 'permission already granted: not asked again');
    assert.equal(notes.shown.length, 1, 'one notification');
    assert.equal(notes.shown[0].title, 'Timer');
    assert.match(notes.shown[0].tag, /^ballsy-timer-\d+$/);

    await assertAccessible(page, 'the ringing card', { include: ['[data-testid="timer-alerts"]'] });

    await card.getByTestId('timer-dismiss').click();
    await card.waitFor({ state: 'detached', timeout: 1000 });
    const stopped = await audio(page);
    await sleep(3000);
    const later = await audio(page);
    assert.equal(later.starts, stopped.starts, 'no chime after Dismiss');
    assert.equal(later.state, 'suspended', 'the context is suspended again');
    assert.ok((await page.evaluate(() => window.__e2e.notifications.shown[0].closed)), 'the notification is closed');
    assert.equal(await page.getByTestId('timer-alerts').isHidden(), true);
  });
});

test('pending timers: listed from /api/timers on load with a live countdown, removable, updated on cancel', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server, browser }) => {
    await browser.context.addInitScript(notificationRecorder);
    await openApp(page, server.url);
    assert.equal(await page.getByTestId('timer-list').isHidden(), true, 'no list without timers');
    assert.equal((await page.evaluate(() => window.__e2e.notifications.asked.length)), 0, 'notifications are not asked for on load');

    await ask(page, 'set a 10 minute pasta timer');
    await ask(page, 'remind me in 20 minutes to call mom');
    assert.equal((await page.evaluate(() => window.__e2e.notifications.asked.length)), 1, 'asked once, after the first timer was set');

    await reloadApp(page);
    const items = page.getByTestId('timer-item');
    await until('two timers listed after the reload', async () => (await items.count()) === 2);
    assert.equal(await items.nth(0).locator('.timer-title').textContent(), 'Pasta timer', 'soonest first');
    assert.equal(await items.nth(1).locator('.timer-title').textContent(), 'Reminder: call mom');
    const countdown = items.nth(0).getByTestId('timer-countdown');
    const c1 = await countdown.textContent();
    assert.match(c1, /^(10:00|9:5\d)$/);
    await until('the countdown to tick', async () => (await countdown.textContent()) !== c1, { timeoutMs: 2500 });
    assert.match(await countdown.getAttribute('aria-label'), /^9 minutes \d+ seconds? left$/);

    await assertAccessible(page, 'the timer list', { include: ['[data-testid="timer-list"]'] });

    // Remove the reminder with its button: DELETE /api/timers/{id}.
    const deleted = page.waitForResponse((r) => /\/api\/timers\/\d+$/.test(new URL(r.url()).pathname) && r.request().method() === 'DELETE');
    await items.nth(1).getByRole('button', { name: 'Cancel Reminder: call mom' }).click();
    assert.equal((await deleted).status(), 204);
    await until('one timer left', async () => (await items.count()) === 1);
    const api = await pageFetch(page, '/api/timers');
    assert.deepEqual(api.body.timers.map((x) => x.label), ['pasta'], 'the server has only the pasta timer');

    // Cancelling by voice/text updates the list from the timer_cancelled action.
    await ask(page, 'cancel the pasta timer');
    await until('no timers left', async () => (await items.count()) === 0);
    assert.equal(await page.getByTestId('timer-list').isHidden(), true);
  });
});

test('"+5 min" on a ringing timer sets a new 5-minute timer with the same label', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    await ask(page, 'set a timer called tea for 2 seconds');
    const card = page.getByTestId('timer-ringing');
    await card.waitFor({ timeout: 5000 });
    assert.match(await card.textContent(), /Tea timer/);

    const before = await page.getByTestId('message').count();
    await card.getByRole('button', { name: '+5 min' }).click();
    await card.waitFor({ state: 'detached', timeout: 1000 });
    const item = page.getByTestId('timer-item');
    await item.waitFor({ timeout: 5000 });
    assert.equal(await item.locator('.timer-title').textContent(), 'Tea timer');
    assert.match(await item.getByTestId('timer-countdown').textContent(), /^(5:00|4:5\d)$/);
    assert.equal(await page.getByTestId('message').count(), before + 2, 'it went through the conversation like a typed command');

    const api = await pageFetch(page, '/api/timers');
    assert.equal(api.body.timers.length, 1);
    assert.equal(api.body.timers[0].label, 'tea');
    assert.equal(api.body.timers[0].duration_s, 300);
  });
});

test('a timer that came due while no page was open shows as missed on the next visit', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    await ask(page, 'set a 2 second egg timer');
    await page.getByTestId('timer-item').waitFor();

    await page.goto('about:blank'); // the socket closes: nobody to ring for
    await sleep(3500);
    await openApp(page, server.url);
    const card = page.getByTestId('timer-missed');
    await card.waitFor({ timeout: 5000 });
    assert.match(await card.textContent(), /Missed: Egg timer/);
    assert.equal(await page.getByTestId('timer-ringing').count(), 0, 'it does not ring now');
    assert.equal(await page.getByTestId('timer-item').count(), 0, 'and is not pending');
    await assertAccessible(page, 'the missed card', { include: ['[data-testid="timer-alerts"]'] });

    await card.getByTestId('timer-dismiss').click();
    await card.waitFor({ state: 'detached' });
    await reloadApp(page);
    await sleep(500);
    assert.equal(await page.getByTestId('timer-missed').count(), 0, 'shown once');
  });
});

test('every open tab rings, and Dismiss in one tab dismisses it in the others', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server, browser }) => {
    await openApp(page, server.url);
    const other = await browser.context.newPage();
    // A second tab opened by the test, not by the page: not a popup.
    const i = browser.problems.popups.findIndex((u) => u === 'about:blank' || u === '(blank)');
    assert.ok(i >= 0, 'the harness saw the second tab');
    browser.problems.popups.splice(i, 1);
    await openApp(other, server.url);

    await ask(page, 'set a timer for 2 seconds');
    const here = page.getByTestId('timer-ringing');
    const there = other.getByTestId('timer-ringing');
    await here.waitFor({ timeout: 5000 });
    await there.waitFor({ timeout: 5000 });

    await there.getByTestId('timer-dismiss').click();
    await there.waitFor({ state: 'detached' });
    await here.waitFor({ state: 'detached', timeout: 2000 });
  });
});
