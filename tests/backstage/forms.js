// Validates answers against the templates' forms with the engine the scaffolder's form runs in
// the browser: ajv 8 configured as @rjsf/validator-ajv8 configures it (AJV_CONFIG: allErrors,
// multipleOfPrecision 8, strict off, verbose; ajv-formats added).
//
// Usage: node forms.js CASES.json   where CASES.json is [{"id": …, "schema": {…}, "answers": {…}}]
// Prints {"<id>": [error messages…]} (an empty list: the form accepts the answers).
'use strict';

const fs = require('fs');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const ajv = new Ajv({ allErrors: true, multipleOfPrecision: 8, strict: false, verbose: true });
addFormats(ajv);

const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const results = {};
for (const { id, schema, answers } of cases) {
  const validate = ajv.compile(schema);
  results[id] = validate(answers)
    ? []
    : validate.errors.map(e => `${e.instancePath || '(form)'} ${e.message}`);
}
console.log(JSON.stringify(results, null, 2));
