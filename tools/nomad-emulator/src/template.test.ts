import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderNomadVarTemplate, TemplateFailure, templateMode, type TemplateContext } from './template.js';
import { call, job, lastDataDir, runningAllocs, start, until, type Any } from './test-support.js';

const node = process.execPath;

function context(vars: Record<string, Record<string, string>>): TemplateContext {
  return {
    namespace: 'default',
    region: 'global',
    jobId: 'web',
    group: 'g',
    task: 't',
    read: (namespace, path) => vars[`${namespace}:${path}`],
  };
}

function failure(run: () => unknown): TemplateFailure {
  try {
    run();
  } catch (error) {
    if (error instanceof TemplateFailure) return error;
    throw error;
  }
  throw new Error('rendered; expected a TemplateFailure');
}

describe('nomadVar templates (the rendered subset)', () => {
  const vars = {
    'default:nomad/jobs/web': { user: 'u', 'db-pass': 'p w' },
    'default:nomad/jobs/web/g': { g: 'G' },
    'default:nomad/jobs/web/g/t': { t: 'T' },
    'default:nomad/jobs': { all: 'A' },
    'default:nomad/jobs/other': { x: 'X' },
    'prod:nomad/jobs/web': { p: 'P' },
  };

  it('renders text and .key / index . "key" from the variable, with Go whitespace trimming', () => {
    const ctx = context(vars);
    expect(renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web" }}USER={{ .user }}\nPASS={{ index . "db-pass" }}{{ end }}', ctx)).toBe(
      'USER=u\nPASS=p w',
    );
    expect(renderNomadVarTemplate('# head\n{{- with nomadVar `nomad/jobs/web/g` -}}\n  {{.g}}\n{{- end }}\ntail', ctx)).toBe(
      '# headG\ntail',
    );
    expect(
      renderNomadVarTemplate('{{with nomadVar "nomad/jobs/web/g/t"}}{{.t}}{{end}}{{ with nomadVar "nomad/jobs" }}{{ .all }}{{ end }}', ctx),
    ).toBe('TA');
    expect(renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web@default.global" }}{{ .user }}{{ end }}', ctx)).toBe('u');
  });

  it("refuses other jobs' paths, other namespaces, missing variables and keys, and other template forms", () => {
    const ctx = context(vars);
    expect(failure(() => renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/other" }}{{ .x }}{{ end }}', ctx)).message).toBe(
      'nomad.var.block(nomad/jobs/other@default.global): Unexpected response code: 403 (Permission denied)',
    );
    expect(failure(() => renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web@prod" }}{{ .p }}{{ end }}', ctx)).message).toContain(
      '403 (Permission denied)',
    );
    expect(failure(() => renderNomadVarTemplate('{{ with nomadVar "app/x" }}{{ .x }}{{ end }}', ctx)).message).toContain('403');
    expect(failure(() => renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web/g2" }}{{ .x }}{{ end }}', ctx)).message).toContain('403');
    const missing = failure(() => renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web/g" }}{{ .g }}{{ end }}', context({})));
    expect([missing.message, missing.missing]).toEqual([
      'nomad.var.block(nomad/jobs/web/g@default.global): variable not found',
      'nomad.var.block(nomad/jobs/web/g@default.global)',
    ]);
    expect(failure(() => renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web" }}{{ .nope }}{{ end }}', ctx)).message).toBe(
      'map has no entry for key "nope"',
    );
    for (const form of [
      '{{ with nomadVar "nomad/jobs/web" }}{{ .user | toUpper }}{{ end }}',
      '{{ with nomadVar "nomad/jobs/web" }}{{ range $k, $v := . }}{{ $k }}{{ end }}{{ end }}',
      '{{ with nomadVar "nomad/jobs/web" }}{{ with nomadVar "nomad/jobs/web" }}{{ end }}{{ end }}',
      '{{ .user }}{{ with nomadVar "nomad/jobs/web" }}{{ end }}',
      '{{ end }}nomadVar',
      '{{ range nomadVarList "nomad" }}{{ .Path }}{{ end }}',
    ])
      expect(failure(() => renderNomadVarTemplate(form, ctx)).message, form).toMatch(/is outside what the emulator renders/u);
    expect(failure(() => renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web" }}{{ .user }}', ctx)).message).toMatch(/without its/u);
    expect(failure(() => renderNomadVarTemplate('{{ with nomadVar "nomad/jobs/web" }', ctx)).message).toMatch(/unclosed/u);
  });

  it('reads Perms as octal, 0644 by default', () => {
    expect(templateMode(undefined)).toBe(0o644);
    expect(templateMode('0600')).toBe(0o600);
    expect(templateMode('755')).toBe(0o755);
    expect(failure(() => templateMode('rw-')).message).toBe('Failed to parse "rw-" as octal');
  });
});

describe('nomadVar templates in tasks', () => {
  const script = [
    "const fs=require('fs');",
    "fs.writeFileSync('local/seen.json',JSON.stringify({value:fs.readFileSync('secrets/value','utf8'),env:process.env.DB_PASS}));",
    'setInterval(()=>{},1000)',
  ].join('');

  function templateJob(id: string, tmpl: string, extra: Any = {}) {
    return job(id, [
      {
        Name: 'g',
        Count: 1,
        RestartPolicy: { Attempts: 0, Mode: 'fail' },
        ReschedulePolicy: { Attempts: 0, Unlimited: false },
        Tasks: [
          {
            Name: 't',
            Driver: 'raw_exec',
            Config: { command: node, args: ['-e', script] },
            Templates: [
              { EmbeddedTmpl: tmpl, DestPath: 'secrets/value', Perms: '0600', ...extra },
              {
                EmbeddedTmpl: '{{ with nomadVar "nomad/jobs/' + id + '" }}DB_PASS={{ .pass }}{{ end }}',
                DestPath: 'secrets/env',
                Envvars: true,
              },
              { EmbeddedTmpl: 'plain {{ .NotRendered }}', DestPath: 'local/plain' },
            ],
          },
        ],
      },
    ]);
  }

  it('renders the variable into the task dir at start (0600 as Perms asks) and again at a restart', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/var/nomad/jobs/tpl', { Items: { pass: 'one' } });
    await call(e, 'PUT', '/v1/jobs', { Job: templateJob('tpl', '{{ with nomadVar "nomad/jobs/tpl" }}pass={{ .pass }}{{ end }}') });
    const [alloc] = await runningAllocs(e, 'tpl', 1);
    const taskDir = join(lastDataDir(), 'allocs', alloc!.ID, 't');
    const seen = () =>
      until('the task to write seen.json', async () => {
        try {
          return JSON.parse(readFileSync(join(taskDir, 'local', 'seen.json'), 'utf8')) as Any;
        } catch {
          return undefined;
        }
      });
    expect(await seen()).toEqual({ value: 'pass=one', env: 'one' });
    expect(statSync(join(taskDir, 'secrets', 'value')).mode & 0o777).toBe(0o600);
    expect(statSync(join(taskDir, 'local', 'plain')).mode & 0o777).toBe(0o644);
    // A template without nomadVar is still written as it is.
    expect(readFileSync(join(taskDir, 'local', 'plain'), 'utf8')).toBe('plain {{ .NotRendered }}');

    await call(e, 'PUT', '/v1/var/nomad/jobs/tpl', { Items: { pass: 'two' } });
    await call(e, 'PUT', `/v1/client/allocation/${alloc!.ID}/restart`, {});
    await until('the restarted task to see the new value', async () => ((await seen()).value === 'pass=two' ? true : undefined));
    expect(await seen()).toEqual({ value: 'pass=two', env: 'two' });
  });

  it('fails the task when the variable is missing or not its own, as Nomad fails a template that cannot render', async () => {
    const e = await start();
    await call(e, 'PUT', '/v1/var/nomad/jobs/other', { Items: { pass: 'x' } });
    for (const [id, tmpl, events, message] of [
      [
        'missing',
        '{{ with nomadVar "nomad/jobs/missing" }}{{ .pass }}{{ end }}',
        ['Received', 'Task Setup', 'Template', 'Killing'],
        'Template failed: secrets/value: nomad.var.block(nomad/jobs/missing@default.global): variable not found',
      ],
      [
        'foreign',
        '{{ with nomadVar "nomad/jobs/other" }}{{ .pass }}{{ end }}',
        ['Received', 'Task Setup', 'Killing'],
        'Template failed: secrets/value: nomad.var.block(nomad/jobs/other@default.global): ' +
          'Unexpected response code: 403 (Permission denied)',
      ],
    ] as const) {
      await call(e, 'PUT', '/v1/jobs', { Job: templateJob(id, tmpl) });
      const alloc = await until(`${id} to fail`, async () => {
        const [a] = (await call(e, 'GET', `/v1/job/${id}/allocations`)).json as Any[];
        return a?.ClientStatus === 'failed' ? (a as Any) : undefined;
      });
      const state = alloc.TaskStates.t;
      expect([state.State, state.Failed]).toEqual(['dead', true]);
      expect(state.Events.map((ev: Any) => ev.Type)).toEqual(events);
      expect(state.Events.at(-1)).toMatchObject({ DisplayMessage: message, FailsTask: true });
      if (id === 'missing') expect(state.Events[2].DisplayMessage).toBe('Missing: nomad.var.block(nomad/jobs/missing@default.global)');
    }
  });

  it('interpolates node attributes in command, args and env', async () => {
    const e = await start({ region: 'r1', datacenters: ['dc7'], node: { name: 'node-a' } });
    const spec = job(
      'nodevars',
      [
        {
          Name: 'g',
          Count: 1,
          Tasks: [
            {
              Name: 't',
              Driver: 'raw_exec',
              // The command itself names the datacenter: the template writes an executable script by that name.
              Config: {
                command: '${NOMAD_TASK_DIR}/run-${node.datacenter}.sh',
                args: ['${attr.unique.network.ip-address}', '${node.unique.name}', '${node.datacenter}', '${node.region}'],
              },
              Env: { WHERE: '${node.unique.name}@${attr.unique.network.ip-address}/${node.region}' },
              Templates: [
                {
                  EmbeddedTmpl: '#!/bin/sh\necho "$* $WHERE" > "$NOMAD_TASK_DIR/out"\nexec sleep 300\n',
                  DestPath: 'local/run-dc7.sh',
                  Perms: '0755',
                },
              ],
            },
          ],
        },
      ],
      { Datacenters: ['dc7'] },
    );
    await call(e, 'PUT', '/v1/jobs', { Job: spec });
    const [alloc] = await runningAllocs(e, 'nodevars', 1);
    const out = join(lastDataDir(), 'allocs', alloc!.ID, 't', 'local', 'out');
    const text = await until('the script output', async () => {
      try {
        const content = readFileSync(out, 'utf8');
        return content.endsWith('\n') ? content : undefined;
      } catch {
        return undefined;
      }
    });
    expect(text).toBe('127.0.0.1 node-a dc7 r1 node-a@127.0.0.1/r1\n');
  });
});
