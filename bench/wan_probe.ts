/**
 * Checks the emulated link of `deno task bench:wan` with plain TCP, run in
 * the namespaces by the benchmark (`ip netns exec`):
 *
 *   deno run -A bench/wan_probe.ts serve HOST PORT
 *   deno run -A bench/wan_probe.ts ping HOST PORT COUNT
 *   deno run -A bench/wan_probe.ts bulk HOST PORT BYTES
 *
 * `serve` answers each connection by its first byte: `p` echoes every byte
 * back (ping), `b` counts bytes until the end of the stream and answers
 * with one JSON line of what it received and when (bulk). `ping` sends one
 * byte at a time (no Nagle) and prints the round-trip times; `bulk` sends
 * BYTES as fast as TCP takes them and prints the receiver's line. Every
 * result is one JSON line on stdout.
 *
 * @module
 */

const [mode, host, portText, countText] = Deno.args;
const port = Number(portText);

async function readFull(conn: Deno.Conn, buffer: Uint8Array): Promise<void> {
  for (let got = 0; got < buffer.length;) {
    const n = await conn.read(buffer.subarray(got));
    if (n === null) throw new Error("Cannot read: the connection closed");
    got += n;
  }
}

async function serve(): Promise<void> {
  const listener = Deno.listen({ hostname: host, port });
  console.log(JSON.stringify({ listening: port }));
  for await (const conn of listener) {
    conn.setNoDelay(true);
    (async () => {
      const first = new Uint8Array(1);
      await readFull(conn, first);
      const buffer = new Uint8Array(256 * 1024);
      if (first[0] === 0x70) { // p
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) break;
          await conn.write(buffer.subarray(0, n));
        }
      } else {
        // The time of each MiB received, to give the rate after slow start.
        const start = performance.now();
        const marks: number[] = [];
        let bytes = 0;
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) break;
          const before = bytes;
          bytes += n;
          for (
            let m = Math.floor(before / 2 ** 20) + 1;
            m <= bytes / 2 ** 20;
            m++
          ) {
            marks.push(performance.now() - start);
          }
        }
        const seconds = (performance.now() - start) / 1000;
        const half = Math.floor(marks.length / 2);
        const secondHalf = marks.length > 2
          ? ((marks.length - half) * 2 ** 20 / 1e6) /
            ((marks.at(-1)! - marks[half - 1]) / 1000)
          : NaN;
        await conn.write(
          new TextEncoder().encode(
            JSON.stringify({
              bytes,
              seconds,
              mbps: bytes / 1e6 / seconds,
              secondHalfMbps: secondHalf,
            }) + "\n",
          ),
        );
      }
    })().catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    });
  }
}

async function ping(count: number): Promise<void> {
  const conn = await Deno.connect({ hostname: host, port });
  conn.setNoDelay(true);
  await conn.write(new Uint8Array([0x70]));
  const one = new Uint8Array([1]);
  const rtts: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await conn.write(one);
    await readFull(conn, new Uint8Array(1));
    rtts.push(performance.now() - t);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  conn.close();
  console.log(
    JSON.stringify({ rttsMs: rtts.map((x) => Math.round(x * 100) / 100) }),
  );
}

async function bulk(total: number): Promise<void> {
  const conn = await Deno.connect({ hostname: host, port });
  await conn.write(new Uint8Array([0x62]));
  const buffer = new Uint8Array(256 * 1024);
  crypto.getRandomValues(buffer.subarray(0, 65536));
  for (let sent = 0; sent < total;) {
    const n = await conn.write(
      buffer.subarray(0, Math.min(buffer.length, total - sent)),
    );
    sent += n;
  }
  await conn.closeWrite();
  const reply = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(reply);
    if (n === null) break;
    text += new TextDecoder().decode(reply.subarray(0, n));
  }
  conn.close();
  console.log(text.trim());
}

if (mode === "serve") await serve();
else if (mode === "ping") await ping(Number(countText ?? 20));
else if (mode === "bulk") await bulk(Number(countText));
else {
  console.error("usage: wan_probe.ts serve|ping|bulk HOST PORT [COUNT|BYTES]");
  Deno.exit(2);
}
