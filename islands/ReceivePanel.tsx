import { useSignal } from "@preact/signals";
import { useEffect, useLayoutEffect, useMemo, useRef } from "preact/hooks";
import { Progress } from "../components/Progress.tsx";
import { FileList } from "../components/FileList.tsx";
import { TabTitle } from "../components/TabTitle.tsx";
import { Announcer } from "../components/Announcer.tsx";
import {
  ReceiveSession,
  type ReceiveStatus,
  SENDER_AWAY,
} from "../lib/transfer/receive_session.ts";
import type { ReceiveState } from "../lib/transfer/receive_machine.ts";
import type { Manifest } from "../lib/transfer/wire.ts";
import type { Sink } from "../lib/transfer/sink.ts";
import { formatBytes } from "../lib/transfer/rate.ts";
import { signalUrl } from "../lib/signal/client.ts";
import { type KeptSession, readKept } from "../lib/transfer/session_id.ts";
import { describeError, retryHelps } from "../lib/transfer/error_text.ts";
import { safeFileName, ZIP_NAME } from "../lib/transfer/sinks/names.ts";
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

/**
 * The note that keeps the screen awake, loaded when a download starts: the
 * page that only shows the list needs neither it nor the wake lock code.
 */
type AwakeNoteModule = typeof import("../components/AwakeNote.tsx");

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

/** Where the files went, said in the finished state. */
type Place =
  | { kind: "file"; name: string }
  | { kind: "folder"; name: string }
  | { kind: "downloads"; name: string };

/** The finished state's sentence: where the files are now. */
function savedText(place: Place | null): string {
  const where = place === null
    ? "Saved."
    : place.kind === "file"
    ? `Saved as ${place.name}.`
    : place.kind === "folder"
    ? `Saved into the folder ${place.name}.`
    : `Saved to your Downloads folder as ${place.name}.`;
  return `${where} Every file's checksum verified.`;
}

/** The added files' notice: "1 more file was added…", "3 more files were…". */
function addedText(count: number): string {
  return `${count} more file${
    count === 1 ? " was" : "s were"
  } added to this share.`;
}

/** Whether this browser can show a notification, and may still ask. */
function canNotify(): boolean {
  return "Notification" in globalThis && Notification.permission !== "denied";
}

/**
 * The page's part in saving: pickers, downloads, blobs. `picked` hears the
 * name the person chose in a picker, said when the files are saved.
 */
function pageActions(picked: (place: Place) => void): PageActions {
  const scope = globalThis as unknown as Partial<PageActions>;
  const filePicker = scope.showSaveFilePicker?.bind(globalThis);
  const folderPicker = scope.showDirectoryPicker?.bind(globalThis);
  return {
    showSaveFilePicker: filePicker && (async (options) => {
      const handle = await filePicker(options);
      picked({ kind: "file", name: handle.name });
      return handle;
    }),
    showDirectoryPicker: folderPicker && (async (options) => {
      const handle = await folderPicker(options);
      picked({ kind: "folder", name: handle.name });
      return handle;
    }),
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
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    },
  };
}

/** A storage access, which a browser may refuse: then nothing. */
function storage<T>(use: () => T): T | null {
  try {
    return use();
  } catch {
    return null;
  }
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
  const awakeNote = useSignal<AwakeNoteModule | null>(null);
  const saveNote = useSignal("");
  const place = useSignal<Place | null>(null);
  const said = useSignal({ text: "", count: 0 });
  const notify = useSignal<"off" | "on" | "refused">("off");
  const say = (text: string) =>
    said.value = { text, count: said.value.count + 1 };
  const statusRef = useRef<HTMLParagraphElement>(null);
  const againRef = useRef<HTMLButtonElement>(null);
  const homeRef = useRef<HTMLAnchorElement>(null);
  const downloadRef = useRef<HTMLButtonElement>(null);
  /** Set by Cancel: focus Download once it is rendered again. */
  const focusDownload = useRef(false);
  /** The last tenth of the progress announced. */
  const tenth = useRef(-1);
  const textCopied = useSignal("");
  /** The name this page goes by on the sender's page. */
  const myName = useSignal("");
  const session = useRef<ReceiveSession | null>(null);
  /** The link's fragment, kept in memory once it left the address bar. */
  const fragment = useRef("");
  /** Set once the person asked for files added to the share. */
  const more = useSignal(false);

  useEffect(() => {
    // The same session id and name after a reload ("Try again"), for this
    // tab only: the sender keeps one row, the person one name.
    const keptKey = `beam-receive:${senderId}`;
    const kept = readKept(storage(() => sessionStorage.getItem(keptKey)));
    const next = new ReceiveSession({
      signalUrl: signalUrl(location.origin),
      senderId,
      sessionId: kept?.session,
      name: kept?.name,
      // How many connections it may use ("1": one; README).
      lanesSetting: storage(() => localStorage.getItem("beam:lanes")),
      // The key lives in the fragment, which never reaches the server.
      // It is base64url and a dot: nothing to decode. One that is not (a
      // link cut short or mangled) is taken as missing, which the sender is
      // told.
      linkKey: location.hash.slice(1),
      // Fetched credentials are shared by this page's attempts for a
      // while (lib/transfer/rtc.ts). Loaded when a download starts: the
      // page shows the file list without it.
      loadLinks: async () => {
        const { IceSource, rtcLinks } = await import(
          "../lib/transfer/receiving.ts"
        );
        return rtcLinks(
          new IceSource({
            iceServers,
            url: iceUrl ?? undefined,
            iceTransportPolicy: iceTransportPolicy ?? undefined,
          }),
        );
      },
      connectTimeoutMs,
      senderAwayMs,
      onStatus: (s) => {
        status.value = s;
        // Picked when the first download starts (receive_session.ts).
        const current = session.current;
        const name = current?.name ?? "";
        if (current !== null && name !== myName.value) {
          myName.value = name;
          const keep: KeptSession = { session: current.sessionId, name };
          storage(() => sessionStorage.setItem(keptKey, JSON.stringify(keep)));
        }
      },
      // Files added by the sender: shown before a download starts; heard
      // of while saving, and fetched on their own once done. A page that is
      // done has left signaling, as the contract says (PROTOCOL.md, step 6):
      // it hears of no later addition, and a reload shows the whole list.
      onList: (list) => {
        const before = manifest.value?.files.length ?? 0;
        manifest.value = list;
        // Said on the ready screen; a page fetching the added files has
        // said so already.
        if (list.files.length > before && status.value?.phase === "ready") {
          say("The sender added files.");
        }
      },
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
    const sink = await sinkFor(destination, current.files);
    if (sink === null) return;
    started.value = true;
    saveNote.value = destination.description;
    await s.download(sink).catch(() => {});
  }

  /** Fetches only the files added to the share, once this download is done. */
  async function downloadMore() {
    const s = session.current;
    const added = s?.addedFiles ?? [];
    if (s === null || added.length === 0) return;
    const [destination] = destinations(added);
    const sink = await sinkFor(destination, added);
    if (sink === null) return;
    more.value = true;
    saveNote.value = destination.description;
    await s.downloadMore(sink).catch(() => {});
  }

  /**
   * Makes the sink for `files` (a picker may open); `null` when the person
   * closed the picker or saving was refused (said on the page).
   */
  async function sinkFor(
    destination: Destination,
    files: Manifest["files"],
  ): Promise<Sink | null> {
    // Without a picker, the browser saves to its downloads folder under the
    // name the sink gives it (its own "(1)" aside).
    place.value = {
      kind: "downloads",
      name: files.length > 1 ? ZIP_NAME : safeFileName(files[0]?.name ?? ""),
    };
    try {
      let sink: Sink;
      [sink, awakeNote.value] = await Promise.all([
        makeSink(destination, files, pageActions((p) => place.value = p)),
        import("../components/AwakeNote.tsx"),
      ]);
      // The button is gone: focus goes to what now tells the story.
      requestAnimationFrame(() => statusRef.current?.focus());
      return sink;
    } catch (error) {
      // The person closed the save dialog: nothing started, nothing lost.
      if ((error as DOMException).name !== "AbortError") {
        saveNote.value = describeError(error);
        say(saveNote.value);
      }
      return null;
    }
  }

  /** The person's Cancel: what was saved goes, the file list comes back. */
  function cancel() {
    session.current?.cancel();
    started.value = false;
    saveNote.value = "";
    place.value = null;
    tenth.current = -1;
    // The Cancel button is gone: focus goes to downloading again, once it
    // is back (below).
    focusDownload.current = true;
  }

  async function copyText(text: string) {
    try {
      await navigator.clipboard.writeText(text);
      textCopied.value = "Copied.";
    } catch {
      textCopied.value =
        "Copying was refused: select the text and copy it by hand.";
    }
  }

  const st = status.value;
  const o = manifest.value;
  const phase = st?.phase ?? "idle";
  const total = o?.files.reduce((n, f) => n + f.size, 0) ?? 0;
  // Feature detection makes a MessageChannel and a stream: once per manifest,
  // never per render (a render per progress step leaked them by thousands).
  const choices = useMemo(() => o ? destinations(o.files) : [], [o]);
  const failed = phase === "failed";
  const hasFiles = (o?.files.length ?? 0) > 0;
  const canRetry = failed && retryHelps(st?.message ?? "");
  const percent = st && st.total > 0
    ? Math.floor((st.bytes / st.total) * 100)
    : phase === "done"
    ? 100
    : 0;
  const statusText = failed || st?.message === SENDER_AWAY
    ? st?.message ?? ""
    : phase === "done"
    ? savedText(place.value)
    : phase === "ready" && o && !hasFiles
    ? "Text received."
    : phase === "ready" && st?.message
    ? st.message
    : more.value && (phase === "resuming" || phase === "connecting")
    ? "Getting the added files…"
    : PHASE_TEXT[phase];
  const added = st?.added ?? 0;

  // Files added to the share after this download started: said once.
  useEffect(() => {
    if (added > 0) say(addedText(added));
  }, [added]);

  // Right after the render that brought Download back, not on a frame: a
  // page in the background gets no frames.
  useLayoutEffect(() => {
    if (focusDownload.current && downloadRef.current !== null) {
      focusDownload.current = false;
      downloadRef.current.focus();
    }
  });

  // Phase changes, said once each (not the numbers of every render).
  useEffect(() => {
    if (phase === "idle" || phase === "requesting") return;
    say(statusText);
    if (phase === "done" || phase === "failed") {
      // The state's main action, or what it says when it has none.
      (againRef.current ?? (phase === "done" ? statusRef : homeRef).current)
        ?.focus();
      if (notify.value === "on" && document.visibilityState === "hidden") {
        try {
          new Notification(
            phase === "done"
              ? "Beam: download finished"
              : "Beam: download failed",
            { body: statusText },
          );
        } catch {
          // A notification is a courtesy: the page says it all the same.
        }
      }
    }
  }, [phase, st?.message === SENDER_AWAY]);

  // Every tenth of the way, while receiving.
  useEffect(() => {
    if (phase !== "receiving") return;
    const now = Math.floor(percent / 10);
    if (now === tenth.current) return;
    const first = tenth.current < 0;
    tenth.current = now;
    // The phase change said "Receiving…" already.
    if (!first || now > 0) say(`${now * 10} % received.`);
  }, [phase, Math.floor(percent / 10)]);

  async function askToNotify() {
    const answer = await Notification.requestPermission();
    notify.value = answer === "granted" ? "on" : "refused";
    say(
      answer === "granted"
        ? "You will be notified when the download ends."
        : "Notifications are blocked: keep this tab in view to see when it ends.",
    );
  }

  return (
    <section class="card receive-panel" aria-labelledby="receive-title">
      {/* The tab's title says how far it is, for a tab in the background. */}
      <TabTitle
        status={phase === "done"
          ? "Done"
          : failed
          ? "Failed"
          : started.value && UNDER_WAY.has(phase)
          ? `${percent} %`
          : null}
      />
      <h1 id="receive-title">Receive files</h1>
      <Announcer text={said.value.text} count={said.value.count} />
      <p
        class={`status phase-${phase}${
          failed ? " error" : phase === "done" ? " ok" : ""
        }`}
        id="receive-status"
        role="status"
        // The page's live region says it (and the progress) once.
        aria-live="off"
        tabIndex={-1}
        ref={statusRef}
      >
        {statusText}
        {COUNTED.has(phase) && st && st.attempt > 1 &&
          ` (attempt ${st.attempt} of ${st.maxAttempts})`}
      </p>

      {o?.text !== undefined && (
        <div class="shared-text">
          <h2 id="shared-text-title">Text</h2>
          <pre tabIndex={0} aria-labelledby="shared-text-title">{o.text}</pre>
          <div class="actions">
            <button type="button" onClick={() => copyText(o.text!)}>
              Copy text
            </button>
            <span class="muted" aria-live="polite">{textCopied.value}</span>
          </div>
        </div>
      )}

      {hasFiles && <FileList files={o!.files} />}

      {hasFiles && myName.value && (
        <p class="muted receiver-name">
          You appear to the sender as <strong>{myName.value}</strong>.
        </p>
      )}

      {o && hasFiles && !started.value && !failed && (
        <div class="actions">
          {choices.map((d, i) => (
            <button
              key={d.id}
              type="button"
              class={i === 0 ? "" : "secondary"}
              ref={i === 0 ? downloadRef : undefined}
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

      {started.value && st && !failed && (
        <>
          <Progress
            bytes={st.bytes}
            total={st.total}
            rate={phase === "receiving" ? st.rate : 0}
            secondsLeft={phase === "receiving" ? st.secondsLeft : 0}
            label="Download progress"
          />
          {phase !== "done" && <p class="muted">{saveNote.value}</p>}
          {awakeNote.value && (
            <awakeNote.value.AwakeNote active={UNDER_WAY.has(phase)} />
          )}
          {UNDER_WAY.has(phase) && (
            <div class="actions">
              <button type="button" class="danger" onClick={cancel}>
                Cancel
              </button>
            </div>
          )}
          {UNDER_WAY.has(phase) && notify.value === "off" && canNotify() && (
            <div class="actions">
              <button type="button" class="secondary" onClick={askToNotify}>
                Notify me when done
              </button>
            </div>
          )}
          {UNDER_WAY.has(phase) && notify.value === "on" && (
            <p class="muted" data-notify>
              You will be notified when the download ends.
            </p>
          )}
        </>
      )}
      {added > 0 && !failed && (
        <div class="notice added" data-added={added}>
          <p>
            {addedText(added)}
            {phase !== "done" &&
              " You can get them once this download is done."}
          </p>
          {phase === "done" && (
            <button type="button" onClick={downloadMore}>
              Get only the added files
            </button>
          )}
        </div>
      )}
      {failed && (
        <div class="actions">
          {canRetry && (
            <button
              type="button"
              ref={againRef}
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
          )}
          <a class="button secondary" href="/" ref={homeRef}>
            Send your own files
          </a>
        </div>
      )}
      {!started.value && saveNote.value && <p class="error">{saveNote.value}
      </p>}
    </section>
  );
}
