import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { QrCode } from "../components/QrCode.tsx";
import { Progress } from "../components/Progress.tsx";
import { FileList } from "../components/FileList.tsx";
import { AwakeNote } from "../components/AwakeNote.tsx";
import { Announcer } from "../components/Announcer.tsx";
import { TabTitle } from "../components/TabTitle.tsx";
import { sendingStatus } from "../lib/transfer/tab_title.ts";
import type {
  ReceiverView,
  SendSession,
} from "../lib/transfer/send_session.ts";
import type { LinkFactory } from "../lib/transfer/rtc.ts";
import { receiverLabel } from "../lib/transfer/nickname.ts";
import type { SourceFile } from "../lib/transfer/sender.ts";
import {
  droppedEntries,
  fromEntries,
  fromPicker,
} from "../lib/transfer/picked.ts";
import { MAX_TEXT_BYTES } from "../lib/transfer/wire.ts";
import { describeError } from "../lib/transfer/error_text.ts";
import { receiveShared } from "../lib/transfer/share_target.ts";
import { LANES_SETTING, lanesAllowed } from "../lib/transfer/lanes.ts";

/**
 * The code that shares, loaded with `import()` once files are chosen: the
 * page itself only needs to show the picker (tests/page_weight_test.ts
 * holds it to its budget).
 */
function loadSharing() {
  return Promise.all([
    import("../lib/transfer/sharing.ts"),
    // Drawn with the link: loaded now, it is there when the link is.
    import("qrcode-generator"),
  ]).then(([sharing]) => sharing);
}

/** What the page says when the sharing code could not be loaded. */
const NOT_LOADED =
  "Beam could not load what it needs to share: check your connection, then choose the files again.";

interface SendPanelProps {
  iceServers: RTCIceServer[];
  /**
   * Where fresh ICE servers (short-lived TURN credentials) are fetched for
   * each connection; `null` when the site has no relay.
   */
  iceUrl: string | null;
  /** Test only: `relay` forces connections through the relay. */
  iceTransportPolicy: RTCIceTransportPolicy | null;
  connectTimeoutMs: number;
}

type Phase = "pick" | "starting" | "sharing" | "stopped" | "error";

/** Files or text chosen while sharing: added, or a new share, once asked. */
interface Chosen {
  files: SourceFile[];
  text: string;
}

/** "3 files", "1 file": `count` of `what`. */
function counted(count: number, what: string): string {
  return `${count} ${what}${count === 1 ? "" : "s"}`;
}

const STATE_LABEL: Record<ReceiverView["phase"], string> = {
  waiting: "waiting",
  connecting: "connecting",
  sending: "sending",
  retrying: "retrying",
  resuming: "resuming",
  done: "done",
  failed: "failed",
};

/** States in which the person can stop sending to a receiver. */
const STOPPABLE: ReadonlySet<ReceiverView["phase"]> = new Set([
  "connecting",
  "sending",
  "retrying",
  "resuming",
]);

/**
 * A receiver's state as its row says it: why it ended when no one failed
 * (cancelled, stopped); one that stopped answering or closed its tab
 * mid-transfer is "Left at 3 %" (it may still come back).
 */
function stateText(r: ReceiverView): string {
  if (r.ended) return r.ended;
  if (r.left) {
    const percent = r.total === 0 ? 100 : Math.floor((r.bytes / r.total) * 100);
    return `Left at ${percent} %`;
  }
  return r.stalled ? "stalled" : STATE_LABEL[r.phase];
}

/** The `beam:lanes` setting (README), or `null` when unset or unreadable. */
function lanesSetting(): string | null {
  try {
    return localStorage.getItem(LANES_SETTING);
  } catch {
    return null;
  }
}

export default function SendPanel(
  { iceServers, iceUrl, iceTransportPolicy, connectTimeoutMs }: SendPanelProps,
) {
  // One source for the page, made with the first share: fetched
  // credentials are shared by its connections for a while
  // (lib/transfer/rtc.ts).
  const createLink = useRef<LinkFactory | null>(null);
  const files = useSignal<SourceFile[]>([]);
  /** The text being shared, or `""` when files are. */
  const sharedText = useSignal("");
  const draft = useSignal("");
  const phase = useSignal<Phase>("pick");
  const link = useSignal("");
  const message = useSignal("");
  const copied = useSignal(false);
  const dragging = useSignal(false);
  const receivers = useSignal<ReceiverView[]>([]);
  const reconnecting = useSignal(false);
  const session = useRef<SendSession | null>(null);
  const said = useSignal({ text: "", count: 0 });
  const say = (text: string) =>
    said.value = { text, count: said.value.count + 1 };
  const copyRef = useRef<HTMLButtonElement>(null);
  const chooseRef = useRef<HTMLInputElement>(null);
  /** Chosen while sharing, waiting for the person's answer. */
  const chosen = useSignal<Chosen | null>(null);
  const addRef = useRef<HTMLButtonElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  /** Each receiver's phase last said, so that only changes are said. */
  const phases = useRef(new Map<string, ReceiverView["phase"]>());

  /** Says what changed for receivers: a phase, never speed or time left. */
  function hear(list: ReceiverView[]) {
    const changes: string[] = [];
    for (const r of list) {
      if (phases.current.get(r.id) === r.phase) continue;
      phases.current.set(r.id, r.phase);
      changes.push(`${receiverLabel(r)}: ${stateText(r)}.`);
    }
    if (changes.length > 0) say(changes.join(" "));
  }

  /** Stops sending to receiver `r` only; the others go on. */
  function stopReceiver(r: ReceiverView, button: HTMLElement) {
    // The Stop button goes: focus stays on the row it was in, which stays.
    button.closest<HTMLElement>("li")?.focus();
    session.current?.stopReceiver(r.id);
  }

  async function share(picked: SourceFile[], text = "") {
    if (picked.length === 0 && text === "") return;
    session.current?.stop();
    files.value = picked;
    sharedText.value = text;
    receivers.value = [];
    phases.current.clear();
    reconnecting.value = false;
    phase.value = "starting";
    message.value = "";
    let sharing;
    try {
      sharing = await loadSharing();
    } catch {
      phase.value = "error";
      message.value = NOT_LOADED;
      return;
    }
    // Files chosen again while the code loaded: that later share goes on.
    if (files.value !== picked || phase.value !== "starting") return;
    const { SendSession, newSecret, shareLink, signalUrl } = sharing;
    createLink.current ??= sharing.rtcLinks(
      new sharing.IceSource({
        iceServers,
        url: iceUrl ?? undefined,
        iceTransportPolicy: iceTransportPolicy ?? undefined,
      }),
    );
    const secret = newSecret();
    const next = new SendSession({
      signalUrl: signalUrl(location.origin),
      files: picked,
      ...(text === "" ? {} : { text }),
      secret,
      createLink: createLink.current,
      connectTimeoutMs,
      maxLanes: lanesAllowed(lanesSetting()),
      onReceivers: (list) => {
        receivers.value = list;
        hear(list);
      },
      onReconnecting: (on) => reconnecting.value = on,
      onDisconnect: (text) => {
        reconnecting.value = false;
        phase.value = "error";
        message.value = text;
      },
    });
    session.current = next;
    try {
      const id = await next.start();
      link.value = shareLink(location.origin, id, next.linkKey);
      phase.value = "sharing";
      say("Sharing. The link is ready to copy.");
      // The new state's main action.
      requestAnimationFrame(() => copyRef.current?.focus());
    } catch (error) {
      phase.value = "error";
      message.value = describeError(error);
    }
  }

  /**
   * Shares what was chosen; while sharing, asks first (in the page) whether
   * to add it to this share or start a new one, which cuts receivers off.
   */
  function choose(picked: SourceFile[], text = "") {
    if (picked.length === 0 && text === "") return;
    if (phase.value !== "sharing" || session.current === null) {
      share(picked, text);
      return;
    }
    chosen.value = { files: picked, text };
    // The question's default answer, or Cancel when adding cannot be.
    requestAnimationFrame(() => (addRef.current ?? cancelRef.current)?.focus());
  }

  /** Adds what was chosen to this share: same link, receivers told. */
  async function addChosen() {
    const picked = chosen.value;
    const current = session.current;
    chosen.value = null;
    if (picked === null || current === null) return;
    try {
      await current.add(picked.files, picked.text);
    } catch (error) {
      message.value = describeError(error);
      return;
    }
    if (session.current !== current) return;
    files.value = [...files.value, ...picked.files];
    if (picked.text !== "") sharedText.value = picked.text;
    say(
      `Added ${
        picked.files.length > 0 ? counted(picked.files.length, "file") : "text"
      } to this share. The link stays the same; receivers who have it see the addition.`,
    );
    requestAnimationFrame(() => copyRef.current?.focus());
  }

  /** Ends this share and starts one of what was chosen. */
  function replaceShare() {
    const picked = chosen.value;
    chosen.value = null;
    if (picked !== null) share(picked.files, picked.text);
  }

  /** Leaves everything as it was. */
  function cancelChosen() {
    chosen.value = null;
    say("Nothing changed: still sharing the same files.");
    requestAnimationFrame(() => copyRef.current?.focus());
  }

  // Escape cancels the question, wherever focus went meanwhile.
  const asking = chosen.value !== null;
  useEffect(() => {
    if (!asking) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      cancelChosen();
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, [asking]);

  /** Shares what a folder held; says so when it held no file at all. */
  function shareFolder(picked: SourceFile[]) {
    if (picked.length === 0) {
      message.value =
        "That folder has no files in it: choose a folder with files in it, or choose files.";
      return;
    }
    choose(picked);
  }

  // The system share sheet (phones mostly), where the browser has one.
  const canShare = typeof navigator !== "undefined" &&
    typeof navigator.share === "function";

  async function shareSystem() {
    try {
      await navigator.share({ title: "Files sent with Beam", url: link.value });
    } catch (error) {
      // Closing the share sheet is not a failure.
      if ((error as DOMException).name === "AbortError") return;
      message.value =
        "Sharing through the system was refused: copy the link instead.";
    }
  }

  function stop() {
    session.current?.stop();
    session.current = null;
    phase.value = "stopped";
    say("Sharing stopped. The link no longer works.");
    // The Stop button is gone: back to choosing files.
    requestAnimationFrame(() => chooseRef.current?.focus());
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(link.value);
      copied.value = true;
      say("Copied the link.");
      setTimeout(() => copied.value = false, 2000);
    } catch {
      message.value =
        "Copying was refused: select the link and copy it by hand.";
    }
  }

  // "Share → Beam" from another app lands here with what was shared.
  useEffect(() => {
    receiveShared({
      onShared: (shared) => share(fromPicker(shared.files), shared.text),
      onMessage: (text) => message.value = text,
    });
  }, []);

  // Files may be dropped anywhere on the page, not just on a target.
  useEffect(() => {
    const over = (event: DragEvent) => {
      if (!event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      dragging.value = true;
    };
    const leave = (event: DragEvent) => {
      if (event.relatedTarget === null) dragging.value = false;
    };
    const drop = (event: DragEvent) => {
      event.preventDefault();
      dragging.value = false;
      // Entries, where the browser gives them, also walk dropped folders;
      // they must be taken now, before the drop's items are emptied.
      const entries = droppedEntries(event.dataTransfer?.items);
      const dropped = fromPicker(event.dataTransfer?.files ?? []);
      if (entries === null) {
        choose(dropped);
        return;
      }
      fromEntries(entries).then(shareFolder, (error) => {
        phase.value = "error";
        message.value = describeError(error);
      });
    };
    const unload = (event: BeforeUnloadEvent) => {
      if (session.current?.busy) {
        event.preventDefault();
        event.returnValue = "";
      }
    };
    addEventListener("dragover", over);
    addEventListener("dragleave", leave);
    addEventListener("drop", drop);
    addEventListener("beforeunload", unload);
    return () => {
      removeEventListener("dragover", over);
      removeEventListener("dragleave", leave);
      removeEventListener("drop", drop);
      removeEventListener("beforeunload", unload);
      session.current?.stop();
    };
  }, []);

  const sharing = phase.value === "sharing";
  // Signaling dropped: the link is dead, but transfers under way go on
  // over their data channels, so their rows stay in view.
  const showRows = sharing ||
    (phase.value === "error" && receivers.value.length > 0);

  return (
    <section class="card send-panel" aria-labelledby="send-title">
      <TabTitle status={showRows ? sendingStatus(receivers.value) : null} />
      <h1 id="send-title">Send files</h1>
      <Announcer text={said.value.text} count={said.value.count} />
      <div class={`dropzone${dragging.value ? " active" : ""}`}>
        <p>Drop files or folders anywhere on this page, or</p>
        <div class="pick-row">
          <label class="button">
            Choose files
            <input
              id="file-input"
              ref={chooseRef}
              type="file"
              multiple
              class="visually-hidden"
              onChange={(event) => {
                const input = event.currentTarget;
                choose(fromPicker(input.files ?? []));
                input.value = "";
              }}
            />
          </label>
          <label class="button secondary">
            Choose a folder
            <input
              id="folder-input"
              type="file"
              class="visually-hidden"
              {...{ webkitdirectory: true }}
              onChange={(event) => {
                const input = event.currentTarget;
                shareFolder(fromPicker(input.files ?? []));
                input.value = "";
              }}
            />
          </label>
        </div>
        <p class="muted">
          They go straight from this browser to the receiver's. Keep this tab
          open while sharing.
        </p>
      </div>

      <form
        class="text-form"
        onSubmit={(event) => {
          event.preventDefault();
          choose([], draft.value);
        }}
      >
        <label for="text-input">Or send text</label>
        <textarea
          id="text-input"
          rows={3}
          value={draft.value}
          aria-describedby="text-hint"
          onInput={(event) => draft.value = event.currentTarget.value}
        />
        <p id="text-hint" class="muted">
          A note, a link or a snippet, up to {MAX_TEXT_BYTES / 1024}{" "}
          KiB: it is shown on the receiver's page, ready to copy.
        </p>
        <button type="submit" class="secondary" disabled={draft.value === ""}>
          Send text
        </button>
      </form>

      {chosen.value !== null && (
        <AddDialog
          chosen={chosen.value}
          receivers={session.current?.liveCount ?? 0}
          canAdd={chosen.value.text === "" || !session.current?.hasText}
          addRef={addRef}
          cancelRef={cancelRef}
          onAdd={addChosen}
          onReplace={replaceShare}
          onCancel={cancelChosen}
        />
      )}

      {files.value.length > 0 && <FileList files={files.value} />}
      {sharedText.value !== "" && (
        <p class="status">
          Sharing text ({sharedText.value.length} character{sharedText.value
              .length === 1
            ? ""
            : "s"}).
        </p>
      )}

      {phase.value === "starting" && <p class="status">Getting a link…</p>}

      {sharing && (
        <div class="share">
          <div>
            <label for="share-link">Share this link</label>
            <div class="link-row">
              <input
                id="share-link"
                readOnly
                value={link.value}
                onFocus={(e) => e.currentTarget.select()}
              />
              <button type="button" onClick={copy} ref={copyRef}>
                {copied.value ? "Copied" : "Copy link"}
              </button>
              {canShare && (
                <button type="button" class="secondary" onClick={shareSystem}>
                  Share…
                </button>
              )}
            </div>
            <p class="muted">
              Anyone with the link can receive{" "}
              {files.value.length > 0 ? "these files" : "this text"}{" "}
              while this tab stays open.
            </p>
            {reconnecting.value && (
              <p class="status" role="status" data-reconnecting>
                Reconnecting to the signaling server… The link will work again
                in a moment.
              </p>
            )}
            <div class="actions">
              <button type="button" class="danger" onClick={stop}>
                Stop sharing
              </button>
            </div>
          </div>
          <QrCode text={link.value} label="QR code of the share link" />
        </div>
      )}

      {phase.value === "stopped" && (
        <p class="status">Sharing stopped. The link no longer works.</p>
      )}
      {/* Errors are said at once, apart from the polite region. */}
      <p class="status error" role="alert">{message.value}</p>

      {showRows && (
        <div class="receivers-box">
          <h2>Receivers</h2>
          <AwakeNote active={receivers.value.some((r) => r.receiving)} />
          {receivers.value.length === 0 && (
            <p class="muted">Nobody has opened the link yet.</p>
          )}
          <ul class="receivers">
            {receivers.value.map((r) => (
              <li
                key={r.id}
                class="receiver"
                data-receiver={r.id}
                data-state={r.phase}
                data-ended={r.ended}
                tabIndex={-1}
              >
                <div class="row">
                  <span class="receiver-name">{receiverLabel(r)}</span>
                  <span
                    class={`state state-${r.ended ?? r.phase}${
                      r.left ? " state-left" : ""
                    }`}
                  >
                    {stateText(r)}
                    {r.attempt > 1 && r.phase !== "done"
                      ? ` (attempt ${r.attempt})`
                      : ""}
                    {r.phase === "sending" && r.connections > 1 && (
                      <span class="connections">
                        {` over ${r.connections} connections`}
                      </span>
                    )}
                  </span>
                </div>
                <Progress
                  bytes={r.bytes}
                  total={r.total}
                  rate={r.phase === "sending" ? r.rate : 0}
                  secondsLeft={r.phase === "sending" ? r.secondsLeft : 0}
                  label={`Progress of ${receiverLabel(r)}`}
                />
                {r.message && r.phase !== "done" && (
                  <p class="muted">{r.message}</p>
                )}
                {STOPPABLE.has(r.phase) && (
                  <div class="actions">
                    <button
                      type="button"
                      class="danger"
                      data-stop-receiver={r.id}
                      aria-label={`Stop sending to ${receiverLabel(r)}`}
                      onClick={(event) => stopReceiver(r, event.currentTarget)}
                    >
                      Stop
                    </button>
                  </div>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

interface AddDialogProps {
  chosen: Chosen;
  /** Receivers being served now: a new share cuts them off. */
  receivers: number;
  /** False when the choice is text and the share has text already. */
  canAdd: boolean;
  addRef: { current: HTMLButtonElement | null };
  cancelRef: { current: HTMLButtonElement | null };
  onAdd: () => void;
  onReplace: () => void;
  onCancel: () => void;
}

/**
 * The question asked when files or text are chosen while sharing: in the
 * page, not a browser prompt. Focus moves to its default answer; Escape
 * cancels (the panel listens for it).
 */
function AddDialog(
  {
    chosen,
    receivers,
    canAdd,
    addRef,
    cancelRef,
    onAdd,
    onReplace,
    onCancel,
  }: AddDialogProps,
) {
  const what = chosen.files.length > 0
    ? counted(chosen.files.length, "file")
    : "text";
  const cut = receivers === 0
    ? "its link stops working. Nobody is receiving from it right now."
    : `its link stops working and ${
      receivers === 1
        ? "the receiver connected now is"
        : `the ${receivers} receivers connected now are`
    } cut off.`;
  return (
    <div
      class="add-dialog"
      role="dialog"
      aria-labelledby="add-title"
      aria-describedby="add-what add-new"
      data-add-dialog
    >
      <h2 id="add-title">You chose {what} while sharing</h2>
      <p id="add-what">
        {canAdd
          ? `Add ${
            chosen.files.length > 1 ? "them" : "it"
          } to this share: the link stays the same, and receivers who already have the list see the addition.`
          : "This share already carries text: to send other text, start a new share."}
      </p>
      <p id="add-new">
        Starting a new share ends this one: {cut}
      </p>
      <div class="actions">
        {canAdd && (
          <button type="button" ref={addRef} onClick={onAdd}>
            Add to this share
          </button>
        )}
        <button type="button" class="danger" onClick={onReplace}>
          Start a new share
        </button>
        <button
          type="button"
          class="secondary"
          ref={cancelRef}
          onClick={onCancel}
        >
          Cancel
        </button>
      </div>
    </div>
  );
}
