// Runs the UI's unit tests (test/*.test.ts) in Node: esbuild bundles each
// into a temporary directory, then node --test runs them.
import * as esbuild from 'esbuild';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const here = dirname(fileURLToPath(import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'weft-ui-test-'));
try {
  const tests = readdirSync(join(here, 'test')).filter((f) => f.endsWith('.test.ts'));
  await esbuild.build({
    absWorkingDir: here,
    entryPoints: tests.map((f) => join('test', f)),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'warning',
  });
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=dot', ...tests.map((f) => join(out, f.replace(/\.ts$/, '.mjs')))], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
