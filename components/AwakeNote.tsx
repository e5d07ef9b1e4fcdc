import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import {
  type AwakeState,
  ScreenAwake,
  type WakeLockApi,
} from "../lib/transfer/wake_lock.ts";

/**
 * Keeps the screen awake while `active` (inside an island) and says whether
 * it could: a device that sleeps mid-transfer drops the connection.
 */
export function AwakeNote({ active }: { active: boolean }) {
  const state = useSignal<AwakeState>("idle");
  const awake = useRef<ScreenAwake | null>(null);

  useEffect(() => {
    const api = (navigator as Navigator & { wakeLock?: WakeLockApi }).wakeLock;
    const keeper = new ScreenAwake(api, (s) => state.value = s);
    awake.current = keeper;
    // Browsers drop the lock when the tab is hidden; take it again on return.
    const onVisible = () => {
      if (document.visibilityState === "visible") keeper.retake();
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      document.removeEventListener("visibilitychange", onVisible);
      keeper.want(false);
    };
  }, []);

  useEffect(() => {
    awake.current?.want(active);
  }, [active]);

  if (!active || state.value === "idle") return null;
  return (
    <p class="muted awake" data-awake={state.value}>
      {state.value === "held"
        ? "Keeping the screen awake until the transfer ends."
        : "This browser cannot keep the screen awake: keep this tab open and the device awake until the transfer ends."}
    </p>
  );
}
