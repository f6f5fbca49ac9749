// Weather on the page: the card for a `weather` action, the browser's position for a
// `need_location` reply, and the "Home city" / "Units" settings.
//
// The card shape is the server's (src/weather/speech.rs `card`): place, region, country,
// units, temperature_unit, wind_speed_unit, now {temperature, apparent_temperature,
// condition, icon, wind_speed}, today {high, low, precipitation_probability, condition},
// hours [{time, temperature, precipitation_probability, condition, icon}] (times in the
// place's own zone), attribution {text, url}. Values are shown as given, in the units given.

import { h } from './dom.js';

// Open-Meteo's icon names (src/weather/conditions.rs) as emoji: no image requests, and the
// condition is always written out next to them for screen readers.
const ICONS = {
  'clear-day': '☀️', 'clear-night': '🌙', 'mostly-clear-day': '🌤️', 'mostly-clear-night': '🌙',
  'partly-cloudy-day': '⛅', 'partly-cloudy-night': '☁️', cloudy: '☁️', fog: '🌫️',
  drizzle: '🌦️', 'freezing-rain': '🧊', rain: '🌧️', snow: '🌨️', showers: '🌦️',
  'snow-showers': '🌨️', thunderstorm: '⛈️',
};

// Coordinates are rounded to 0.01° (about 1 km) before they leave the browser: plenty for a
// forecast, and less precise than where the user is.
const COORD_DECIMALS = 2;
const LOCATE_TIMEOUT_MS = 15_000;

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const deg = (v, unit) => (num(v) == null ? '–' : `${Math.round(v)}${unit}`);

function placeName(card) {
  return [card.place, card.region, card.country].filter((s) => typeof s === 'string' && s.trim())
    .filter((s, i, all) => all.indexOf(s) === i).join(', ');
}

/** The weather card element for a `weather` action's data, or null if it is not one. */
export function weatherCard(card) {
  if (!card || typeof card !== 'object' || !card.now) return null;
  const unit = typeof card.temperature_unit === 'string' ? card.temperature_unit : '°';
  const windUnit = typeof card.wind_speed_unit === 'string' ? card.wind_speed_unit : '';
  const now = card.now || {};
  const today = card.today || {};
  const title = placeName(card) || 'Weather';
  const headId = `weather-${Math.random().toString(36).slice(2, 10)}`;

  const facts = [];
  if (num(today.high) != null || num(today.low) != null) {
    facts.push(h('span', { 'data-testid': 'weather-range' },
      h('abbr', { title: 'High', text: 'H' }), ` ${deg(today.high, unit)} `,
      h('abbr', { title: 'Low', text: 'L' }), ` ${deg(today.low, unit)}`));
  }
  if (num(now.apparent_temperature) != null) facts.push(h('span', { text: `Feels like ${deg(now.apparent_temperature, unit)}` }));
  if (num(now.wind_speed) != null) facts.push(h('span', { text: `Wind ${Math.round(now.wind_speed)} ${windUnit}`.trim() }));
  if (num(today.precipitation_probability) != null) facts.push(h('span', { text: `Rain today ${today.precipitation_probability}%` }));

  const hours = (Array.isArray(card.hours) ? card.hours : []).slice(0, 6).map((hr) => {
    const rain = num(hr.precipitation_probability);
    return h('li', { class: 'wx-hour', 'data-testid': 'weather-hour' },
      h('span', { class: 'wx-hour-time', text: String(hr.time ?? '') }),
      h('span', { class: 'wx-hour-icon', 'aria-hidden': 'true', text: ICONS[hr.icon] || '·' }),
      h('span', { class: 'wx-hour-temp', text: deg(hr.temperature, unit) }),
      h('span', { class: 'wx-hour-rain', text: rain == null ? '' : `${rain}%` }),
      h('span', { class: 'sr-only', text: [hr.condition, rain == null ? '' : `${rain}% chance of rain`].filter(Boolean).join(', ') }));
  });

  const attribution = card.attribution && typeof card.attribution.url === 'string' && /^https:\/\//.test(card.attribution.url)
    ? h('a', { class: 'wx-credit', href: card.attribution.url, target: '_blank', rel: 'noopener noreferrer', text: String(card.attribution.text || 'Weather data by Open-Meteo.com') })
    : null;

  return h('section', {
    class: 'card wx', 'data-testid': 'weather-card', 'aria-labelledby': headId,
    dataset: { units: String(card.units || '') },
  },
  h('h2', { class: 'wx-place', id: headId, text: title }),
  h('div', { class: 'wx-now' },
    h('span', { class: 'wx-icon', 'aria-hidden': 'true', text: ICONS[now.icon] || '' }),
    h('span', { class: 'wx-temp', 'data-testid': 'weather-now', text: deg(now.temperature, unit) }),
    h('span', { class: 'wx-cond', text: String(now.condition || '') })),
  facts.length ? h('p', { class: 'wx-facts' }, ...facts) : null,
  hours.length ? h('ol', { class: 'wx-hours', 'aria-label': 'Next hours' }, ...hours) : null,
  attribution);
}

/**
 * Ask the browser for its position. Resolves {latitude, longitude} (rounded), or null when the
 * user refuses, the device cannot tell, or it takes too long.
 */
export function locate() {
  return new Promise((resolve) => {
    const geo = navigator.geolocation;
    if (!geo || window.isSecureContext === false) return resolve(null);
    const round = (v) => Number(v.toFixed(COORD_DECIMALS));
    try {
      geo.getCurrentPosition(
        (pos) => resolve({ latitude: round(pos.coords.latitude), longitude: round(pos.coords.longitude) }),
        () => resolve(null),
        { enableHighAccuracy: false, maximumAge: 10 * 60_000, timeout: LOCATE_TIMEOUT_MS },
      );
    } catch {
      resolve(null);
    }
  });
}

/**
 * The weather parts of the page. chat: the ChatView (to keep it pinned to the bottom);
 * speaker: the Speaker; settings, dialog, openButton: the Settings store and its dialog, whose
 * markup holds the "Home city" and "Units" fields; ask(text, {fromVoice, location}): send a
 * command as the user.
 */
export class WeatherView {
  constructor({ chat, speaker, settings, dialog, openButton, ask }) {
    Object.assign(this, { chat, speaker, settings, openButton, ask });
    this.city = dialog.querySelector('[data-testid="setting-home-city"]');
    this.units = dialog.querySelector('[data-testid="setting-units"]');
    this.city.addEventListener('input', () => settings.set('home_city', this.city.value.trim()));
    this.units.addEventListener('change', () => settings.set('units', this.units.value));
    const sync = () => this._syncFields();
    settings.addEventListener('change', sync);
    settings.addEventListener('invalid', sync);
    openButton.addEventListener('click', sync);
    sync();
  }

  /** A `weather` action: its card under the answer. */
  showCard(bubble, data) {
    const card = weatherCard(data);
    if (card) this._append(bubble, card);
  }

  /**
   * A `need_location` answer to a question just asked: ask the browser for its position and
   * ask the question again with it; if that is refused, ask for a city.
   */
  async locateAndAsk(bubble, text, { fromVoice = false } = {}) {
    const note = h('p', { class: 'note', 'data-testid': 'action-note', text: 'Asking your browser for your location…' });
    this._append(bubble, note);
    const position = await locate();
    note.remove();
    if (position) {
      this.ask(text, { fromVoice, location: position });
      return;
    }
    this.offerHomeCity(bubble);
    this.speaker.say('Which city?');
  }

  /** After "Which city?": a button to the home city setting. */
  offerHomeCity(bubble) {
    this._append(bubble, h('p', { class: 'note', 'data-testid': 'home-city-offer' },
      'Name a city in your question, or ',
      h('button', { type: 'button', class: 'link-btn', text: 'set your home city', onclick: () => this.openHomeCity() }),
      ' for weather questions without one.'));
  }

  /** Open the settings with the home city field focused. */
  openHomeCity() {
    this.openButton.click();
    this.city.focus();
  }

  _append(bubble, node) {
    const stick = this.chat.nearBottom();
    bubble.append(node);
    this.chat.changed(stick);
  }

  _syncFields() {
    const v = this.settings.values;
    if (document.activeElement !== this.city) this.city.value = v.home_city || '';
    this.units.value = ['metric', 'imperial', 'auto'].includes(v.units) ? v.units : 'auto';
  }
}
