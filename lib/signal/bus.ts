/**
 * The bus: how a signaling server reaches a peer that is connected to
 * another instance of the same deployment.
 *
 * A server first looks a frame's target up among its own sockets; only a
 * target it does not hold goes to the bus. The bus carries the frame exactly
 * as the target must receive it (already stamped with the sender's id) and
 * says whether some instance holds the target, which is what decides between
 * delivery and `peer not exists`.
 *
 * {@linkcode LocalBus} is the default: one instance, no other to reach, no
 * cost. `RedisBus` (redis_bus.ts) joins instances over Redis pub/sub.
 *
 * @module
 */

import type { ClientEvent } from "./protocol.ts";

/** Whether the bus reaches other instances right now. */
export type BusState =
  /** One instance, nothing to reach: the default. */
  | "local"
  /** Connected: frames reach every instance. */
  | "up"
  /** Configured but not connected: only local peers can be reached. */
  | "down";

/**
 * What a bus hands the server: a frame for one of the server's own peers,
 * as the peer must receive it, with its event and sender already read.
 */
export type BusReceiver = (
  to: string,
  frame: string,
  event: ClientEvent,
  from: string,
) => void;

/** How a server reaches peers held by other instances. */
export interface SignalBus {
  /** Whether other instances can be reached now. */
  readonly state: BusState;
  /**
   * Frames that came from the bus and were not Beam's (not JSON, the wrong
   * shape, too large): dropped, and counted here.
   */
  readonly dropped: number;
  /** Sets who gets the frames other instances send to this one's peers. */
  listen(receiver: BusReceiver): void;
  /**
   * Starts taking frames for a peer this instance holds. A promise resolves
   * once other instances can reach it; `undefined` means at once.
   */
  join(id: string): Promise<void> | undefined;
  /** Stops taking frames for a peer that left. */
  leave(id: string): void;
  /**
   * Sends a frame to a peer that is not on this instance. Resolves (or
   * returns) whether some instance took it: `false` is `peer not exists`.
   */
  send(to: string, frame: string): Promise<boolean> | boolean;
  /** Lets go of any connection, as the server stops. */
  close(): Promise<void>;
}

/**
 * The bus of a single instance: no other instance exists, so a peer that is
 * not here does not exist. Every call is synchronous and does nothing, so a
 * single instance pays for the bus only on frames to unknown ids.
 */
export class LocalBus implements SignalBus {
  get state(): BusState {
    return "local";
  }

  get dropped(): number {
    return 0;
  }

  listen(_receiver: BusReceiver): void {}

  join(_id: string): undefined {
    return undefined;
  }

  leave(_id: string): void {}

  send(_to: string, _frame: string): false {
    return false;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
