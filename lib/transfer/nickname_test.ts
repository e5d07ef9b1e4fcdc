import assert from "node:assert/strict";
import { newNickname, NICKNAME_COUNT, receiverLabel } from "./nickname.ts";
import { isNickname, MAX_NICKNAME_CHARS } from "./session_id.ts";

Deno.test("newNickname() makes two capitalised words that isNickname() accepts", () => {
  for (let i = 0; i < 200; i++) {
    const name = newNickname();
    assert.match(name, /^[A-Z][a-z]+ [A-Z][a-z]+$/);
    assert.ok(isNickname(name), name);
  }
});

Deno.test("newNickname() takes each word from its list by the random number", () => {
  assert.equal(newNickname(() => 0), "Amber Badger");
  // The top of the range stays inside the lists.
  const last = newNickname(() => 0.999999999);
  assert.equal(last, "Zesty Yak");
  assert.ok(NICKNAME_COUNT > 1000);
});

Deno.test("newNickname() gives different names to different sessions, mostly", () => {
  const names = new Set(Array.from({ length: 50 }, () => newNickname()));
  assert.ok(names.size > 30, `only ${names.size} distinct names`);
});

Deno.test("isNickname() refuses anything but short capitalised words of letters", () => {
  for (
    const bad of [
      undefined,
      null,
      42,
      "",
      "Otter",
      "amber otter",
      "Amber  Otter",
      " Amber Otter",
      "Amber Otter ",
      "Amber-Otter",
      "Amber Otter!",
      "<b>Amber</b> Otter",
      "Amber Ottér",
      "Amber \u202eOtter",
      "Amber\nOtter",
      "Receiver 4BC12D",
      "One Two Three Four",
      `Amber ${"O".repeat(MAX_NICKNAME_CHARS)}`,
    ]
  ) {
    assert.equal(isNickname(bad), false, JSON.stringify(bad));
  }
  assert.ok(isNickname("Amber Otter"));
  assert.ok(isNickname("Big Blue Whale"));
});

Deno.test("receiverLabel() gives the receiver's name, or the start of its id without one", () => {
  assert.equal(
    receiverLabel({ id: "ABCDEFGHIJKL", name: "Amber Otter" }),
    "Amber Otter",
  );
  assert.equal(receiverLabel({ id: "ABCDEFGHIJKL" }), "Receiver ABCDEF");
});
