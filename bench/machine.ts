// The machine a benchmark ran on, for the committed results.
import { cpus, release, totalmem } from 'node:os';
import { locateEnvoy } from '../envoy/locate.ts';

export function machine() {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    envoy: locateEnvoy().version,
    date: new Date().toISOString(),
  };
}


export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
