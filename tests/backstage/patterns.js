// Checks values against JSON Schema string fields with ECMA regular expressions as ajv runs them
// (`new RegExp(pattern, 'u')`): `pattern`, and `pattern` / `not.pattern` under `allOf`.
// Usage: node patterns.js CHECKS.json, where CHECKS is [{schema, value}]; prints [true|false].
'use strict';

const fs = require('fs');

function matches(schema, value) {
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) return false;
  for (const sub of schema.allOf || []) {
    if (!matches(sub, value)) return false;
  }
  if (schema.not && matches(schema.not, value)) return false;
  if (schema.maxLength !== undefined && [...value].length > schema.maxLength) return false;
  if (schema.minLength !== undefined && [...value].length < schema.minLength) return false;
  return true;
}

const checks = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
console.log(JSON.stringify(checks.map(({ schema, value }) => matches(schema, value))));
