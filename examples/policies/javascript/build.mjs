// Build the task-router policy component.
//
//   node build.mjs [OUT.wasm] [--engine quickjs|starlingmonkey]
//
// QuickJS (componentize-qjs, the engine behind `jco componentize --backend
// quickjs`) is the default: measured on a 2-core machine its component is
// 1.6 MB against ~11 MB, and a fresh instance costs ~0.35 ms against
// ~1.4 ms for StarlingMonkey (componentize-js). The packages are resolved
// from NODE_PATH (scripts/setup.sh installs them under
// ~/.cache/switchyard/node) or from a local node_modules.
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const wit = resolve(here, "../../../wit");
const args = process.argv.slice(2);
const engineAt = args.indexOf("--engine");
const engine = engineAt >= 0 ? args.splice(engineAt, 2)[1] : "quickjs";
const out = resolve(args[0] ?? join(here, "task-router-js.wasm"));
const entry = join(here, "task-router.js");

const roots = [here, ...(process.env.NODE_PATH ?? "").split(":").filter(Boolean)];
function load(name) {
  for (const root of roots) {
    try {
      return createRequire(join(root, "noop.js"))(name);
    } catch {}
  }
  throw new Error(`${name} is not installed: run scripts/setup.sh --test (or npm install here)`);
}

let component;
if (engine === "quickjs") {
  const { componentize } = load("componentize-qjs");
  // `sync`: the non-async runtime, so hosts without component-model async run it.
  ({ component } = await componentize({
    witPath: wit,
    world: "policy-plugin",
    jsSource: await readFile(entry, "utf8"),
    jsPath: entry,
    moduleRoot: here,
    sync: process.env.QJS_SYNC !== "0",
  }));
} else if (engine === "starlingmonkey") {
  // An ES module only: import it by path from the first root that has it.
  const { existsSync } = await import("node:fs");
  const { pathToFileURL } = await import("node:url");
  const pkgDir = roots
    .flatMap((r) => [join(r, "node_modules", "@bytecodealliance/componentize-js"), join(r, "@bytecodealliance/componentize-js")])
    .find((d) => existsSync(join(d, "package.json")));
  if (!pkgDir) throw new Error("@bytecodealliance/componentize-js is not installed: run npm install here");
  const pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8"));
  const main = pkg.exports?.["."]?.import ?? pkg.exports?.["."]?.default ?? pkg.exports?.["."] ?? pkg.main;
  const { componentize } = await import(pathToFileURL(join(pkgDir, typeof main === "string" ? main : "src/componentize.js")).href);
  // It imports wasi:http by default; a policy needs none of it.
  ({ component } = await componentize({
    sourcePath: entry,
    witPath: wit,
    worldName: "policy-plugin",
    disableFeatures: ["http", "fetch-event"],
  }));
} else {
  throw new Error(`unknown engine ${engine} (quickjs or starlingmonkey)`);
}
await writeFile(out, component);
console.log(`built ${out} (${engine}, ${component.length} bytes)`);
