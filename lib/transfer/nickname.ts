/**
 * The name a receiving page goes by on the sender's page: two words
 * ("Amber Otter"), chosen at random once per receive and sent sealed with
 * the session id in every `offer` (session_id.ts), so the sender's rows
 * say who is who in words people can say aloud, and the receiver's page
 * can say which row is theirs ("You appear to the sender as Amber Otter").
 *
 * A name is a label, not an identity: anyone with the link can pick any
 * name, so it is only ever shown, never trusted. What arrives is checked
 * by `isNickname()` (session_id.ts, where it is opened: short, letters
 * and single spaces) and one that fails is dropped, never rendered raw.
 * This module imports nothing, so a page can load it on its own.
 *
 * @module
 */

/** Adjectives: short, plain, nothing that reads as a judgement of a person. */
const ADJECTIVES = [
  "Amber",
  "Azure",
  "Brave",
  "Bright",
  "Calm",
  "Clever",
  "Coral",
  "Crimson",
  "Daring",
  "Eager",
  "Gentle",
  "Golden",
  "Happy",
  "Honest",
  "Indigo",
  "Ivory",
  "Jolly",
  "Kind",
  "Lively",
  "Lucky",
  "Mellow",
  "Misty",
  "Nimble",
  "Olive",
  "Patient",
  "Plucky",
  "Quick",
  "Quiet",
  "Rosy",
  "Rusty",
  "Silver",
  "Sunny",
  "Swift",
  "Teal",
  "Tidy",
  "Violet",
  "Witty",
  "Zesty",
] as const;

/** Animals: common, easy to spell, distinct from each other. */
const ANIMALS = [
  "Badger",
  "Beaver",
  "Bison",
  "Crane",
  "Dolphin",
  "Falcon",
  "Ferret",
  "Finch",
  "Fox",
  "Gecko",
  "Heron",
  "Hedgehog",
  "Ibis",
  "Koala",
  "Lemur",
  "Lynx",
  "Marmot",
  "Moose",
  "Newt",
  "Otter",
  "Owl",
  "Panda",
  "Pelican",
  "Penguin",
  "Puffin",
  "Rabbit",
  "Raven",
  "Robin",
  "Seal",
  "Sparrow",
  "Stork",
  "Swan",
  "Tapir",
  "Tiger",
  "Turtle",
  "Walrus",
  "Wombat",
  "Yak",
] as const;

/** A fresh two-word name, from `random` (default: the crypto RNG). */
export function newNickname(random: () => number = cryptoRandom): string {
  const pick = <T>(list: readonly T[]) =>
    list[Math.floor(random() * list.length) % list.length];
  return `${pick(ADJECTIVES)} ${pick(ANIMALS)}`;
}

/**
 * What the sender's page calls a receiver: the name it sent (checked when
 * it arrived), or, for a receiver without one, the start of its peer id.
 */
export function receiverLabel(
  receiver: { id: string; name?: string },
): string {
  return receiver.name ?? `Receiver ${receiver.id.slice(0, 6)}`;
}

/** How many names {@linkcode newNickname} can make. */
export const NICKNAME_COUNT = ADJECTIVES.length * ANIMALS.length;

function cryptoRandom(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] / 2 ** 32;
}
