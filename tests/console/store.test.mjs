// The console's store: explicit updates, subscribers told once per update of the keys they follow.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createStore, mapDelete, mapMerge, mapSet } from "../../services/gateway/console/lib/store.js";

test("update tells the subscribers of the keys that changed, once, after all are set", () => {
  const store = createStore({ a: 1, b: 2 });
  const seen = [];
  store.subscribe(["a"], (changed) => seen.push(["a", changed, store.get("b")]));
  store.subscribe(null, (changed) => seen.push(["any", changed]));
  store.update({ a: 5, b: 6 });
  assert.deepEqual(seen, [["a", ["a", "b"], 6], ["any", ["a", "b"]]]);
  seen.length = 0;
  store.update({ a: 5 }); // same value: nobody is told
  store.update({ b: 7 });
  assert.deepEqual(seen, [["any", ["b"]]]);
});

test("unsubscribe stops the calls, even within the same update", () => {
  const store = createStore({ x: 0 });
  const calls = [];
  let second = null;
  store.subscribe(["x"], () => { calls.push(1); second(); });
  second = store.subscribe(["x"], () => calls.push(2));
  store.update({ x: 1 });
  assert.deepEqual(calls, [1]);
});

test("map helpers return new maps, so the store sees the change", () => {
  const m = new Map([["k", { a: 1 }]]);
  const merged = mapMerge(m, "k", { b: 2 });
  assert.notEqual(merged, m);
  assert.deepEqual(merged.get("k"), { a: 1, b: 2 });
  assert.deepEqual(m.get("k"), { a: 1 });
  assert.equal(mapSet(m, "z", 1).get("z"), 1);
  assert.equal(mapDelete(m, "missing"), m);
  assert.equal(mapDelete(m, "k").size, 0);
});
