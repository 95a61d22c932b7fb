#!/usr/bin/env node
'use strict';

// Lints BPMN files for `gradflow processes validate` and the designer page (engine/validate.py runs it).
// stdin: {"config": <path of .bpmnlintrc>, "files": {"name.bpmn": "<xml>", ...}}
// stdout: [{"file", "id", "rule", "category", "message"}, ...]; exit 0 unless the linter itself failed.

const fs = require('node:fs');
const path = require('node:path');

const { BpmnModdle } = require('bpmn-moddle');
const Linter = require('bpmnlint/lib/linter');
const NodeResolver = require('bpmnlint/lib/resolver/node-resolver');
const { createScopedRequire } = require('bpmnlint/lib/resolver/helper');

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf-8'));
  const configPath = path.resolve(input.config);
  const config = JSON.parse(fs.readFileSync(configPath, 'utf-8'));
  const root = path.dirname(configPath);
  const resolver = new NodeResolver({ require: createScopedRequire(root) });
  const out = [];
  for (const file of Object.keys(input.files).sort()) {
    const moddle = new BpmnModdle();
    let parsed;
    try {
      parsed = await moddle.fromXML(input.files[file]);
    } catch (error) {
      out.push({ file, id: '', rule: 'parse', category: 'error', message: 'Parse error: ' + error.message.split('\n')[0] });
      continue;
    }
    for (const warning of parsed.warnings || []) {
      out.push({ file, id: (warning.element && warning.element.id) || '', rule: 'import', category: 'error',
        message: 'Import warning: ' + warning.message.split('\n')[0] });
    }
    // one linter per file: some rules (no-duplicate-sequence-flows) keep state between the nodes they see
    const linter = new Linter({ config, resolver });
    const reports = await linter.lint(parsed.rootElement);
    for (const rule of Object.keys(reports)) {
      for (const report of reports[rule]) {
        out.push({ file, id: report.id || '', rule, category: report.category, message: report.message });
      }
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch(error => {
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(2);
});
