import assert from "node:assert/strict";
import { PeerMap, type PeerSocket } from "./peer_map.ts";
import { isPeerId } from "./protocol.ts";

/** A stand-in for a socket: records what it was sent. */
class FakePeer implements PeerSocket {
  sent: string[] = [];
  closed: [number, string] | undefined;
  bufferedAmount = 0;
  send(text: string): void {
    this.sent.push(text);
  }
  close(code: number, reason: string): void {
    this.closed = [code, reason];
  }
}

Deno.test("PeerMap.add() returns a fresh well-formed id", () => {
  const peers = new PeerMap<FakePeer>();
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = peers.add(new FakePeer());
    assert.ok(isPeerId(id), id);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
  assert.equal(peers.size, 1000);
});

Deno.test("PeerMap.add() gives the same peer a new id each time", () => {
  const peers = new PeerMap<FakePeer>();
  const peer = new FakePeer();
  const first = peers.add(peer);
  const second = peers.add(peer);
  assert.notEqual(first, second);
  assert.equal(peers.get(first), peer);
  assert.equal(peers.get(second), peer);
});

Deno.test("PeerMap.get() finds a peer by id and nothing else", () => {
  const peers = new PeerMap<FakePeer>();
  const a = new FakePeer();
  const b = new FakePeer();
  const idA = peers.add(a);
  const idB = peers.add(b);
  assert.equal(peers.get(idA), a);
  assert.equal(peers.get(idB), b);
  assert.equal(peers.get("AAAAAAAAAAAAAAAA"), undefined);
  assert.equal(peers.get(""), undefined);
  assert.equal(peers.get("__proto__"), undefined);
  assert.equal(peers.get("toString"), undefined);
});

Deno.test("PeerMap.delete() removes a peer under its own id", () => {
  const peers = new PeerMap<FakePeer>();
  const a = new FakePeer();
  const b = new FakePeer();
  const idA = peers.add(a);
  const idB = peers.add(b);
  assert.equal(peers.delete(idA, a), true);
  assert.equal(peers.get(idA), undefined);
  assert.equal(peers.get(idB), b);
  assert.equal(peers.size, 1);
  // A second delete, as from a second close event, changes nothing.
  assert.equal(peers.delete(idA, a), false);
  assert.equal(peers.size, 1);
});

Deno.test("PeerMap.delete() leaves an id held by another peer", () => {
  const peers = new PeerMap<FakePeer>();
  const a = new FakePeer();
  const b = new FakePeer();
  const idA = peers.add(a);
  const idB = peers.add(b);
  assert.equal(peers.delete(idA, b), false);
  assert.equal(peers.delete(idB, a), false);
  assert.equal(peers.get(idA), a);
  assert.equal(peers.get(idB), b);
  assert.equal(peers.size, 2);
  assert.equal(peers.delete("AAAAAAAAAAAAAAAA", a), false);
  assert.equal(peers.size, 2);
});

Deno.test("PeerMap.values() lists every connected peer", () => {
  const peers = new PeerMap<FakePeer>();
  assert.deepEqual([...peers.values()], []);
  const a = new FakePeer();
  const b = new FakePeer();
  const c = new FakePeer();
  const idA = peers.add(a);
  peers.add(b);
  peers.add(c);
  peers.delete(idA, a);
  const values = [...peers.values()];
  assert.equal(values.length, 2);
  assert.ok(values.includes(b));
  assert.ok(values.includes(c));
});

Deno.test("PeerMap never talks to its peers", () => {
  const peers = new PeerMap<FakePeer>();
  const a = new FakePeer();
  const id = peers.add(a);
  peers.get(id);
  peers.delete(id, a);
  assert.deepEqual(a.sent, []);
  assert.equal(a.closed, undefined);
});
