import { useSignal } from "@preact/signals";
import { useEffect, useMemo, useRef } from "preact/hooks";
import { QrCode } from "../components/QrCode.tsx";
import { Progress } from "../components/Progress.tsx";
import { FileList } from "../components/FileList.tsx";
import { AwakeNote } from "../components/AwakeNote.tsx";
import {
  type ReceiverView,
  SendSession,
} from "../lib/transfer/send_session.ts";
import { newSecret, shareLink } from "../lib/transfer/secret.ts";
import { signalUrl } from "../lib/signal/client.ts";
import { describeError } from "../lib/transfer/error_text.ts";
import { IceSource, rtcLinks } from "../lib/transfer/rtc.ts";

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

const STATE_LABEL: Record<ReceiverView["phase"], string> = {
  waiting: "waiting",
  connecting: "connecting",
  sending: "sending",
  retrying: "retrying",
  resuming: "resuming",
  done: "done",
  failed: "failed",
};

export default function SendPanel(
  { iceServers, iceUrl, iceTransportPolicy, connectTimeoutMs }: SendPanelProps,
) {
  // One source for the page: fetched credentials are shared by its
  // connections for a while (lib/transfer/rtc.ts).
  const createLink = useMemo(
    () =>
      rtcLinks(
        new IceSource({
          iceServers,
          url: iceUrl ?? undefined,
          iceTransportPolicy: iceTransportPolicy ?? undefined,
        }),
      ),
    [],
  );
  const files = useSignal<File[]>([]);
  const phase = useSignal<Phase>("pick");
  const link = useSignal("");
  const message = useSignal("");
  const copied = useSignal(false);
  const dragging = useSignal(false);
  const receivers = useSignal<ReceiverView[]>([]);
  const reconnecting = useSignal(false);
  const session = useRef<SendSession | null>(null);

  async function share(picked: File[]) {
    if (picked.length === 0) return;
    session.current?.stop();
    files.value = picked;
    receivers.value = [];
    reconnecting.value = false;
    phase.value = "starting";
    message.value = "";
    const secret = newSecret();
    const next = new SendSession({
      signalUrl: signalUrl(location.origin),
      files: picked,
      secret,
      createLink,
      connectTimeoutMs,
      onReceivers: (list) => receivers.value = list,
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
    } catch (error) {
      phase.value = "error";
      message.value = describeError(error);
    }
  }

  function stop() {
    session.current?.stop();
    session.current = null;
    phase.value = "stopped";
  }

  async function copy() {
    try {
      await navigator.clipboard.writeText(link.value);
      copied.value = true;
      setTimeout(() => copied.value = false, 2000);
    } catch {
      message.value =
        "Copying was refused: select the link and copy it by hand.";
    }
  }

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
      const dropped = [...(event.dataTransfer?.files ?? [])];
      if (dropped.length > 0) share(dropped);
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
      <h1 id="send-title">Send files</h1>
      <div class={`dropzone${dragging.value ? " active" : ""}`}>
        <p>Drop files anywhere on this page, or</p>
        <label class="button">
          Choose files
          <input
            id="file-input"
            type="file"
            multiple
            class="visually-hidden"
            onChange={(event) => {
              const input = event.currentTarget;
              share([...(input.files ?? [])]);
              input.value = "";
            }}
          />
        </label>
        <p class="muted">
          They go straight from this browser to the receiver's. Keep this tab
          open while sharing.
        </p>
      </div>

      {files.value.length > 0 && <FileList files={files.value} />}

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
              <button type="button" onClick={copy}>
                {copied.value ? "Copied" : "Copy link"}
              </button>
            </div>
            <p class="muted">
              Anyone with the link can receive these files while this tab stays
              open.
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
      <p class="status error" role="alert">{message.value}</p>

      {showRows && (
        <div class="receivers-box">
          <h2>Receivers</h2>
          <AwakeNote
            active={receivers.value.some((r) =>
              r.phase === "connecting" || r.phase === "sending" ||
              r.phase === "resuming"
            )}
          />
          {receivers.value.length === 0 && (
            <p class="muted">Nobody has opened the link yet.</p>
          )}
          <ul class="receivers" aria-live="polite">
            {receivers.value.map((r) => (
              <li
                key={r.id}
                class="receiver"
                data-receiver={r.id}
                data-state={r.phase}
              >
                <div class="row">
                  <span>Receiver {r.id.slice(0, 6)}</span>
                  <span class={`state state-${r.phase}`}>
                    {STATE_LABEL[r.phase]}
                    {r.attempt > 1 && r.phase !== "done"
                      ? ` (attempt ${r.attempt})`
                      : ""}
                  </span>
                </div>
                <Progress
                  bytes={r.bytes}
                  total={r.total}
                  rate={r.phase === "sending" ? r.rate : 0}
                  secondsLeft={r.secondsLeft}
                  label={`Progress of receiver ${r.id.slice(0, 6)}`}
                />
                {r.message && r.phase !== "done" && (
                  <p class="muted">{r.message}</p>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
