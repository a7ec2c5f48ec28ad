// Unit tests of the console's pure helpers (node --test; run by `make test`).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  duration, eventsUrl, insertAt, items, jobPercent, maskNumber, query, searchEmojis, shiftDay, withinHours, withOffset, ymd,
} from "../../services/gateway/console/lib/format.js";

test("items reads the one list shape, {items, next_cursor}", () => {
  assert.deepEqual(items({ items: [3], next_cursor: null }), [3]);
  assert.deepEqual(items([1, 2]), []);
  assert.deepEqual(items(null), []);
  assert.deepEqual(items({ other: 1 }), []);
});

test("withOffset writes a local time as an instant with its offset", () => {
  assert.equal(withOffset("2024-05-02T10:30", 120), "2024-05-02T10:30:00+02:00");
  assert.equal(withOffset("2024-05-02T10:30", -330), "2024-05-02T10:30:00-05:30");
  assert.equal(withOffset("2024-05-02T10:30:15", 0), "2024-05-02T10:30:15+00:00");
});

test("ymd and shiftDay move by day, week and month", () => {
  const d = new Date(2024, 0, 31, 12);
  assert.equal(ymd(d), "2024-01-31");
  assert.equal(ymd(shiftDay(d, "day", 1)), "2024-02-01");
  assert.equal(ymd(shiftDay(d, "week", -1)), "2024-01-24");
  assert.equal(ymd(shiftDay(d, "month", 1)), "2024-02-01"); // to the first: no overflow into March
  assert.equal(ymd(shiftDay(d, "month", -1)), "2023-12-01");
});

test("jobPercent is bounded and knows a finished job without a total", () => {
  assert.equal(jobPercent({ total: 200, done: 50 }), 25);
  assert.equal(jobPercent({ total: 10, done: 12 }), 100);
  assert.equal(jobPercent({ status: "succeeded" }), 100);
  assert.equal(jobPercent({ status: "running" }), 0);
});

test("duration as the seed writes it", () => {
  assert.equal(duration(19), "19s");
  assert.equal(duration(73), "1m13s");
  assert.equal(duration(120), "2m");
  assert.equal(duration(7440), "2h4m");
  assert.equal(duration(null), "0s");
});

test("query drops empty values", () => {
  assert.equal(query({ a: "x", b: "", c: null, d: 0, e: false, f: "a b" }), "a=x&d=0&f=a+b");
});

test("eventsUrl carries the resume cursors and never a token", () => {
  assert.equal(eventsUrl({ protocol: "http:", host: "h:1" }, 0, 0), "ws://h:1/api/v1/events");
  assert.equal(eventsUrl({ protocol: "https:", host: "h" }, 12, 3), "wss://h/api/v1/events?since=12&since_agent=3");
  assert.ok(!eventsUrl({ protocol: "http:", host: "h" }, 1, 1).includes("token"));
});

test("withinHours keeps recent items and those without a time", () => {
  const now = Date.parse("2024-05-02T12:00:00Z");
  const list = [{ at: "2024-05-02T11:00:00Z" }, { at: "2024-05-01T11:00:00Z" }, { id: "no time" }];
  assert.deepEqual(withinHours(list, 24, now), [list[0], list[2]]);
  assert.deepEqual(withinHours(list, 48, now), list);
});

test("searchEmojis matches every word, ignoring case and accents", () => {
  const data = [
    { unicode: "😀", label: "cara sonriendo", tags: ["cara", "feliz"] },
    { unicode: "🍕", label: "pizza", tags: ["comida", "porción"] },
    { unicode: "🐱", label: "gato", tags: ["animal"] },
  ];
  assert.deepEqual(searchEmojis(data, "FELIZ cara").map((e) => e.unicode), ["😀"]);
  assert.deepEqual(searchEmojis(data, "porcion").map((e) => e.unicode), ["🍕"]);
  assert.deepEqual(searchEmojis(data, "   "), []);
  assert.equal(searchEmojis(data, "a", 2).length, 2);
});

test("insertAt puts text at the caret with a separating space", () => {
  assert.deepEqual(insertAt("Hola", 4, 4, "😀"), ["Hola 😀", 7]); // UTF-16 units, as textarea carets count
  assert.deepEqual(insertAt("", 0, 0, "😀"), ["😀", 2]);
  assert.deepEqual(insertAt("ab cd", 3, 3, "x"), ["ab xcd", 4]);
  assert.deepEqual(insertAt("abXcd", 2, 3, "Y"), ["ab Ycd", 4]);
});

test("maskNumber hides the four digits before the last four, as the CRM and the router do", () => {
  assert.equal(maskNumber("+54 9 11 1234 3456"), "+54 9 11 •••• 3456");
  assert.equal(maskNumber("+5491112343456"), "+54911••••3456");
  assert.equal(maskNumber("ana@example.com"), "ana@example.com");
  assert.equal(maskNumber("1234567"), "1234567");
  assert.equal(maskNumber(null), "");
});
