/**
 * `lape serve`: the model behind the OpenAI API (chat and completions, streaming), with language
 * steering per request (the `lape` object), continuous batching, and the explorer of a results
 * folder at / (--results). `lape explore DIR`: the explorer, with a model for the playground
 * when --model is given.
 */
import type { Command } from '../command.js';
import { MODEL_DIR, MODEL_GROUP, THREADS, WEIGHTS, DEVICE, openModel } from '../groups/model.js';
import { EXPLORE_STEERING_GROUP, RESULTS, SERVER_GROUP, SERVE_STEERING_GROUP, serve, serverKey } from '../groups/serve.js';
import { group, optionalOption, variant } from '../options/option.js';

const NOTES = [
  'Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (OpenAI schema; "stream": true',
  'sends server-sent events ending in "data: [DONE]"), GET /health, and the explorer at / (its data under /api/).',
  'Steering per request: "lape": {"activate": ["zh"], "deactivate": ["en"], "mode": "add", "alpha": 4, "layers": "0-3"}',
  '(as lape generate --activate/--deactivate/--mode/--alpha/--layers; needs --masks, and --stats to activate).',
  'Requests with different steering share one batch: a request that arrives while a batch decodes joins it at',
  'the next step (continuous batching). Beyond --max-queue waiting requests: 429. A client that disconnects',
  'cancels its generation. SIGTERM/SIGINT: stop accepting, finish requests in flight (--grace), exit 0.',
  'Chat requests use the checkpoint\'s chat_template (tokenizer_config.json); without one "role: content" lines',
  'and "assistant:". Defaults follow the OpenAI API (temperature 1, top_p 1; max_tokens 16 for completions).',
];

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve a model behind the OpenAI API, steerable per request, with the results explorer',
  options: [MODEL_GROUP, SERVE_STEERING_GROUP, group('Explorer', RESULTS), SERVER_GROUP],
  notes: NOTES,
  examples: [
    'lape serve --model models/tiny-multilingual --masks lape-demo/masks.json --stats lape-demo/stats',
    'lape serve --model M --results lape-demo --port 8080',
    'lape serve --model M --host 0.0.0.0 --api-key "$(cat key.txt)"',
  ],
  async run(ctx) {
    const key = serverKey(ctx);
    const model = await openModel(ctx);
    try {
      return await serve(ctx, { model, resultsDir: ctx.get(RESULTS), key });
    } finally {
      await model.release();
    }
  },
};

const WITH_MODEL = { appliesWhen: { option: 'model' } };
const OPTIONAL_MODEL = variant(optionalOption(MODEL_DIR), { help: 'a checkpoint for the steering playground (as lape serve --model)' });

export const exploreCommand: Command = {
  name: 'explore',
  summary: 'Explore an output folder in the browser (matrices, neurons; steering playground with --model)',
  options: [
    group('Model', OPTIONAL_MODEL, variant(THREADS, WITH_MODEL), variant(WEIGHTS, WITH_MODEL), variant(DEVICE, WITH_MODEL)),
    EXPLORE_STEERING_GROUP,
    SERVER_GROUP,
  ],
  positionals: { metavar: 'DIR', help: 'an output folder of lape demo, ppl, identify, …', min: 1, max: 1, io: { role: 'in' } },
  notes: ['The same server as lape serve --results DIR; without --model only the explorer is served.', ...NOTES.slice(0, 2)],
  examples: ['lape explore lape-demo', 'lape explore lape-demo --model models/tiny-multilingual --port 8080'],
  async run(ctx) {
    const key = serverKey(ctx);
    const model = ctx.get(OPTIONAL_MODEL) ? await openModel(ctx) : null;
    try {
      return await serve(ctx, { model, resultsDir: ctx.positionals[0]!, key });
    } finally {
      await model?.release();
    }
  },
};
