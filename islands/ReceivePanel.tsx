import { useSignal } from "@preact/signals";
import { useEffect, useMemo, useRef } from "preact/hooks";
import { Progress } from "../components/Progress.tsx";
import { FileList } from "../components/FileList.tsx";
import { AwakeNote } from "../components/AwakeNote.tsx";
import {
  ReceiveSession,
  type ReceiveStatus,
  SENDER_AWAY,
} from "../lib/transfer/receive_session.ts";
import type { ReceiveState } from "../lib/transfer/receive_machine.ts";
import type { Manifest } from "../lib/transfer/wire.ts";
import { formatBytes } from "../lib/transfer/rate.ts";
import { signalUrl } from "../lib/signal/client.ts";
import { describeError } from "../lib/transfer/error_text.ts";
import { IceSource, rtcLinks } from "../lib/transfer/rtc.ts";
import {
  type Destination,
  destinations,
  makeSink,
  type PageActions,
} from "../lib/transfer/destination.ts";

interface ReceivePanelProps {
  senderId: string;
  iceServers: RTCIceServer[];
  /**
   * Where fresh ICE servers (short-lived TURN credentials) are fetched for
   * each connection; `null` when the site has no relay.
   */
  iceUrl: string | null;
  /** Test only: `relay` forces connections through the relay. */
  iceTransportPolicy: RTCIceTransportPolicy | null;
  connectTimeoutMs: number;
  /** How long to wait for a sender that is away from signaling. */
  senderAwayMs?: number;
}

/** Past this, keeping a file in memory is worth a warning. */
const MEMORY_WARN_BYTES = 200_000_000;

const PHASE_TEXT: Record<ReceiveState, string> = {
  idle: "Contacting the sender…",
  requesting: "Contacting the sender…",
  ready: "Ready to download.",
  connecting: "Connecting to the sender's browser…",
  receiving: "Receiving…",
  verifying: "Checking the last file…",
  retrying: "Could not connect; trying again…",
  resuming: "Connection lost; resuming where it stopped…",
  done: "Saved. Every file's checksum verified.",
  failed: "The transfer failed.",
};

/** States in which a transfer is under way: the page keeps the screen on. */
const UNDER_WAY: ReadonlySet<ReceiveState> = new Set([
  "connecting",
  "receiving",
  "verifying",
  "retrying",
  "resuming",
]);

/** States that show which attempt this is, once past the first. */
const COUNTED: ReadonlySet<ReceiveState> = new Set([
  "connecting",
  "retrying",
  "resuming",
]);

/** The page's part in saving: pickers, downloads, blobs. */
function pageActions(): PageActions {
  const scope = globalThis as unknown as Partial<PageActions>;
  const click = (href: string, name?: string) => {
    const a = document.createElement("a");
    a.href = href;
    if (name !== undefined) a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
  };
  return {
    showSaveFilePicker: scope.showSaveFilePicker?.bind(globalThis),
    showDirectoryPicker: scope.showDirectoryPicker?.bind(globalThis),
    // In a hidden frame of this origin, not by navigating this page: a
    // navigation asks the page's own "leave this page?" guard first (and
    // "Stay" would cancel the download), and Firefox closes the page's
    // signaling socket as its document starts to navigate away.
    startDownload: (url) => {
      const frame = document.createElement("iframe");
      frame.hidden = true;
      frame.src = url;
      document.body.append(frame);
    },
    saveBlob: (blob, name) => {
      const url = URL.createObjectURL(blob);
      click(url, name);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
  };
}

export default function ReceivePanel(
  {
    senderId,
    iceServers,
    iceUrl,
    iceTransportPolicy,
    connectTimeoutMs,
    senderAwayMs,
  }: ReceivePanelProps,
) {
  const status = useSignal<ReceiveStatus | null>(null);
  const manifest = useSignal<Manifest | null>(null);
  const started = useSignal(false);
  const warning = useSignal<Destination | null>(null);
  const saveNote = useSignal("");
  const session = useRef<ReceiveSession | null>(null);
  /** The link's fragment, kept in memory once it left the address bar. */
  const fragment = useRef("");

  useEffect(() => {
    const next = new ReceiveSession({
      signalUrl: signalUrl(location.origin),
      senderId,
      // The key lives in the fragment, which never reaches the server.
      // It is base64url and a dot: nothing to decode. One that is not (a
      // link cut short or mangled) is taken as missing, which the sender is
      // told.
      linkKey: location.hash.slice(1),
      // Fetched credentials are shared by this page's attempts for a
      // while (lib/transfer/rtc.ts).
      createLink: rtcLinks(
        new IceSource({
          iceServers,
          url: iceUrl ?? undefined,
          iceTransportPolicy: iceTransportPolicy ?? undefined,
        }),
      ),
      connectTimeoutMs,
      senderAwayMs,
      onStatus: (s) => status.value = s,
    });
    session.current = next;
    // Read: now take the key out of the address bar and this history entry,
    // where anyone who sees the screen or the history could copy it. The
    // session keeps it in memory, and "Try again" keeps the fragment.
    fragment.current = location.hash;
    history.replaceState(null, "", location.pathname + location.search);
    next.open().then((o) => manifest.value = o, () => {});
    const unload = (event: BeforeUnloadEvent) => {
      if (UNDER_WAY.has(next.status.phase)) {
        event.preventDefault();
        event.returnValue = "";
      }
    };
    addEventListener("beforeunload", unload);
    return () => {
      removeEventListener("beforeunload", unload);
      next.close();
    };
  }, []);

  async function download(destination: Destination, confirmed = false) {
    const current = manifest.value;
    const s = session.current;
    if (current === null || s === null || started.value) return;
    const total = current.files.reduce((n, f) => n + f.size, 0);
    if (destination.inMemory && total > MEMORY_WARN_BYTES && !confirmed) {
      warning.value = destination;
      return;
    }
    warning.value = null;
    let sink;
    try {
      sink = await makeSink(destination, current.files, pageActions());
    } catch (error) {
      // The person closed the save dialog: nothing started, nothing lost.
      if ((error as DOMException).name === "AbortError") return;
      saveNote.value = describeError(error);
      return;
    }
    started.value = true;
    saveNote.value = destination.description;
    await s.download(sink).catch(() => {});
  }

  const st = status.value;
  const o = manifest.value;
  const phase = st?.phase ?? "idle";
  const total = o?.files.reduce((n, f) => n + f.size, 0) ?? 0;
  // Feature detection makes a MessageChannel and a stream: once per manifest,
  // never per render (a render per progress step leaked them by thousands).
  const choices = useMemo(() => o ? destinations(o.files) : [], [o]);
  const failed = phase === "failed";

  return (
    <section class="card receive-panel" aria-labelledby="receive-title">
      <h1 id="receive-title">Receive files</h1>
      <p
        class={`status phase-${phase}${
          failed ? " error" : phase === "done" ? " ok" : ""
        }`}
        role="status"
      >
        {failed || st?.message === SENDER_AWAY
          ? st?.message
          : PHASE_TEXT[phase]}
        {COUNTED.has(phase) && st && st.attempt > 1 &&
          ` (attempt ${st.attempt} of ${st.maxAttempts})`}
      </p>

      {o && <FileList files={o.files} />}

      {o && !started.value && !failed && (
        <div class="actions">
          {choices.map((d, i) => (
            <button
              key={d.id}
              type="button"
              class={i === 0 ? "" : "secondary"}
              onClick={() => download(d)}
            >
              {d.label}
            </button>
          ))}
        </div>
      )}

      {warning.value && (
        <div class="notice warn" role="alert">
          <p>
            This browser cannot stream to disk, so the files will be held in
            memory until done ({formatBytes(total)}). A very large transfer may
            fail.
          </p>
          <button type="button" onClick={() => download(warning.value!, true)}>
            Download anyway
          </button>
        </div>
      )}

      {started.value && st && (
        <>
          <Progress
            bytes={st.bytes}
            total={st.total}
            rate={phase === "receiving" ? st.rate : 0}
            secondsLeft={st.secondsLeft}
            label="Download progress"
          />
          {phase !== "done" && <p class="muted">{saveNote.value}</p>}
          <AwakeNote
            active={UNDER_WAY.has(phase)}
          />
        </>
      )}
      {failed && (
        <div class="actions">
          <button
            type="button"
            class="secondary"
            onClick={() => {
              // A reload reads the key from the address bar again, and
              // takes it out again.
              history.replaceState(
                null,
                "",
                location.pathname + location.search + fragment.current,
              );
              location.reload();
            }}
          >
            Try again
          </button>
          <a class="button secondary" href="/">Send your own files</a>
        </div>
      )}
      {!started.value && saveNote.value && (
        <p class="error" role="alert">{saveNote.value}</p>
      )}
    </section>
  );
}
