// Vendor the console's chart library from the pinned npm package (uPlot, MIT) into
// services/gateway/console/vendor/, which the gateway serves: `node scripts/vendor-charts.mjs`
// (`--check` fails if the committed files differ from what the pinned package gives).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}node_modules/uplot/package.json`, "utf8"));
const FILES = { "uPlot.esm.js": "uplot.esm.js", "uPlot.min.css": "uplot.min.css" };

const check = process.argv.includes("--check");
let stale = false;
for (const [from, to] of Object.entries(FILES)) {
  const text = `${from.endsWith(".js") ? "//" : "/*"} uplot@${pkg.version} (MIT), vendored by scripts/vendor-charts.mjs${from.endsWith(".js") ? "" : " */"}\n${readFileSync(`${root}node_modules/uplot/dist/${from}`, "utf8")}`;
  const path = `${root}services/gateway/console/vendor/${to}`;
  if (check) {
    let current;
    try { current = readFileSync(path, "utf8"); } catch { current = ""; }
    if (current !== text) { console.error(`${path} differs from uplot@${pkg.version}: run node scripts/vendor-charts.mjs`); stale = true; }
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path} (${text.length} bytes)`);
  }
}
if (stale) process.exit(1);
