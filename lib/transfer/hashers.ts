/**
 * The WebAssembly hashers Beam uses (hash-wasm's SHA-256 and CRC-32), in a
 * module of their own so that pages load them with `import()` only when a
 * transfer starts: they are the largest part of a page's code (their
 * WebAssembly ships as base64 text), and a page that is only looked at never
 * needs them. Importing this module statically, not hash-wasm's whole
 * namespace dynamically, lets the bundler keep only these two.
 *
 * @module
 */

export { createCRC32, createSHA256, type IHasher } from "hash-wasm";
