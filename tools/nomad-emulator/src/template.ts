/**
 * The subset of Nomad's (consul-template's) Go templates the emulator renders: literal text and blocks
 * `{{ with nomadVar "<path>" }}…{{ end }}` whose bodies hold literal text, `{{ .key }}` and `{{ index . "key" }}`,
 * with Go's `{{-`/`-}}` whitespace trimming. Anything else in a template that uses `nomadVar` is refused, so that a
 * test never passes on a template real Nomad would render differently.
 */

/** Why a template cannot be rendered; `missing` names the dependency Nomad would report as missing. */
export class TemplateFailure extends Error {
  constructor(
    message: string,
    readonly missing?: string,
  ) {
    super(message);
  }
}

export interface TemplateContext {
  readonly namespace: string;
  readonly region: string;
  readonly jobId: string;
  readonly group: string;
  readonly task: string;
  /** The variable's items, or undefined when there is none at that path. */
  readonly read: (namespace: string, path: string) => Readonly<Record<string, string>> | null | undefined;
}

export function usesNomadVar(template: string): boolean {
  return template.includes('nomadVar');
}

type Token = { kind: 'text'; text: string } | { kind: 'action'; body: string; trimLeft: boolean; trimRight: boolean };

// Go's text/template trims these around `{{- ` and ` -}}`.
const LEADING_SPACE = /^[ \t\r\n]+/u;
const TRAILING_SPACE = /[ \t\r\n]+$/u;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    if (open < 0) {
      tokens.push({ kind: 'text', text: source.slice(at) });
      break;
    }
    tokens.push({ kind: 'text', text: source.slice(at, open) });
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateFailure('unclosed action (no "}}")');
    let body = source.slice(open + 2, close);
    const trimLeft = /^-[ \t\r\n]/u.test(body);
    if (trimLeft) body = body.slice(1);
    const trimRight = /[ \t\r\n]-$/u.test(body);
    if (trimRight) body = body.slice(0, -1);
    tokens.push({ kind: 'action', body: body.trim(), trimLeft, trimRight });
    at = close + 2;
  }
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind !== 'action') continue;
    const before = tokens[i - 1];
    const after = tokens[i + 1];
    if (token.trimLeft && before?.kind === 'text') before.text = before.text.replace(TRAILING_SPACE, '');
    if (token.trimRight && after?.kind === 'text') after.text = after.text.replace(LEADING_SPACE, '');
  }
  return tokens;
}

const WITH = /^with\s+nomadVar\s+(?:"([^"\\]*)"|`([^`]*)`)$/u;
const FIELD = /^\.([A-Za-z_][A-Za-z0-9_]*)$/u;
const INDEX = /^index\s+\.\s+(?:"([^"\\]*)"|`([^`]*)`)$/u;

/**
 * The variable's items for a task, under the implicit workload policy: only `nomad/jobs`, `nomad/jobs/<job>`,
 * `…/<group>` and `…/<group>/<task>` in the job's own namespace. `spec` is nomadVar's argument,
 * `<path>[@<namespace>[.<region>]]`.
 */
function lookup(spec: string, ctx: TemplateContext): Readonly<Record<string, string>> {
  const at = spec.indexOf('@');
  const path = at < 0 ? spec : spec.slice(0, at);
  const qualifier = at < 0 ? '' : spec.slice(at + 1);
  const dot = qualifier.indexOf('.');
  const namespace = qualifier === '' ? ctx.namespace : dot < 0 ? qualifier : qualifier.slice(0, dot);
  const region = dot < 0 ? ctx.region : qualifier.slice(dot + 1);
  const dependency = `nomad.var.block(${path}@${namespace}.${region})`;
  if (region !== ctx.region) throw new TemplateFailure(`${dependency}: No path to region`);
  const own = `nomad/jobs/${ctx.jobId}`;
  const allowed = ['nomad/jobs', own, `${own}/${ctx.group}`, `${own}/${ctx.group}/${ctx.task}`];
  if (namespace !== ctx.namespace || !allowed.includes(path))
    throw new TemplateFailure(`${dependency}: Unexpected response code: 403 (Permission denied)`);
  const items = ctx.read(namespace, path);
  if (!items) throw new TemplateFailure(`${dependency}: variable not found`, dependency);
  return items;
}

export function renderNomadVarTemplate(source: string, ctx: TemplateContext): string {
  let out = '';
  let items: Readonly<Record<string, string>> | undefined;
  const unsupported = (body: string) =>
    new TemplateFailure(
      `{{ ${body} }} is outside what the emulator renders: ` +
        '{{ with nomadVar "<path>" }} blocks holding text, {{ .key }} and {{ index . "key" }}',
    );
  const value = (name: string) => {
    if (!items || !Object.hasOwn(items, name)) throw new TemplateFailure(`map has no entry for key ${JSON.stringify(name)}`);
    return items[name]!;
  };
  for (const token of tokenize(source)) {
    if (token.kind === 'text') {
      out += token.text;
      continue;
    }
    const body = token.body;
    const opening = WITH.exec(body);
    if (opening) {
      if (items) throw unsupported(body);
      items = lookup(opening[1] ?? opening[2]!, ctx);
      continue;
    }
    if (!items) throw unsupported(body);
    if (body === 'end') {
      items = undefined;
      continue;
    }
    const field = FIELD.exec(body) ?? INDEX.exec(body);
    if (!field) throw unsupported(body);
    out += value(field[1] ?? field[2]!);
  }
  if (items) throw new TemplateFailure('unexpected EOF: a {{ with }} without its {{ end }}');
  return out;
}

/** Template `Perms` (octal text, Nomad's default "0644") as a file mode. */
export function templateMode(perms: unknown): number {
  if (perms === undefined || perms === null || perms === '') return 0o644;
  if (typeof perms !== 'string' || !/^[0-7]{1,4}$/u.test(perms))
    throw new TemplateFailure(`Failed to parse ${JSON.stringify(perms)} as octal`);
  return parseInt(perms, 8);
}
