// Vendor the console's emoji data from the pinned npm package (emojibase-data, MIT) into
// services/gateway/console/vendor/, which the gateway serves: `node scripts/vendor-console.mjs`
// (`--check` fails if the committed files differ from what the pinned package gives).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}node_modules/emojibase-data/package.json`, "utf8"));

// Per language: the groups (skin-tone components left out) and each emoji as [unicode, label, group, tags].
export function build(lang) {
  const data = JSON.parse(readFileSync(`${root}node_modules/emojibase-data/${lang}/compact.json`, "utf8"));
  const messages = JSON.parse(readFileSync(`${root}node_modules/emojibase-data/${lang}/messages.json`, "utf8"));
  const groups = messages.groups.filter((g) => g.key !== "component").map((g) => ({ id: g.order, name: g.message }));
  const known = new Set(groups.map((g) => g.id));
  const emojis = data.filter((e) => known.has(e.group)).sort((a, b) => a.order - b.order)
    .map((e) => [e.unicode, e.label, e.group, (e.tags || []).join(" ")]);
  return { source: `emojibase-data@${pkg.version}`, license: "MIT", lang, groups, emojis };
}

const check = process.argv.includes("--check");
let stale = false;
for (const lang of ["es", "en"]) {
  const path = `${root}services/gateway/console/vendor/emoji-${lang}.json`;
  const text = `${JSON.stringify(build(lang))}\n`;
  if (check) {
    let current;
    try { current = readFileSync(path, "utf8"); } catch { current = ""; }
    if (current !== text) { console.error(`${path} differs from emojibase-data@${pkg.version}: run node scripts/vendor-console.mjs`); stale = true; }
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path} (${text.length} bytes)`);
  }
}
if (stale) process.exit(1);
