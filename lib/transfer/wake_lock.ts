/**
 * Keeps the screen awake while a transfer runs (a sleeping phone or laptop
 * drops its connections), where the browser allows it, and says when it
 * cannot. The Screen Wake Lock API is passed in, so this runs anywhere.
 *
 * @module
 */

/** The part of `navigator.wakeLock` used here. */
export interface WakeLockApi {
  request(type: "screen"): Promise<{ release(): Promise<void> }>;
}

/** What the page should say. */
export type AwakeState = "idle" | "held" | "unavailable";

/** Holds a screen wake lock while wanted; re-takes it when the page returns. */
export class ScreenAwake {
  #api: WakeLockApi | undefined;
  #onChange: (state: AwakeState) => void;
  #lock: { release(): Promise<void> } | null = null;
  #wanted = false;

  constructor(
    api: WakeLockApi | undefined,
    onChange: (state: AwakeState) => void,
  ) {
    this.#api = api;
    this.#onChange = onChange;
  }

  /** Wants the screen awake (or not). Safe to call repeatedly. */
  async want(wanted: boolean): Promise<void> {
    if (wanted === this.#wanted) return;
    this.#wanted = wanted;
    if (wanted) await this.retake();
    else await this.#release();
  }

  /**
   * Takes the lock if wanted and not held. Browsers drop it when the page
   * is hidden, so call this again when it becomes visible.
   */
  async retake(): Promise<void> {
    if (!this.#wanted || this.#lock !== null) return;
    if (this.#api === undefined) {
      this.#onChange("unavailable");
      return;
    }
    try {
      const lock = await this.#api.request("screen");
      if (!this.#wanted) {
        await lock.release();
        return;
      }
      this.#lock = lock;
      const onRelease = () => {
        if (this.#lock === lock) this.#lock = null;
      };
      (lock as unknown as EventTarget).addEventListener?.("release", onRelease);
      this.#onChange("held");
    } catch {
      // Refused: no permission, a hidden page, a battery saver.
      this.#onChange("unavailable");
    }
  }

  async #release(): Promise<void> {
    const lock = this.#lock;
    this.#lock = null;
    this.#onChange("idle");
    await lock?.release().catch(() => {});
  }
}
