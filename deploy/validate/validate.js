#!/usr/bin/env node
// Validates CloudFormation and SAM templates with AWS's offline validator,
// @aws/cloudformation-validate: the CloudFormation registry's resource
// provider schemas (unknown properties, wrong types, bad enum values) and
// cfn-lint's rules (references to missing resources or parameters, GetAtt
// attributes, conditions), compiled to WebAssembly, no network.
//
//   npm ci --prefix deploy/validate
//   node deploy/validate/validate.js [--json] TEMPLATE...
//
// Prints each finding of severity WARN or above (the INFO notes, such as
// "create-only property", are left out) and exits 1 if there is any, or if
// a template could not be analysed whole. --json prints one JSON document
// instead: [{"file", "status", "diagnostics": [...]}], every severity.
"use strict";

const { CelEngine, TemplateFile, version } = require("@aws/cloudformation-validate");

const failing = new Set(["WARN", "ERROR", "FATAL"]);

// Findings that are known false positives for these templates, each with
// why. They are reported (--json: "ignored": true) but fail nothing.
const ignored = [
  {
    ruleId: "W9002", resource: "ConsumerTrigger", path: "Properties.EventSourceArn",
    why: "the ARN is !Ref ClusterArn, a parameter whose default is the cluster the template was generated for; the linter resolves the default and reads it as hard-coded",
  },
];
const isIgnored = (d) => ignored.some((i) => i.ruleId === d.ruleId && i.resource === d.resource && i.path === d.path);
const args = process.argv.slice(2);
const asJSON = args[0] === "--json";
const files = asJSON ? args.slice(1) : args;
if (files.length === 0) {
  console.error("usage: node validate.js [--json] TEMPLATE...");
  process.exit(2);
}

// CelEngine and RegoEngine give the same diagnostics; CEL starts in a tenth of the time.
const engine = new CelEngine();
const reports = [];
let bad = false;
try {
  for (const file of files) {
    const r = engine.validateStandard(new TemplateFile(file), {});
    const diagnostics = r.diagnostics.map((d) => ({
      ruleId: d.ruleId,
      severity: d.severity,
      message: d.message,
      resource: d.entity ? d.entity.logicalId : undefined,
      path: d.propertyPath,
      line: d.startLine,
    }));
    for (const d of diagnostics) {
      d.ignored = isIgnored(d);
    }
    const shown = diagnostics.filter((d) => failing.has(d.severity) && !d.ignored);
    if (r.status !== "OK" || shown.length > 0) {
      bad = true;
    }
    reports.push({ file, status: r.status, diagnostics });
    if (!asJSON) {
      for (const d of shown) {
        console.log(`${file}:${d.line || 0}: ${d.severity} ${d.ruleId} ${d.resource || ""} ${d.path || ""}: ${d.message}`);
      }
      if (r.status !== "OK") {
        console.log(`${file}: analysis ${r.status}`);
      }
    }
  }
} finally {
  engine.free();
}
if (asJSON) {
  console.log(JSON.stringify({ validator: "@aws/cloudformation-validate " + version(), reports }));
} else {
  console.log(`${files.length} template(s) checked with @aws/cloudformation-validate ${version()}: ${bad ? "problems found" : "OK"}`);
}
// exitCode, not exit(): stdout to a pipe is written asynchronously, and
// exit() would cut a --json report longer than the pipe's buffer (64 KiB).
process.exitCode = bad ? 1 : 0;
