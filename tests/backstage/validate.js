// Validates catalog files with Backstage's own code: the catalog's default entity policies, the
// kind validators of @backstage/catalog-model and the scaffolder's Template validator
// (@backstage/plugin-scaffolder-common), then checks that every reference between the
// entities (owner, system, domain, dependsOn, Location targets) resolves inside the catalog.
// Usage: node validate.js CATALOG_DIR. Prints a JSON summary; exits 1 on any problem.
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const model = require('@backstage/catalog-model');
const { templateEntityV1beta3Validator } = require('@backstage/plugin-scaffolder-common');

const policy = model.EntityPolicies.allOf([
  new model.SchemaValidEntityPolicy(),
  new model.DefaultNamespaceEntityPolicy(),
  new model.NoForeignRootFieldsEntityPolicy(),
  new model.FieldFormatEntityPolicy(),
]);
const validators = [
  model.groupEntityV1alpha1Validator,
  model.systemEntityV1alpha1Validator,
  model.domainEntityV1alpha1Validator,
  model.componentEntityV1alpha1Validator,
  model.resourceEntityV1alpha1Validator,
  model.locationEntityV1alpha1Validator,
  templateEntityV1beta3Validator,
];

function files(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap(e => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .filter(f => f.endsWith('.yaml'))
    .sort();
}

async function main(dir) {
  const problems = [];
  const entities = [];
  const byFile = {};
  for (const file of files(dir)) {
    const relative = path.relative(dir, file);
    byFile[relative] = 0;
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      if (doc.errors.length) {
        problems.push(`${relative}: ${doc.errors[0].message}`);
        continue;
      }
      const raw = doc.toJS();
      try {
        const entity = await policy.enforce(raw);
        const accepted = [];
        for (const validator of validators) {
          if (await validator.check(entity)) accepted.push(validator);
        }
        if (accepted.length !== 1) throw new Error(`${accepted.length} kind validators accept it`);
        entities.push({ file: relative, entity });
        byFile[relative] += 1;
      } catch (error) {
        const name = raw && raw.metadata ? raw.metadata.name : '?';
        problems.push(`${relative}: ${raw && raw.kind} ${name}: ${error.message}`);
      }
    }
  }
  const refs = new Set(entities.map(({ entity }) => model.stringifyEntityRef(entity)));
  for (const { file, entity } of entities) {
    const spec = entity.spec || {};
    const targets = [
      ...(spec.owner ? [[spec.owner, 'group']] : []),
      ...(spec.system ? [[spec.system, 'system']] : []),
      ...(spec.domain ? [[spec.domain, 'domain']] : []),
      ...(spec.dependsOn || []).map(ref => [ref, 'component']),
    ];
    for (const [ref, defaultKind] of targets) {
      const target = model.stringifyEntityRef(model.parseEntityRef(ref, { defaultKind }));
      if (!refs.has(target)) problems.push(`${file}: ${entity.metadata.name}: ${ref} not in catalog`);
    }
    for (const target of spec.targets || []) {
      if (!fs.existsSync(path.join(dir, path.dirname(file), target))) {
        problems.push(`${file}: ${entity.metadata.name}: target ${target} does not exist`);
      }
    }
  }
  const kinds = {};
  for (const { entity } of entities) kinds[entity.kind] = (kinds[entity.kind] || 0) + 1;
  console.log(JSON.stringify({ kinds, files: byFile, problems }, null, 2));
  return problems.length ? 1 : 0;
}

main(process.argv[2]).then(
  code => process.exit(code),
  error => {
    console.error(error);
    process.exit(2);
  },
);
