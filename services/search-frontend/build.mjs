// Build the search front end into one folder nginx serves as is: index.html, app.js, app.css.
//   npm run build                 -> dist/
//   npm run build -- --outdir DIR -> DIR/ (gameday's install step: gameday/sandbox/frontend_build.py)
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const at = process.argv.indexOf("--outdir");
const outdir = at > 0 && process.argv[at + 1] ? process.argv[at + 1] : "dist";
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { app: "src/main.jsx" },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  outdir,
  logLevel: "warning",
});
copyFileSync("src/index.html", join(outdir, "index.html"));
copyFileSync("src/app.css", join(outdir, "app.css"));
