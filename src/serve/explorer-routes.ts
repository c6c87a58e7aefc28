/**
 * The explorer's routes: GET / (one HTML page with the bundled front end inlined: nothing is
 * loaded from elsewhere, so it works offline), GET /api/explorer (the folder's matrices, masks and
 * statistics summary, and what the served model can steer), GET /api/neurons (the neuron
 * browser's table). The steering playground talks to /v1/completions like any client.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LapeError } from '../errors.js';
import type { ExplorerData } from './explorer-data.js';
import { ApiError } from './openai-errors.js';
import type { Engine, RouteHandler } from './server.js';

/** The esbuild bundle of src/serve/web/ (npm run build writes it beside this module). */
const BUNDLE = new URL('./web/explorer.js', import.meta.url);

let page: string | null = null;

function explorerHtml(): string {
  if (page === null) {
    let js: string;
    try {
      js = readFileSync(BUNDLE, 'utf8');
    } catch {
      throw new LapeError(`the explorer bundle ${BUNDLE.pathname} is missing: run npm run build`);
    }
    page = [
      '<!doctype html>',
      '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
      '<title>lape explorer</title><link rel="icon" href="data:,"></head><body><div id="app">Loading…</div>',
      // "</script" inside the bundle's strings would end the element early; "<\/script" is the same string.
      `<script type="module">${js.replace(/<\/script/gi, '<\\/script')}</script></body></html>`,
    ].join('\n');
  }
  return page;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** GET / without the API key: a static page with no data in it (the data routes need the key). */
export function explorerPage(): RouteHandler {
  return async (req, res, url) => {
    if (req.method !== 'GET' || (url.pathname !== '/' && url.pathname !== '/index.html')) return false;
    send(res, 200, 'text/html; charset=utf-8', explorerHtml());
    return true;
  };
}

export function explorerRoutes(data: ExplorerData | null, engine: Engine | null): RouteHandler {
  const json = (res: ServerResponse, body: unknown): true => (send(res, 200, 'application/json', JSON.stringify(body)), true);
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (req.method !== 'GET' || !url.pathname.startsWith('/api/')) return false;
    try {
      if (url.pathname === '/api/explorer') {
        const model = engine
          ? { id: engine.id, layers: engine.model.spec.numLayers, neurons: engine.model.spec.intermediateSize, context: engine.model.spec.maxPositionEmbeddings, maxTokens: engine.maxTokens, ...engine.steering.languages() }
          : null;
        return json(res, { ...(data ? data.overview() : { folder: null, languages: [], colors: {}, matrices: [], masks: [], stats: null }), model });
      }
      if (url.pathname === '/api/neurons') {
        if (!data) throw new ApiError(404, 'no results folder (lape serve --results DIR)');
        const layer = Number(url.searchParams.get('layer'));
        return json(res, data.neurons(url.searchParams.get('masks') ?? '', layer, url.searchParams.get('lang') ?? ''));
      }
    } catch (e) {
      if (e instanceof LapeError) throw new ApiError(400, e.message);
      throw e;
    }
    return false;
  };
}
