/**
 * What the benchmark scripts share: the repository root, medians, the machine line of
 * the report, progress on stderr.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Benchmark inputs and generated stores (git-ignored). */
export const BENCH = path.join(ROOT, '.bench');

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const log = (msg) => process.stderr.write(`${msg}\n`);

/** CPU model, cores, RAM, OS and Node version, for the report. */
export function machine() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, `
    + `${os.type()} ${os.release()}, Node ${process.version}`;
}
