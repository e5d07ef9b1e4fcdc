/**
 * Deterministic test bytes: a xorshift32 stream from a seed, so a failing
 * test can be replayed with the same data.
 *
 * @module
 */

/** `length` pseudo-random bytes from `seed` (nonzero). */
export function pseudoRandomBytes(
  length: number,
  seed = 1,
): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x;
  }
  return bytes;
}
