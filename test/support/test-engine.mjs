#!/usr/bin/env node
// A small engine for job tests: what it does comes from TASK_INPUT_CONFIG,
// per party (keyed by KUSCIA_DOMAIN_ID), so one AppImage proves every state:
//   {"default": {...}, "<domain>": {...}} with
//   lines: strings to print; exitCode: how to end; killSelf: a signal to die of;
//   holdFile: wait until this file exists before ending (a test's readiness gate);
//   markDir: write <markDir>/<domain>-<task>.started when started (proof it ran).
// It also prints what Kuscia gives a task, so tests can check it.
import { existsSync, mkdirSync, writeFileSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';

const domain = process.env.KUSCIA_DOMAIN_ID ?? '?';
const task = process.env.TASK_ID ?? '?';
const config = JSON.parse(process.env.TASK_INPUT_CONFIG || '{}');
const me = { ...(config.default ?? {}), ...(config[domain] ?? {}) };

console.log(`test-engine ${domain} ${task} started`);
console.log(`env: ${Object.keys(process.env).sort().join(',')}`);
console.log(`ports: ${process.env.ALLOCATED_PORTS ?? ''}`);
if (me.markDir) {
  mkdirSync(me.markDir, { recursive: true });
  writeFileSync(join(me.markDir, `${domain}-${task}.started`), `${process.pid}\n`);
}
for (const line of me.lines ?? []) console.log(line);

const end = () => {
  if (me.killSelf) process.kill(process.pid, me.killSelf);
  else process.exit(me.exitCode ?? 0);
};
if (me.holdFile && !existsSync(me.holdFile)) {
  mkdirSync(dirname(me.holdFile), { recursive: true });
  const w = watch(dirname(me.holdFile), () => {
    if (existsSync(me.holdFile)) { w.close(); end(); }
  });
  if (existsSync(me.holdFile)) { w.close(); end(); }
} else end();
