#!/usr/bin/env node
// A small engine for job tests: what it does comes from TASK_INPUT_CONFIG,
// per party (keyed by KUSCIA_DOMAIN_ID), so one AppImage proves every state:
//   {"default": {...}, "<domain>": {...}} with
//   lines: strings to print; exitCode: how to end; killSelf: a signal to die of;
//   holdFile: wait until this file exists before ending (a test's readiness gate);
//   markDir: write <markDir>/<domain>-<task>.started when started (proof it ran);
//   serve: answer HTTP on its first allocated port ("hello from <domain> <task>");
//   callPeers: GET each other party's endpoint from TASK_CLUSTER_DEFINE (retrying
//     until it answers), print "peer <name>: <answer>" and write them to
//     <markDir>/<domain>-<task>.peers;
//   allocateMB: touch that much memory first (a memory limit's test);
//   tryRead: paths to try to read, printing "read <path>: ok" or the error code.
// It also prints what Kuscia gives a task, so tests can check it.
import { existsSync, mkdirSync, readFileSync, writeFileSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';
import { createServer, get } from 'node:http';

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
for (const path of me.tryRead ?? []) {
  try {
    readFileSync(path);
    console.log(`read ${path}: ok`);
  } catch (e) {
    console.log(`read ${path}: ${e.code}`);
  }
}
const held = [];
if (me.allocateMB) {
  for (let i = 0; i < me.allocateMB; i++) held.push(Buffer.alloc(1024 * 1024, 1));
  console.log(`allocated ${me.allocateMB} MB`);
}
if (me.serve) {
  const port = JSON.parse(process.env.ALLOCATED_PORTS).ports[0].port;
  createServer((req, res) => res.end(`hello from ${domain} ${task}`)).listen(port, '127.0.0.1', () => console.log(`serving on 127.0.0.1:${port}`)).unref();
}
if (me.callPeers) {
  const cluster = JSON.parse(process.env.TASK_CLUSTER_DEFINE);
  const ask = (endpoint) => new Promise((resolve) => {
    const req = get(`http://${endpoint}/`, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(res.statusCode === 200 ? b : undefined)); });
    req.on('error', () => resolve(undefined));
  });
  const answers = [];
  for (const [i, p] of cluster.parties.entries()) {
    if (i === cluster.selfPartyIdx) continue;
    const endpoint = p.services[0].endpoints[0];
    let answer;
    for (let t = 0; t < 600 && answer === undefined; t++) {
      answer = await ask(endpoint);
      if (answer === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`peer ${p.name} at ${endpoint}: ${answer ?? 'no answer'}`);
    answers.push(`${p.name}=${answer ?? ''}`);
  }
  if (me.markDir) writeFileSync(join(me.markDir, `${domain}-${task}.peers`), answers.join('\n'));
}

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
