// 3. Settings changed in the dialog are saved on the server and survive a reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scenario, openApp, reloadApp, pageFetch } from '../lib/app.mjs';

test('theme and speaking speed survive a reload (and come from the server, not only localStorage)', async (t) => {
  await scenario(t, { fake: false }, async ({ page, server }) => {
    await openApp(page, server.url);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light', 'starts light (light color scheme)');

    await page.getByTestId('settings-button').click();
    const dialog = page.getByTestId('settings-panel');
    await dialog.waitFor({ state: 'visible' });

    await dialog.getByTestId('setting-theme').selectOption('dark');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'the theme applies at once');

    // 175 -> 225 wpm with the keyboard, like a person would (step 5).
    const speed = dialog.getByTestId('setting-speed');
    assert.equal(await speed.inputValue(), '175');
    await speed.focus();
    for (let i = 0; i < 10; i++) await speed.press('ArrowRight');
    assert.equal(await speed.inputValue(), '225');
    assert.match(await dialog.locator('#speed-value').textContent(), /^225 wpm/);

    // Closing saves (PUT /api/settings/me).
    const saved = page.waitForResponse((r) => r.url().endsWith('/api/settings/me') && r.request().method() === 'PUT');
    await dialog.getByRole('button', { name: 'Close settings' }).click();
    const put = await saved;
    assert.equal(put.status(), 200);
    await dialog.waitFor({ state: 'hidden' });

    const api = await pageFetch(page, '/api/settings/me');
    assert.equal(api.status, 200);
    assert.equal(api.body.settings.theme, 'dark');
    assert.equal(api.body.settings.voice_speed, 225);

    const checkAfterReload = async (label) => {
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', `${label}: theme is dark`);
      assert.equal(await page.evaluate(() => document.documentElement.dataset.themePref), 'dark');
      assert.equal(await page.evaluate(() => window.__ballsy.state.settings.voice_speed), 225, `${label}: speed loaded`);
      await page.getByTestId('settings-button').click();
      await dialog.waitFor({ state: 'visible' });
      assert.equal(await dialog.getByTestId('setting-speed').inputValue(), '225', `${label}: the speed control shows the saved value`);
      assert.match(await dialog.locator('#speed-value').textContent(), /^225 wpm/);
      assert.equal(await dialog.getByTestId('setting-theme').inputValue(), 'dark');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
    };

    await reloadApp(page);
    await checkAfterReload('after reload');

    // Without the locally cached theme, the server's copy still wins.
    await page.evaluate(() => localStorage.clear());
    await reloadApp(page);
    await checkAfterReload('after reload without localStorage');
  });
});
