// npm run build / prepare: TypeScript → dist/, the explorer's front end bundled into one file
// (esbuild; no CDN at run time), and the CLI made executable. One script so that both npm
// scripts stay the same command.
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
await build({
  entryPoints: ['src/serve/web/app.ts'],
  bundle: true,
  format: 'esm',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  outfile: 'dist/src/serve/web/explorer.js',
});
chmodSync('dist/src/cli/main.js', 0o755);
