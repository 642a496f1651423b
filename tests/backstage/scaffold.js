// Runs a software template's steps offline, the way Backstage's scaffolder runs them, up to the
// point where it would call GitHub: the step inputs are templated like NunjucksWorkflowRunner
// does (a lone `${{ expr }}` keeps its type), fetch:template renders skeletons like the action
// does (paths always, contents of `.njk` files with templateFileExtension), and the publishing
// actions write what they would push into OUT_DIR instead.
//
// The templating engine is nunjucks configured as SecureTemplater configures it: autoescape off,
// `${{ }}` variable tags, default block tags. None of the scaffolder's extra filters
// (parseRepoUrl, parseEntityRef, pick, projectSlug) are installed because the templates use
// none: a template that starts using one fails here until it is mirrored.
//
// Each action's accepted input names are checked against the action's input schema
// (plugins/scaffolder-backend/.../fetch/template.ts, catalog/register.ts,
// plugins/scaffolder-backend-module-github/.../github.ts and githubPullRequest.ts).
//
// Usage: node scaffold.js TEMPLATE.yaml ANSWERS.json OUT_DIR [REPOSITORY_URL BRANCH PROJECT_DIR]
// An absolute fetch URL under REPOSITORY_URL/tree/BRANCH/ is read from PROJECT_DIR.
// Prints a JSON report; exits 1 when a step cannot run.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const nunjucks = require('nunjucks');

const TAGS = { variableStart: '${{', variableEnd: '}}' };
const env = new nunjucks.Environment(null, { autoescape: false, tags: TAGS });

const INPUTS = {
  'fetch:template': {
    required: ['url'],
    allowed: [
      'url', 'targetPath', 'values', 'templateFileExtension', 'copyWithoutRender',
      'copyWithoutTemplating', 'cookiecutterCompat', 'replace',
    ],
  },
  'publish:github:pull-request': {
    required: ['repoUrl', 'title', 'description', 'branchName'],
    allowed: [
      'repoUrl', 'branchName', 'targetBranchName', 'title', 'description', 'draft', 'sourcePath',
      'targetPath', 'token', 'reviewers', 'teamReviewers', 'commitMessage', 'update', 'forceFork',
      'gitAuthorName', 'gitAuthorEmail',
    ],
  },
  'publish:github': {
    required: ['repoUrl'],
    allowed: [
      'repoUrl', 'description', 'homepage', 'access', 'defaultBranch', 'protectDefaultBranch',
      'protectEnforceAdmins', 'deleteBranchOnMerge', 'gitCommitMessage', 'gitAuthorName',
      'gitAuthorEmail', 'allowRebaseMerge', 'allowSquashMerge', 'squashMergeCommitTitle',
      'squashMergeCommitMessage', 'allowMergeCommit', 'allowAutoMerge', 'sourcePath',
      'bypassPullRequestAllowances', 'requiredApprovingReviewCount', 'restrictions',
      'requireCodeOwnerReviews', 'dismissStaleReviews', 'requiredStatusCheckContexts',
      'requireBranchesToBeUpToDate', 'requiredConversationResolution', 'repoVisibility',
      'collaborators', 'hasProjects', 'hasWiki', 'hasIssues', 'token', 'topics', 'repoVariables',
      'secrets', 'oidcCustomization', 'requiredCommitSigning',
    ],
  },
  'catalog:register': {
    required: [],
    allowed: ['catalogInfoUrl', 'repoContentsUrl', 'catalogInfoPath', 'optional'],
  },
};

// NunjucksWorkflowRunner.isSingleTemplateString: the whole string is one `${{ }}` expression.
function isSingleTemplateString(input) {
  const parsed = nunjucks.parser.parse(input, {}, { autoescape: false, tags: TAGS });
  return (
    parsed.children.length === 1 &&
    !(parsed.children[0].children && parsed.children[0].children[0] instanceof nunjucks.nodes.TemplateData)
  );
}

// NunjucksWorkflowRunner.render: every string of the input is a template; a lone expression is
// dumped and parsed back so it keeps its JSON type; an empty result means undefined.
function render(input, context) {
  return JSON.parse(JSON.stringify(input), (_key, value) => {
    if (typeof value !== 'string') return value;
    if (isSingleTemplateString(value)) {
      const dumped = env.renderString(value.replace(/\${{(.+)}}/g, '${{ ( $1 ) | dump }}'), context);
      return dumped === '' ? undefined : JSON.parse(dumped);
    }
    const templated = env.renderString(value, context);
    return templated === '' ? undefined : templated;
  });
}

function entries(dir, prefix = '') {
  return fs
    .readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap(e => {
      const relative = prefix ? `${prefix}/${e.name}` : e.name;
      return e.isDirectory() ? [`${relative}/`, ...entries(dir, relative)] : [relative];
    });
}

// resolveSafeChildPath: a rendered path never leaves the directory it is written to.
function safeChild(base, relative) {
  const target = path.resolve(base, relative);
  if (target !== base && !target.startsWith(base + path.sep)) {
    throw new Error(`${relative} leaves ${base}`);
  }
  return target;
}

function fetchTemplate(input, context, templateDir, workspace, repository) {
  let source;
  if (/^[a-z]+:\/\//.test(input.url)) {
    const prefix = `${repository.url}/tree/${repository.branch}/`;
    if (!repository.url || !input.url.startsWith(prefix)) {
      throw new Error(`fetch:template url ${input.url} is not in ${prefix}`);
    }
    source = path.join(repository.dir, input.url.slice(prefix.length));
  } else {
    source = safeChild(templateDir, input.url);
  }
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) {
    throw new Error(`fetch:template url ${input.url} does not resolve to a directory (${source})`);
  }
  let extension = false;
  if (input.templateFileExtension) {
    extension = input.templateFileExtension === true ? '.njk' : input.templateFileExtension;
    if (!extension.startsWith('.')) extension = `.${extension}`;
  }
  if (input.copyWithoutTemplating || input.copyWithoutRender || input.cookiecutterCompat) {
    throw new Error('fetch:template: copyWithoutTemplating, copyWithoutRender and cookiecutterCompat are not mirrored here');
  }
  const outputDir = safeChild(workspace, input.targetPath || './');
  const values = { values: input.values };
  const written = [];
  for (const location of entries(source)) {
    let renderContents;
    let local = location;
    if (extension) {
      renderContents = path.extname(local) === extension;
      if (renderContents) local = local.slice(0, -extension.length);
    } else {
      renderContents = true;
    }
    local = env.renderString(local, values);
    if (local === '' || local.startsWith('/') || local.includes('//')) continue;
    const output = safeChild(outputDir, local);
    if (fs.existsSync(output) && !input.replace) continue;
    if (location.endsWith('/')) {
      fs.mkdirSync(output, { recursive: true });
      continue;
    }
    const text = fs.readFileSync(path.join(source, location), 'utf8');
    fs.mkdirSync(path.dirname(output), { recursive: true });
    fs.writeFileSync(output, renderContents ? env.renderString(text, values) : text);
    written.push(path.relative(workspace, output));
  }
  return written;
}

function collect(workspace, sourcePath, targetPath, out) {
  const root = safeChild(workspace, sourcePath || './');
  const files = entries(root).filter(e => !e.endsWith('/'));
  for (const file of files) {
    const target = path.join(out, targetPath || '', file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(path.join(root, file), target);
  }
  return files.map(f => (targetPath ? path.posix.join(targetPath, f) : f));
}

function parseRepoUrl(repoUrl) {
  const [host, query] = repoUrl.split('?');
  const params = new URLSearchParams(query || '');
  if (host !== 'github.com' || !params.get('owner') || !params.get('repo')) {
    throw new Error(`repoUrl ${repoUrl} is not github.com?owner=OWNER&repo=NAME`);
  }
  return { owner: params.get('owner'), repo: params.get('repo') };
}

function main(templateFile, answersFile, out, repositoryUrl, branch, projectDir) {
  const template = YAML.parse(fs.readFileSync(templateFile, 'utf8'));
  const context = {
    parameters: JSON.parse(fs.readFileSync(answersFile, 'utf8')),
    steps: {},
    user: { ref: 'user:default/someone' },
  };
  const templateDir = path.dirname(path.resolve(templateFile));
  const workspace = fs.mkdtempSync(path.join(out, 'workspace-'));
  const repository = { url: repositoryUrl, branch, dir: projectDir };
  const report = { steps: [], pullRequests: [], repositories: [] };
  for (const step of template.spec.steps) {
    // NunjucksWorkflowRunner: a step whose rendered `if` is falsy (or an empty array) is skipped.
    if (step.if !== undefined) {
      const condition = render({ if: step.if }, context).if;
      if (Array.isArray(condition) ? condition.length === 0 : !condition) {
        report.steps.push({ id: step.id, action: step.action, skipped: true });
        continue;
      }
    }
    const input = render(step.input || {}, context);
    const schema = INPUTS[step.action];
    if (!schema) throw new Error(`${step.id}: action ${step.action} is not one this test knows`);
    for (const key of Object.keys(input)) {
      if (!schema.allowed.includes(key)) throw new Error(`${step.id}: ${step.action} has no input ${key}`);
    }
    for (const key of schema.required) {
      if (input[key] === undefined) throw new Error(`${step.id}: ${step.action} needs ${key}`);
    }
    let output = {};
    if (step.action === 'fetch:template') {
      output = { written: fetchTemplate(input, context, templateDir, workspace, repository) };
    } else if (step.action === 'publish:github:pull-request') {
      const { owner, repo } = parseRepoUrl(input.repoUrl);
      const dir = path.join(out, `pull-request-${report.pullRequests.length}`);
      const files = collect(workspace, input.sourcePath, input.targetPath, dir);
      report.pullRequests.push({ owner, repo, dir, files, ...input });
      output = { remoteUrl: `https://github.com/${owner}/${repo}/pull/1`, pullRequestNumber: 1 };
    } else if (step.action === 'publish:github') {
      const { owner, repo } = parseRepoUrl(input.repoUrl);
      const dir = path.join(out, `repository-${report.repositories.length}`);
      const files = collect(workspace, input.sourcePath, '', dir);
      report.repositories.push({ owner, repo, dir, files, ...input });
      const html = `https://github.com/${owner}/${repo}`;
      // A stand-in for the initial commit's id: 40 hex digits derived from what it holds.
      const hash = crypto.createHash('sha1');
      for (const file of files) hash.update(file).update(fs.readFileSync(path.join(dir, file)));
      output = {
        remoteUrl: `${html}.git`,
        repoContentsUrl: `${html}/blob/${input.defaultBranch || 'master'}`,
        commitHash: hash.digest('hex'),
      };
    } else if (step.action === 'catalog:register') {
      const published = report.repositories.find(r => input.repoContentsUrl.startsWith(`https://github.com/${r.owner}/${r.repo}/`));
      if (!published) throw new Error(`${step.id}: ${input.repoContentsUrl} was not published`);
      const file = path.join(published.dir, (input.catalogInfoPath || '/catalog-info.yaml').replace(/^\//, ''));
      if (!fs.existsSync(file)) throw new Error(`${step.id}: the repository has no ${input.catalogInfoPath}`);
      const entity = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))[0].toJS();
      const ref = `${entity.kind.toLowerCase()}:${entity.metadata.namespace || 'default'}/${entity.metadata.name}`;
      output = { entityRef: ref, catalogInfoUrl: `${input.repoContentsUrl}${input.catalogInfoPath}` };
    }
    context.steps[step.id] = { output };
    report.steps.push({ id: step.id, action: step.action, input, output });
  }
  report.output = render(template.spec.output || {}, context);
  console.log(JSON.stringify(report, null, 2));
}

try {
  main(...process.argv.slice(2));
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
