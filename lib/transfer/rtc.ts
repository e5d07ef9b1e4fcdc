/**
 * One WebRTC peer connection for one transfer attempt: trickled ICE
 * candidates in both directions (remote ones held until the remote
 * description is set), the data channel's opening, and its failure.
 *
 * @module
 */

/** Creates a peer connection; a parameter so tests can wrap or fail it. */
export type PeerConnectionFactory = (
  config: RTCConfiguration,
) => RTCPeerConnection;

/** The browser's own `RTCPeerConnection`. */
export const nativePeerConnection: PeerConnectionFactory = (config) =>
  new RTCPeerConnection(config);

/** The connection did not come up; a new attempt may do better. */
export class ConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectError";
  }
}

/** A peer connection with trickle ICE. */
export class PeerLink {
  /** The connection. */
  readonly pc: RTCPeerConnection;
  #pending: RTCIceCandidateInit[] = [];
  #remoteSet = false;
  #closed = false;

  /** `onCandidate` sends a local candidate to the other peer. */
  constructor(
    iceServers: RTCIceServer[],
    onCandidate: (candidate: RTCIceCandidateInit) => void,
    create: PeerConnectionFactory = nativePeerConnection,
  ) {
    this.pc = create({ iceServers });
    this.pc.onicecandidate = (event) => {
      if (event.candidate && !this.#closed) {
        onCandidate(event.candidate.toJSON());
      }
    };
  }

  /** Sets the remote description, then applies candidates that came early. */
  async setRemote(description: RTCSessionDescriptionInit): Promise<void> {
    await this.pc.setRemoteDescription(description);
    this.#remoteSet = true;
    const pending = this.#pending;
    this.#pending = [];
    for (const candidate of pending) await this.addCandidate(candidate);
  }

  /** Adds a remote candidate (held until the remote description is set). */
  async addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (this.#closed) return;
    if (!this.#remoteSet) {
      if (this.#pending.length < 200) this.#pending.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch {
      // A malformed or stale candidate only loses that path; ICE goes on.
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#closed = true;
    this.pc.onicecandidate = null;
    this.pc.close();
  }

  /**
   * Resolves when `channel` opens. Rejects with a {@linkcode ConnectError} when
   * ICE fails, the channel closes, or `timeoutMs` passes first.
   */
  waitOpen(channel: RTCDataChannel, timeoutMs: number): Promise<void> {
    if (channel.readyState === "open") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          done(
            new ConnectError(
              "Cannot connect: no route between the browsers in time",
            ),
          ),
        timeoutMs,
      );
      const onState = () => {
        const state = this.pc.iceConnectionState;
        if (state === "failed" || this.pc.connectionState === "failed") {
          done(
            new ConnectError(
              "Cannot connect: no network path found (ICE failed)",
            ),
          );
        }
      };
      const onOpen = () => done();
      const onClose = () =>
        done(new ConnectError("Cannot connect: the channel closed"));
      const done = (error?: Error) => {
        clearTimeout(timer);
        channel.removeEventListener("open", onOpen);
        channel.removeEventListener("close", onClose);
        this.pc.removeEventListener("iceconnectionstatechange", onState);
        this.pc.removeEventListener("connectionstatechange", onState);
        if (error) reject(error);
        else resolve();
      };
      channel.addEventListener("open", onOpen);
      channel.addEventListener("close", onClose);
      this.pc.addEventListener("iceconnectionstatechange", onState);
      this.pc.addEventListener("connectionstatechange", onState);
    });
  }
}
