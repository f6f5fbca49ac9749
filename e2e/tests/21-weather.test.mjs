// 21. Weather on the page, against the fake Open-Meteo: the card, the Home city and Units
// settings, and a question without a place: the browser's position when the user allows it,
// "Which city?" and the home city offer when not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, ask, until, sleep, pageFetch, bubbles } from '../lib/app.mjs';
import { geolocationRecorder } from '../lib/stubs.mjs';
import { assertAccessible } from '../lib/axe.mjs';

const BOSTON = { latitude: 42.3601, longitude: -71.0589 };

const commandFrames = (page) => page.evaluate(() => window.__ballsy.sentFrames.filter((f) => typeof f.command === 'string'));

test('"weather in Boston" shows a card (now, high/low, next hours) in the units from Settings', async (t) => {
  await scenario(t, { fake: false, weather: {} }, async ({ page, server }) => {
    await openApp(page, server.url);
    const text = await ask(page, 'weather in Boston');
    assert.match(text, /Boston/, `spoken answer: "${text}"`);
    const card = bubbles(page, 'assistant').last().getByTestId('weather-card');
    await card.waitFor();
    assert.match(await card.locator('.wx-place').textContent(), /^Boston, Massachusetts, United States$/);
    // Units "automatic" with the browser's en-US: imperial (the fixture is 12.3 °C, high 15.2, low 8.1).
    assert.equal(await card.getAttribute('data-units'), 'imperial');
    assert.equal(await card.getByTestId('weather-now').textContent(), '54°F');
    assert.match(await card.locator('.wx-cond').textContent(), /cloudy/);
    assert.match(await card.getByTestId('weather-range').textContent(), /H 59°F L 47°F/);
    assert.equal(await card.getByTestId('weather-hour').count(), 6, 'the next six hours');
    assert.equal(await card.locator('a.wx-credit').getAttribute('href'), 'https://open-meteo.com/');
    await assertAccessible(page, 'the weather card', { include: ['[data-testid="weather-card"]'] });

    // Units: metric in Settings, then the same question answers in °C.
    await page.getByTestId('settings-button').click();
    const dialog = page.getByTestId('settings-panel');
    await dialog.waitFor({ state: 'visible' });
    assert.equal(await dialog.getByTestId('setting-units').inputValue(), 'auto', 'automatic by default');
    await assertAccessible(page, 'the settings dialog', { include: ['[data-testid="settings-panel"]'] });
    await dialog.getByLabel('Units').selectOption('metric');
    const saved = page.waitForResponse((r) => r.url().endsWith('/api/settings/me') && r.request().method() === 'PUT');
    await page.keyboard.press('Escape');
    assert.equal((await saved).status(), 200);
    assert.equal((await pageFetch(page, '/api/settings/me')).body.settings.units, 'metric');

    await ask(page, 'weather in Boston');
    const card2 = bubbles(page, 'assistant').last().getByTestId('weather-card');
    await card2.waitFor();
    assert.equal(await card2.getAttribute('data-units'), 'metric');
    assert.equal(await card2.getByTestId('weather-now').textContent(), '12°C');
    assert.match(await card2.getByTestId('weather-range').textContent(), /H 15°C L 8°C/);
  });
});

test('the Home city setting answers "what\'s the weather" without asking for the position', async (t) => {
  await scenario(t, { fake: false, weather: {} }, async ({ page, server, browser }) => {
    await browser.context.addInitScript(geolocationRecorder);
    await openApp(page, server.url);
    await page.getByTestId('settings-button').click();
    const dialog = page.getByTestId('settings-panel');
    await dialog.getByLabel('Home city').fill('Boston');
    const saved = page.waitForResponse((r) => r.url().endsWith('/api/settings/me') && r.request().method() === 'PUT');
    await dialog.getByRole('button', { name: 'Close settings' }).click();
    assert.equal((await saved).status(), 200);
    assert.equal((await pageFetch(page, '/api/settings/me')).body.settings.home_city, 'Boston');

    await ask(page, "what's the weather");
    await bubbles(page, 'assistant').last().getByTestId('weather-card').waitFor();
    assert.match(await bubbles(page, 'assistant').last().locator('.wx-place').textContent(), /^Boston/);
    assert.equal(await page.evaluate(() => window.__e2e.geolocationCalls), 0, 'the position was never asked for');
  });
});

test('without a place: the position is asked for only then, and the question is sent again with it', async (t) => {
  await scenario(t, { fake: false, weather: {} }, async ({ page, server, browser, weather }) => {
    await browser.context.grantPermissions(['geolocation'], { origin: server.url });
    await browser.context.setGeolocation(BOSTON);
    await browser.context.addInitScript(geolocationRecorder);
    await openApp(page, server.url);
    await ask(page, 'what time is it');
    assert.equal(await page.evaluate(() => window.__e2e.geolocationCalls), 0, 'not asked on load or for other questions');

    await ask(page, "what's the weather");
    // The first answer needs a place; the page asks the browser and sends the question again.
    const card = page.getByTestId('weather-card');
    await card.waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => window.__e2e.geolocationCalls), 1);
    const frames = (await commandFrames(page)).filter((f) => f.command === "what's the weather");
    assert.equal(frames.length, 2, 'the question was sent twice');
    assert.equal(frames[0].location, undefined, 'first without a position');
    assert.deepEqual(frames[1].location, { latitude: 42.36, longitude: -71.06 }, 'then with it, rounded to 0.01°');
    await bubbles(page, 'assistant').last().and(page.locator('[data-status="complete"]')).waitFor();
    assert.equal(await card.getByTestId('weather-now').textContent(), '54°F', "Boston's fixture weather, from the coordinates");
    const forecasts = (await weather.requests()).filter((r) => r.endpoint === 'forecast');
    assert.equal(forecasts.length, 1);
    assert.match(JSON.stringify(forecasts[0]), /42\.36/);
    const spoken = await page.evaluate(() => window.__e2e.utterances.map((u) => u.text).join(' '));
    assert.doesNotMatch(spoken, /Which city/, 'the "Which city?" answer was not read out');
  });
});

test('without a place and the position refused: "Which city?" and an offer to set the home city', async (t) => {
  await scenario(t, { fake: false, weather: {} }, async ({ page, server, browser }) => {
    await browser.context.clearPermissions();
    await browser.context.addInitScript(geolocationRecorder);
    await openApp(page, server.url);
    const reply = bubbles(page, 'assistant');
    await ask(page, "what's the weather");
    const offer = page.getByTestId('home-city-offer');
    await offer.waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => window.__e2e.geolocationCalls), 1, 'the browser was asked');
    assert.equal(await reply.count(), 1, 'the question was not sent again');
    assert.equal((await commandFrames(page)).filter((f) => f.location).length, 0, 'no position was sent');
    await until('"Which city?" to be spoken', async () =>
      (await page.evaluate(() => window.__e2e.utterances.map((u) => u.text))).includes('Which city?'));
    await assertAccessible(page, 'the home city offer', { include: ['[data-testid="chat-log"]'] });

    await offer.getByRole('button', { name: 'set your home city' }).click();
    const dialog = page.getByTestId('settings-panel');
    await dialog.waitFor({ state: 'visible' });
    await sleep(50);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'setting-home-city', 'the home city field has focus');
  });
});
