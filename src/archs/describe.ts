/** The structural choices of a ModelSpec in words (for `lape info` and reports). */
import type { ModelSpec, RopeSpec } from './model-spec.js';

function rope(r: RopeSpec, headDim: number): string {
  const s = r.scaling;
  const scaling = s.type === 'default' ? '' : s.type === 'factors' ? ', per-frequency factors' : `, ${s.type} ×${s.factor}`;
  const part = r.dim < headDim ? `, ${r.dim} of ${headDim} dims` : '';
  return `rope θ=${r.theta}${scaling}${part}${r.layout === 'pairs' ? ', interleaved pairs' : ''}`;
}

export function describeStructure(s: ModelSpec): Array<[string, string]> {
  const norm = { rms: 'RMSNorm', rms1p: 'RMSNorm (1 + w)', layer: 'LayerNorm' }[s.norm];
  const positions = new Set<string>();
  if (s.positions === 'learned') positions.add(`learned${s.positionOffset ? ` (offset ${s.positionOffset})` : ''}`);
  if (s.positions === 'alibi') positions.add('ALiBi');
  const windows = new Map<string, number>();
  for (const l of s.layers) {
    if (l.rope) positions.add(rope(l.rope, s.headDim));
    const w = l.window === null ? 'full' : `window ${l.window}`;
    windows.set(w, (windows.get(w) ?? 0) + 1);
  }
  const attention = [...windows].map(([w, n]) => (windows.size > 1 ? `${n} × ${w}` : w)).join(', ');
  const act = { silu: 'SiLU', gelu: 'GELU (erf)', gelu_tanh: 'GELU (tanh)', relu: 'ReLU' }[s.activation];
  const biases = Object.entries(s.bias).filter(([, b]) => b).map(([k]) => k);
  const extras = [
    s.embedScale !== null ? `embedding × ${s.embedScale.toPrecision(6)}` : '',
    s.embedNorm ? 'embedding LayerNorm' : '',
    s.qkNorm ? 'q/k norms' : '',
    s.sandwichNorms ? 'post-attention/FFN norms' : '',
    s.attnSoftcap !== null ? `attention soft-cap ${s.attnSoftcap}` : '',
    s.finalSoftcap !== null ? `logit soft-cap ${s.finalSoftcap}` : '',
    s.tieWordEmbeddings ? 'tied LM head' : '',
  ].filter(Boolean);
  return [
    ['family', s.arch],
    ['norm', `${norm}, eps ${s.normEps}`],
    ['positions', [...positions].join('; ')],
    ['attention', `${attention}; q/k/v ${s.qkv}${s.block === 'sequential' ? '' : `; ${s.block} block`}`],
    ['FFN', `${s.ffn === 'gated' ? `gated (act(gate) · up), ${act}` : `plain, ${act}`}; hook_act = ${hookActFormula(s)}`],
    ['weights layout', s.weightLayout === 'out-in' ? '[out, in]' : 'Conv1D [in, out]'],
    ['biases', biases.length ? biases.join(', ') : 'none'],
    ['extras', extras.length ? extras.join(', ') : 'none'],
  ];
}

/** What `blocks.{i}.mlp.hook_act` is for this model, e.g. "silu(gate_proj(x))". */
export function hookActFormula(s: ModelSpec): string {
  const act = { silu: 'silu', gelu: 'gelu', gelu_tanh: 'gelu_tanh', relu: 'relu' }[s.activation];
  return `${act}(${s.ffn === 'gated' ? 'gate' : 'fc1'}(x))`;
}
