/**
 * The small engine under both transfer sessions: a pure `step` function
 * takes the current state and one event and returns the next state with
 * the effects to run; a {@linkcode Driver} applies events one at a time
 * and hands each effect to the session, which does the I/O and reports
 * what happened as further events. Decisions live in the step function
 * (tested without a browser); the session only carries them out.
 *
 * @module
 */

/** What `step` returns: where to go and what to do on the way. */
export interface Transition<S, F> {
  state: S;
  effects: F[];
}

/** A pure transition function. */
export type Step<S, E, F> = (state: S, event: E) => Transition<S, F>;

/**
 * The table of a machine: for each state, the events it handles and the
 * states each may lead to. An event missing from a state's row is ignored
 * there (a late answer from a connection already given up, say), which is
 * how stale events from async work stay harmless.
 */
export type Table<Name extends string, EventType extends string> = Record<
  Name,
  Partial<Record<EventType, readonly Name[]>>
>;

/** Whether `table` handles `event` in state `name`. */
export function handles<Name extends string, EventType extends string>(
  table: Table<Name, EventType>,
  name: Name,
  event: EventType,
): boolean {
  return table[name][event] !== undefined;
}

/**
 * Every row of `table` as `"from --event--> to"`, one per target: what a
 * machine's tests must cover.
 */
export function rowsOf<Name extends string, EventType extends string>(
  table: Table<Name, EventType>,
): string[] {
  const rows: string[] = [];
  for (
    const [from, events] of Object.entries<
      Partial<Record<string, readonly string[]>>
    >(table)
  ) {
    for (const [event, targets] of Object.entries(events)) {
      for (const to of targets ?? []) rows.push(`${from} --${event}--> ${to}`);
    }
  }
  return rows;
}

/**
 * Checks a transition against its table, so the table cannot drift from
 * the code: a target the table does not list is a bug, reported loudly.
 */
export function checked<Name extends string, EventType extends string>(
  table: Table<Name, EventType>,
  from: Name,
  event: EventType,
  to: Name,
): Name {
  const allowed = table[from][event];
  if (allowed === undefined || !allowed.includes(to)) {
    throw new Error(
      `Cannot step from "${from}" on "${event}" to "${to}": the table does not list it`,
    );
  }
  return to;
}

/**
 * Applies events to a machine one at a time. An event dispatched while
 * effects run (an effect that finishes synchronously) waits its turn, so
 * every step sees the state the previous one left.
 */
export class Driver<S, E, F> {
  #state: S;
  #step: Step<S, E, F>;
  #run: (effect: F) => void;
  #onChange: (state: S) => void;
  #queue: E[] = [];
  #busy = false;

  constructor(
    initial: S,
    step: Step<S, E, F>,
    run: (effect: F) => void,
    onChange: (state: S) => void = () => {},
  ) {
    this.#state = initial;
    this.#step = step;
    this.#run = run;
    this.#onChange = onChange;
  }

  /** The current state. */
  get state(): S {
    return this.#state;
  }

  /** Applies `event`, then runs the effects of its transition in order. */
  dispatch(event: E): void {
    this.#queue.push(event);
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const next = this.#queue.shift()!;
        const { state, effects } = this.#step(this.#state, next);
        const changed = state !== this.#state;
        this.#state = state;
        for (const effect of effects) this.#run(effect);
        if (changed) this.#onChange(state);
      }
    } finally {
      this.#busy = false;
    }
  }
}

/** Named one-shot timers, so a machine's effects can start and stop them. */
export class Timers<Name extends string> {
  #timers = new Map<Name, ReturnType<typeof setTimeout>>();

  /** Starts (or restarts) timer `name`. */
  start(name: Name, ms: number, fire: () => void): void {
    this.stop(name);
    this.#timers.set(
      name,
      setTimeout(() => {
        this.#timers.delete(name);
        fire();
      }, ms),
    );
  }

  /** Stops timer `name` if it runs. */
  stop(name: Name): void {
    clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }

  /** Stops every timer. */
  stopAll(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
