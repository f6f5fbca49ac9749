// 25. The page's turn state machine (web/js/conversation.js) on its own, in Node: it has no
// DOM, so every move, and every move it must refuse, is checked directly; the browser tests
// (06 barge-in, 13 failed turn, 15 connection) check it through the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Conversation, TURN_STATES } from '../../web/js/conversation.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let n = 0;
const fresh = () => new Conversation({ newId: () => `t${++n}` });

test('a turn goes sending -> streaming -> done and then takes nothing more', () => {
  const turns = fresh();
  const t = turns.begin({ text: 'hello' });
  assert.equal(t.state, 'sending');
  assert.equal(turns.active, t);
  turns.sent(t, 'ws');
  assert.equal(turns.get(t.id), t, 'a socket turn is found by its id');
  assert.equal(turns.idle, false);

  assert.ok(t.addDelta('Hel'));
  assert.ok(t.addDelta('lo'));
  assert.equal(t.state, 'streaming');
  assert.equal(t.streamed, 'Hello');
  assert.equal(t.deltas, 2);

  assert.equal(turns.settle(t, 'done'), 'streaming', 'settle says what it was');
  assert.equal(t.state, 'done');
  assert.ok(t.settled);
  assert.equal(turns.active, null);
  assert.equal(turns.get(t.id), null, 'a settled turn leaves the in-flight map');
  assert.ok(turns.idle);

  assert.equal(t.addDelta('late'), false, 'a late delta is refused');
  assert.equal(t.streamed, 'Hello');
  assert.equal(turns.settle(t, 'failed'), null, 'a settled turn cannot fail afterwards');
  assert.equal(t.state, 'done');
  assert.equal(t.move('streaming'), false);
});

test('an interrupted turn refuses text, and its late reply settles it as cancelled', () => {
  const turns = fresh();
  const t = turns.begin({ text: 'tell me a story' });
  turns.sent(t, 'ws');
  t.addDelta('Once');
  assert.equal(turns.interrupt(10_000), t);
  assert.equal(t.state, 'cancelling');
  assert.equal(turns.active, null, 'the interrupted turn is no longer the active one');
  assert.equal(turns.get(t.id), t, 'but its frames are still awaited');
  assert.equal(t.addDelta(' upon'), false, 'no more text is taken while cancelling');
  assert.equal(t.streamed, 'Once');
  assert.equal(t.mayResend('busy'), false, 'nor is it sent again');

  assert.equal(turns.settle(t, 'done'), 'cancelling', 'the caller learns it was cancelling');
  assert.equal(t.state, 'cancelled', 'a reply that beat the cancel does not make it done');
  assert.equal(turns.interrupt(10_000), null, 'nothing is left to interrupt');
});

test('an interrupted turn that hears nothing back is given up on after the grace time', async () => {
  const turns = fresh();
  const t = turns.begin({ text: 'slow' });
  turns.sent(t, 'ws');
  turns.interrupt(30);
  assert.equal(t.state, 'cancelling');
  await sleep(80);
  assert.equal(t.state, 'cancelled');
  assert.ok(turns.idle, 'and the socket may go idle again');
});

test('a deadline fires for an open turn and never for a settled one', async () => {
  const turns = fresh();
  const a = turns.begin({ text: 'a' });
  let fired = 0;
  a.deadline(20, () => { fired++; turns.settle(a, 'failed'); });
  await sleep(60);
  assert.equal(fired, 1);
  assert.equal(a.state, 'failed');

  const b = turns.begin({ text: 'b' });
  b.deadline(20, () => { fired++; });
  turns.settle(b, 'done');
  await sleep(60);
  assert.equal(fired, 1, 'settling cleared the deadline');

  const c = turns.begin({ text: 'c' });
  c.deadline(20, () => { fired++; });
  c.deadline(200, () => { fired += 10; });
  await sleep(60);
  assert.equal(fired, 1, 'a new deadline replaces the earlier one');
  turns.settle(c, 'done');
});

test('a turn is resent at most once per reason, and never after text arrived', () => {
  const turns = fresh();
  const t = turns.begin({ text: 'again' });
  turns.sent(t, 'ws');
  assert.ok(t.mayResend('busy'));
  assert.equal(t.mayResend('busy'), false, 'busy only once');
  assert.ok(t.mayResend('connection_lost'), 'another reason still may');
  turns.unsent(t);
  assert.equal(turns.get(t.id), null);
  turns.sent(t, 'http');
  assert.equal(turns.get(t.id), null, 'an HTTP turn is not awaited on the socket');
  assert.equal(turns.active, t, 'it stays the turn in progress');

  const u = turns.begin({ text: 'partial' });
  turns.sent(u, 'ws');
  u.addDelta('half');
  assert.equal(u.mayResend('connection_lost'), false, 'resending could duplicate the answer');
});

test('frames without an id find the oldest awaited turn; dropping all settles every one', () => {
  const turns = fresh();
  const a = turns.begin({ text: 'a' });
  turns.sent(a, 'ws');
  turns.interrupt(10_000);
  const b = turns.begin({ text: 'b' });
  turns.sent(b, 'ws');
  assert.equal(turns.oldest(), a);
  assert.equal(turns.oldest((x) => x.state !== 'cancelling'), b);

  const c = turns.begin({ text: 'c' }); // not yet sent: only the active turn
  turns.dropAll();
  for (const t of [a, b, c]) assert.equal(t.state, 'cancelled', `${t.text} settled`);
  assert.ok(turns.idle);
  assert.equal(turns.latest, c);
});

test('the states are the six the page documents, and a failed turn stays failed', () => {
  assert.deepEqual([...TURN_STATES].sort(), ['cancelled', 'cancelling', 'done', 'failed', 'sending', 'streaming']);
  const turns = fresh();
  const t = turns.begin({ text: 'x' });
  assert.equal(turns.settle(t, 'failed'), 'sending');
  assert.equal(t.state, 'failed');
  assert.equal(t.move('cancelling'), false, 'a failed turn cannot be interrupted');
  assert.equal(turns.settle(t, 'done'), null);
});
