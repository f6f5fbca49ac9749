// The page's turns: each command the person gives is a Turn in exactly one state.
//
//   sending     on its way (a socket frame or an HTTP request); nothing has come back
//   streaming   response_delta frames are arriving
//   done        the final reply arrived (command_response, or the HTTP body)
//   failed      an error, the reply timeout or a lost connection ended it
//   cancelling  the person interrupted; the server's cancelled/command_response is awaited
//   cancelled   interrupted and settled (acknowledged, answered anyway, or given up on)
//
//   sending ──▶ streaming ──▶ done | failed
//      │            │
//      └────────────┴──▶ cancelling ──▶ cancelled
//
// A move the table does not allow is refused (move() returns false), so a frame that arrives
// late, twice or for a turn already given up on cannot revive it: the callers ask the turn
// what it may do instead of combining flags. Nothing here touches the DOM, so the machine is
// tested on its own (e2e/tests/25-conversation.test.mjs) as well as through the page.

const MOVES = {
  sending: new Set(['sending', 'streaming', 'done', 'failed', 'cancelling']),
  streaming: new Set(['streaming', 'done', 'failed', 'cancelling']),
  cancelling: new Set(['cancelled']),
  done: new Set(),
  failed: new Set(),
  cancelled: new Set(),
};

export const TURN_STATES = Object.freeze(Object.keys(MOVES));

export class Turn {
  constructor({ id, text, bubble = null, fromVoice = false, location = null }) {
    this.id = id;
    this.text = text;
    this.bubble = bubble;
    this.fromVoice = fromVoice;
    this.location = location;
    this.state = 'sending';
    /** 'ws' or 'http' once sent. */
    this.via = null;
    this.streamed = '';
    this.deltas = 0;
    // Why it was sent again ('connection_lost', 'busy'): each reason at most once.
    this._resentFor = new Set();
    this._timer = 0;
  }

  /** Still waiting for its answer (sending or streaming). */
  get open() {
    return this.state === 'sending' || this.state === 'streaming';
  }

  /** Nothing more will happen to it. */
  get settled() {
    return MOVES[this.state].size === 0;
  }

  /** Change state if the table allows it. */
  move(next) {
    if (!MOVES[this.state].has(next)) return false;
    this.state = next;
    if (this.settled) this.clearDeadline();
    return true;
  }

  /** A response_delta: returns false when the turn no longer takes text. */
  addDelta(delta) {
    if (!this.move('streaming')) return false;
    this.deltas++;
    this.streamed += delta;
    return true;
  }

  /**
   * Whether it may be sent again for this reason: only before any text arrived (resending
   * then could duplicate the answer) and once per reason.
   */
  mayResend(reason) {
    if (this.state !== 'sending' || this.deltas > 0 || this._resentFor.has(reason)) return false;
    this._resentFor.add(reason);
    return true;
  }

  /** Run fn after ms unless the turn settles first; replaces any earlier deadline. */
  deadline(ms, fn) {
    this.clearDeadline();
    if (this.settled) return;
    this._timer = setTimeout(() => {
      this._timer = 0;
      if (!this.settled) fn(this);
    }, ms);
  }

  clearDeadline() {
    clearTimeout(this._timer);
    this._timer = 0;
  }
}

/**
 * The turns of this page: the one in progress (`active`, at most one) and those sent on the
 * socket whose frames may still arrive (`inFlight`, by command id).
 */
export class Conversation {
  constructor({ newId = defaultId } = {}) {
    this.newId = newId;
    this.active = null;
    this.latest = null;
    this.inFlight = new Map();
  }

  /** A new turn becomes the active one. */
  begin({ text, bubble = null, fromVoice = false, location = null }) {
    const turn = new Turn({ id: this.newId(), text, bubble, fromVoice, location });
    this.active = turn;
    this.latest = turn;
    return turn;
  }

  /** The turn was handed to a transport; socket turns are found again by id. */
  sent(turn, via) {
    turn.via = via;
    if (via === 'ws') this.inFlight.set(turn.id, turn);
    else this.inFlight.delete(turn.id);
  }

  /** Its socket frame went nowhere (busy, the socket closed): forget the id until resent. */
  unsent(turn) {
    this.inFlight.delete(turn.id);
  }

  get(id) {
    return id == null ? null : this.inFlight.get(String(id)) || null;
  }

  /** The oldest unsettled socket turn matching pred (frames without an id). */
  oldest(pred = () => true) {
    for (const t of this.inFlight.values()) if (!t.settled && pred(t)) return t;
    return null;
  }

  /** No turn in progress and none awaited: the socket may go idle. */
  get idle() {
    return !this.active && this.inFlight.size === 0;
  }

  /**
   * End a turn: 'done' or 'failed' if it was open, 'cancelled' if it was being cancelled (or
   * that is the outcome asked for).
   * Returns the state it was in (so the caller knows whether to act on the reply), or null
   * when it had already settled.
   */
  settle(turn, outcome) {
    if (!turn || turn.settled) return null;
    const was = turn.state;
    if (was === 'cancelling' || outcome === 'cancelled') {
      turn.move('cancelling');
      turn.move('cancelled');
    } else turn.move(outcome);
    this._forget(turn);
    return was;
  }

  /**
   * The person interrupted the active turn: it moves to cancelling and stops being active.
   * Returns it, or null when nothing was in progress.
   */
  interrupt(graceMs) {
    const turn = this.active;
    this.active = null;
    if (!turn || !turn.move('cancelling')) return null;
    // Wait a little for the server's answer to the cancel, then give up on it.
    turn.deadline(graceMs, () => this.settle(turn, 'cancelled'));
    return turn;
  }

  /** Drop every turn (another conversation is about to be shown). */
  dropAll() {
    for (const t of [...this.inFlight.values()]) this.settle(t, 'cancelled');
    if (this.active) this.settle(this.active, 'cancelled');
  }

  _forget(turn) {
    turn.clearDeadline();
    this.inFlight.delete(turn.id);
    if (this.active === turn) this.active = null;
  }
}

let seq = 0;
function defaultId() {
  return `c${Date.now().toString(36)}-${++seq}`;
}
