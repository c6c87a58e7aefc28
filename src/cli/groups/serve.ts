/**
 * The server group (lape serve, lape explore): where to listen, the API key, the batcher's limits,
 * and the one function both commands end in: load what was asked for, serve until SIGTERM/SIGINT.
 */
import { basename, resolve } from 'node:path';
import { LapeError, usageError } from '../../errors.js';
import { ContinuousBatcher } from '../../runtime/continuous-batch.js';
import type { Model } from '../../runtime/model.js';
import { explorerRoutes, explorerPage } from '../../serve/explorer-routes.js';
import { RequestSteering } from '../../serve/request-steering.js';
import { startServer, type Engine, type RunningServer } from '../../serve/server.js';
import { loadMasks } from '../../select/masks-io.js';
import { checkMasksFit } from '../../select/masks.js';
import type { NeuronMasks } from '../../select/types.js';
import { loadStatsSet } from '../../stats/stats-file.js';
import type { LangStats } from '../../stats/types.js';
import { loadChatTemplate } from '../../tokenizer/chat-template.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import type { CommandContext } from '../command.js';
import { group, opt, variant } from '../options/option.js';
import { MASKS } from './common.js';
import { STEER_STATS } from './steering.js';
import { ExplorerData } from '../../serve/explorer-data.js';

export const HOST = opt.string('host', { default: '127.0.0.1', help: 'address to listen on (anything but loopback needs --api-key)' });
export const PORT = opt.int('port', { min: 0, default: 8000, check: (p) => (p <= 65535 ? null : 'must be ≤ 65535'), help: 'TCP port (0 = any free port; the URL is printed)' });
export const API_KEY = opt.string('api-key', {
  help: 'require "Authorization: Bearer KEY" on every request (or set LAPE_API_KEY, which keeps it out of the process list)',
});
export const MAX_BATCH = opt.int('max-batch', { min: 1, default: 8, help: 'most sequences decoded together' });
export const MAX_QUEUE = opt.int('max-queue', { min: 0, default: 64, help: 'most waiting requests (beyond: HTTP 429)' });
export const MAX_TOKENS = opt.int('max-tokens', { min: 1, default: 512, help: 'most new tokens one request may ask for (max_tokens)' });
export const SERVED_NAME = opt.string('served-name', { help: 'the model id in the API', defaultText: "the checkpoint folder's name" });
export const NO_CONTINUOUS = opt.bool('no-continuous', { help: 'a batch runs to its end before waiting requests start (to measure continuous batching)' });
export const GRACE = opt.float('grace', { default: 30, check: (s) => (s >= 0 ? null : 'must be ≥ 0'), help: 'seconds a shutdown waits for requests in flight before cancelling them' });
export const RESULTS = opt.path('results', { metavar: 'DIR', io: { role: 'in' }, help: 'an output folder to explore at / (its masks and stats steer, unless --masks/--stats are given)' });

export const SERVER_GROUP = group('Server', HOST, PORT, API_KEY, MAX_BATCH, MAX_QUEUE, MAX_TOKENS, SERVED_NAME, NO_CONTINUOUS, GRACE);

const SERVE_MASKS = variant(MASKS, { help: 'language-specific neurons requests may activate/deactivate' });
const SERVE_STATS = variant(STEER_STATS, { help: 'activation statistics (mean activations) for activation: a folder of LANG.safetensors, or files' });
const STEERING_TITLE = 'Steering (the request\'s "lape" object)';

/** serve: masks and statistics for the `lape` request object (both optional). */
export const SERVE_STEERING_GROUP = group(STEERING_TITLE, SERVE_MASKS, SERVE_STATS);

/** explore: the same, only with --model (the playground). */
export const EXPLORE_STEERING_GROUP = group(
  STEERING_TITLE,
  variant(SERVE_MASKS, { appliesWhen: { option: 'model' } }),
  variant(SERVE_STATS, { appliesWhen: { option: 'model' } }),
);

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The API key (flag, else LAPE_API_KEY), checked against --host; call before loading anything. */
export function serverKey(ctx: CommandContext): string | undefined {
  const key = ctx.get(API_KEY) ?? (process.env.LAPE_API_KEY || undefined);
  if (key !== undefined && key.length < 8) throw usageError('--api-key must be at least 8 characters');
  const host = ctx.get(HOST);
  if (!LOOPBACK.test(host) && key === undefined) {
    throw usageError(`--host ${host} makes the server reachable from other machines: give --api-key (or LAPE_API_KEY) too`);
  }
  return key;
}

/** Masks and statistics for steering: the flags, else the explored folder's. */
function steeringInputs(ctx: CommandContext, model: Model, explorer: ExplorerData | null): { masks: NeuronMasks | null; stats: LangStats[] } {
  const masksPath = ctx.get(MASKS);
  let masks: NeuronMasks | null = null;
  if (masksPath) {
    masks = loadMasks(masksPath);
    checkMasksFit(masks, model.spec.numLayers, model.spec.intermediateSize, masksPath);
  } else if (explorer) {
    const m = explorer.mainMasks();
    if (m && m.layers === model.spec.numLayers && m.neurons === model.spec.intermediateSize) masks = m;
  }
  const statsPaths = ctx.get(STEER_STATS);
  const stats = statsPaths.length ? loadStatsSet(statsPaths) : masks && !masksPath && explorer ? explorer.stats() ?? [] : [];
  for (const s of stats) {
    if (s.layers !== model.spec.numLayers || s.neurons !== model.spec.intermediateSize) {
      throw new LapeError(`statistics for "${s.lang}" are for ${s.layers} layers × ${s.neurons} neurons, the model has ${model.spec.numLayers} × ${model.spec.intermediateSize}`);
    }
  }
  return { masks, stats };
}

/** Serves until SIGTERM/SIGINT (or `started.close()`); returns the command's summary. */
export async function serve(
  ctx: CommandContext,
  opts: { model: Model | null; resultsDir: string | undefined; key: string | undefined; onStarted?: (s: RunningServer) => void },
): Promise<Record<string, unknown>> {
  const key = opts.key;
  const explorer = opts.resultsDir ? new ExplorerData(resolve(opts.resultsDir)) : null;
  explorer?.check();
  let engine: Engine | null = null;
  const m = opts.model;
  if (m) {
    const tokenizer = loadTokenizer(m.dir);
    const { masks, stats } = steeringInputs(ctx, m, explorer);
    const decode = (ids: number[]): string => tokenizer.decode(ids, { skipSpecialTokens: true });
    engine = {
      model: m,
      tokenizer,
      chat: loadChatTemplate(m.dir, tokenizer),
      steering: new RequestSteering({ masks, stats, layers: m.spec.numLayers, neurons: m.spec.intermediateSize }),
      id: ctx.get(SERVED_NAME) ?? basename(resolve(m.dir)).replace(/\.gguf$/i, ''),
      batcher: new ContinuousBatcher(m, { maxBatch: ctx.get(MAX_BATCH), maxQueue: ctx.get(MAX_QUEUE), continuous: !ctx.get(NO_CONTINUOUS), decode }),
      maxTokens: ctx.get(MAX_TOKENS),
    };
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const server = await startServer({
    engine,
    host: ctx.get(HOST),
    port: ctx.get(PORT),
    ...(key !== undefined ? { apiKey: key } : {}),
    publicRoutes: explorerPage(),
    routes: explorerRoutes(explorer, engine),
    graceMs: ctx.get(GRACE) * 1000,
    log,
  });
  const onSignal = (sig: string): void => {
    if (!ctx.quiet) log(`lape: ${sig}`);
    void server.close();
  };
  const term = (): void => onSignal('SIGTERM');
  const int = (): void => onSignal('SIGINT');
  process.on('SIGTERM', term);
  process.on('SIGINT', int);
  // Tests and scripts read this line for the URL (with --port 0).
  log(`lape serve: listening on ${server.url}${engine ? ` (model ${engine.id}; OpenAI API at ${server.url}/v1)` : ''}${explorer ? `; explorer at ${server.url}/` : ''}`);
  opts.onStarted?.(server);
  await server.closed;
  process.off('SIGTERM', term);
  process.off('SIGINT', int);
  return { url: server.url, model: engine?.id ?? null, results: opts.resultsDir ?? null, ...(engine ? engine.batcher.stats() : {}) };
}
