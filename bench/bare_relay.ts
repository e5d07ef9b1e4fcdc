/**
 * The benchmark's ceiling: a bare relay that speaks Beam's protocol with no
 * validation and no limits. It assigns ids, finds the target by string
 * search (no JSON parse), swaps in the sender's id, and forwards. What Beam
 * costs beyond this is the price of its checks.
 *
 * Run: `PORT=9000 HOSTNAME=127.0.0.1 deno run -A bench/bare_relay.ts`.
 *
 * @module
 */

const peers = new Map<string, WebSocket>();
const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte & 63];
  return peers.has(id) ? newId() : id;
}

function relay(socket: WebSocket, id: string, data: string): void {
  // ["event","target",...]: the target is the second quoted string.
  const q1 = data.indexOf('"', data.indexOf(",") + 1);
  const q2 = data.indexOf('"', q1 + 1);
  const peer = peers.get(data.slice(q1 + 1, q2));
  if (peer === undefined) socket.send('["peer not exists"]');
  else peer.send(data.slice(0, q1 + 1) + id + data.slice(q2));
}

Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 9000),
  hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
  onListen: ({ port }) => console.log(`bare relay on ${port}`),
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request, {
    idleTimeout: 25,
  });
  let id = "";
  socket.onopen = () => {
    id = newId();
    peers.set(id, socket);
    socket.send(`["assign","${id}"]`);
  };
  socket.onmessage = (event) => relay(socket, id, event.data);
  socket.onclose = () => peers.delete(id);
  return response;
});
