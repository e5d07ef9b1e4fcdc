/**
 * The lab page (bundled by bench/transfer_lab.ts, run in Chromium): the
 * app's own transfer code, `FileSender` and `FileReceiver` from
 * lib/transfer, over one real RTCDataChannel between two pages, without the
 * islands around it, with any `SendOptions`. It tells the transfer code's
 * cost from the page's, and which tuning helps, without changing lib/.
 *
 * Sinks: `"opfs"` is the app's save-picker sink (`fileHandleSink`) on an OPFS
 * file, as the benchmark's app runs use; `"null"` takes the bytes and drops
 * them (the receiver still hashes them).
 *
 * @module
 */

import { FileSender, metaOf } from "../lib/transfer/sender.ts";
import { FileReceiver } from "../lib/transfer/receiver.ts";
import { fileHandleSink } from "../lib/transfer/sinks.ts";
import type { Sink } from "../lib/transfer/sink.ts";
import { Sha256 } from "../lib/transfer/hash.ts";

/** Settings of one lab transfer, sender side. */
export interface LabSendOptions {
  chunkSize: number;
  highWaterMark: number;
  lowWaterMark: number;
  windowBytes: number;
  /** FileSender's `readSize`. */
  readSize: number;
}

/** Settings of one lab transfer, receiver side. */
export interface LabReceiveOptions {
  sink: "opfs" | "null";
  /** FileReceiver's `ackBytes`. */
  ackBytes: number;
}

const now = () => performance.timeOrigin + performance.now();

let pc: RTCPeerConnection | null = null;
let channel: RTCDataChannel | null = null;
let incoming: Promise<void> = Promise.resolve();
let result: Promise<{ end: number; error?: string }> | null = null;
let sending: Promise<{ start: number; end: number; error?: string }> | null =
  null;

function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

function opened(dc: RTCDataChannel): Promise<void> {
  if (dc.readyState === "open") return Promise.resolve();
  return new Promise((resolve, reject) => {
    dc.addEventListener("open", () => resolve(), { once: true });
    dc.addEventListener(
      "close",
      () => reject(new Error("Cannot open the channel: it closed")),
      { once: true },
    );
  });
}

/** The file chosen in the page's `<input type=file>`. */
function pickedFile(): File {
  const input = document.querySelector("input[type=file]") as HTMLInputElement;
  const file = input.files?.[0];
  if (file === undefined) throw new TypeError("Cannot send: no file chosen");
  return file;
}

function nullSink(): Sink {
  return {
    kind: "file-picker",
    inMemory: false,
    open() {
      return Promise.resolve({
        write: () => Promise.resolve(),
        close: () => Promise.resolve(),
        abort: () => Promise.resolve(),
      });
    },
    finish: () => Promise.resolve(),
    abort: () => Promise.resolve(),
  };
}

const lab = {
  async offer(): Promise<RTCSessionDescriptionInit> {
    pc = new RTCPeerConnection({ iceServers: [] });
    channel = pc.createDataChannel("lab", { ordered: true });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    return pc.localDescription!.toJSON();
  },
  async answer(
    offer: RTCSessionDescriptionInit,
  ): Promise<RTCSessionDescriptionInit> {
    pc = new RTCPeerConnection({ iceServers: [] });
    const dc = new Promise<RTCDataChannel>((resolve) => {
      pc!.ondatachannel = (event) => resolve(event.channel);
    });
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    incoming = dc.then((d) => {
      channel = d;
      return opened(d);
    });
    return pc.localDescription!.toJSON();
  },
  async accept(answer: RTCSessionDescriptionInit): Promise<void> {
    await pc!.setRemoteDescription(answer);
    await opened(channel!);
  },
  opened(): Promise<void> {
    return incoming;
  },
  /** The chosen file's metadata, for the receiver's offer. */
  meta() {
    return metaOf(pickedFile());
  },
  /** Starts receiving; `done()` resolves when the file is verified. */
  async arm(meta: ReturnType<typeof metaOf>, options: LabReceiveOptions) {
    let sink: Sink;
    if (options.sink === "opfs") {
      const root = await navigator.storage.getDirectory();
      const handle = await root.getFileHandle(meta.name, { create: true });
      sink = fileHandleSink(handle);
    } else {
      sink = nullSink();
    }
    const receiver = new FileReceiver({ files: [meta] }, sink, {
      ackBytes: options.ackBytes,
    });
    result = receiver.receive(channel!).then(
      () => ({ end: now() }),
      (error) => ({ end: now(), error: String(error) }),
    );
  },
  done() {
    return result!;
  },
  /**
   * Starts FileSender (listening for the receiver's `start`, so call it
   * before `arm`); `sent()` resolves when the receiver verified the file.
   */
  send(options: LabSendOptions): number {
    const file = pickedFile();
    const sender = new FileSender(channel!, [file], {
      chunkSize: options.chunkSize,
      highWaterMark: options.highWaterMark,
      lowWaterMark: options.lowWaterMark,
      windowBytes: options.windowBytes,
      readSize: options.readSize,
    });
    const start = now();
    sending = sender.run().then(
      () => ({ start, end: now() }),
      (error) => ({ start, end: now(), error: String(error) }),
    );
    return start;
  },
  sent() {
    return sending!;
  },
  /** MB/s of the app's SHA-256 over `total` bytes in `chunk` pieces. */
  async hashSpeed(total: number, chunk: number): Promise<number> {
    const bytes = new Uint8Array(chunk);
    crypto.getRandomValues(bytes.subarray(0, Math.min(chunk, 65536)));
    const hash = await Sha256.create();
    const start = performance.now();
    for (let done = 0; done < total; done += chunk) hash.update(bytes);
    hash.hex();
    return total / (performance.now() - start) / 1000;
  },
  async removeFile(name: string) {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(name).catch(() => {});
  },
  close() {
    pc?.close();
  },
};

(globalThis as unknown as { lab: typeof lab }).lab = lab;
