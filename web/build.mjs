// Builds the console into one directory: index.html, app.js and app.css, each also
// gzip-compressed (wicketd serves the .gz to browsers that accept it). crates/server/build.rs
// runs this with WICKET_CONSOLE_OUT set to a directory under Cargo's OUT_DIR; by hand,
// `npm run build` writes dist/.
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync, constants } from "node:zlib";
import { join } from "node:path";

const out = process.env.WICKET_CONSOLE_OUT || "dist";
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: { app: "src/main.ts", style: "src/app.css" },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  outdir: out,
  legalComments: "none",
  logLevel: "warning",
});

writeFileSync(join(out, "index.html"), readFileSync("src/index.html"));
for (const name of ["index.html", "app.js", "style.css"]) {
  const body = readFileSync(join(out, name));
  writeFileSync(join(out, name + ".gz"), gzipSync(body, { level: constants.Z_BEST_COMPRESSION }));
}
