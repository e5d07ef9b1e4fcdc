/**
 * The in-memory map of connected peers, keyed by their server-assigned ids.
 *
 * A peer is any object that can take a text frame and be closed; the server
 * puts WebSockets here, tests can put plain objects. Keeping the map behind
 * this small class is what lets another store take its place when the server
 * scales out.
 *
 * @module
 */

import { newPeerId } from "./protocol.ts";

/** What the server needs of a connected peer. */
export interface PeerSocket {
  /** Sends one text frame. */
  send(text: string): void;
  /** Closes with a code and a short reason. */
  close(code: number, reason: string): void;
  /** Bytes queued for sending and not yet written out. */
  readonly bufferedAmount: number;
}

/** Connected peers by id. */
export class PeerMap<T extends PeerSocket = PeerSocket> {
  #peers = new Map<string, T>();

  /** How many peers are connected. */
  get size(): number {
    return this.#peers.size;
  }

  /** Adds a peer under a fresh id and returns that id. */
  add(peer: T): string {
    let id = newPeerId();
    // 96 random bits do not collide in practice; the loop makes it certain.
    while (this.#peers.has(id)) id = newPeerId();
    this.#peers.set(id, peer);
    return id;
  }

  /**
   * Adds a peer under an id it reclaimed (reclaim.ts); `false` when the id
   * is held, which the caller has made sure it is not.
   */
  claim(id: string, peer: T): boolean {
    if (this.#peers.has(id)) return false;
    this.#peers.set(id, peer);
    return true;
  }

  /** The peer with this id, if connected. */
  get(id: string): T | undefined {
    return this.#peers.get(id);
  }

  /**
   * Removes the peer with this id, only if it is still `peer`: a stale close
   * must never remove whoever holds the id now.
   */
  delete(id: string, peer: T): boolean {
    if (this.#peers.get(id) !== peer) return false;
    return this.#peers.delete(id);
  }

  /** Every connected peer. */
  values(): IterableIterator<T> {
    return this.#peers.values();
  }
}
