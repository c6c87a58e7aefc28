/**
 * A hook plan says what a forward pass captures and which layers it may patch. Each distinct
 * plan compiles (src/graph/hooks.ts) into its own ONNX graph and session; patch *values* are run
 * inputs, so changing which neurons are patched never rebuilds anything.
 *
 * Hook names follow TransformerLens: hook_embed (the token embedding lookup),
 * blocks.{i}.hook_resid_pre (what enters block i), blocks.{i}.mlp.hook_pre (input of the FFN
 * activation: the gate projection of GLU families, the first FFN projection of plain ones),
 * blocks.{i}.mlp.hook_act (act_fn(hook_pre), where patches apply), blocks.{i}.mlp.hook_post
 * (what enters the down projection), blocks.{i}.hook_resid_post.
 */
export interface HookPlan {
  /** Per layer and FFN neuron over valid tokens: count(hook_act > 0), sum(hook_act), sum(hook_act²). */
  ffnStats?: boolean;
  /** Per layer, hook_resid_post mean-pooled over each sequence's valid tokens. */
  residMean?: boolean;
  /** Per position, log-probability of the batch's target token (next-token likelihood). */
  tokenLogprobs?: boolean;
  /** Logits at each sequence's last valid position ('last') or at every position ('all'). */
  logits?: 'last' | 'all';
  /** Whole hook tensors to return, flattened to [batch*seq, width] (tests, debugging). */
  fullHooks?: string[];
  /** Layers whose hook_act is patched: act' = act * scale + shift, per-neuron vectors given per run. */
  patchLayers?: number[];
  /**
   * Every layer's hook_act patched with per-sequence vectors ([B, 1, I] inputs, broadcast over the
   * sequence's tokens), so sequences steered differently share one batch and one session (lape
   * serve). Excludes patchLayers.
   */
  sequencePatches?: boolean;
  /** Past/present key-value inputs and outputs for incremental decoding. */
  kvCache?: boolean;
  /**
   * Layers whose hook_act is probed for a subset of neurons (indices, K and histogram edges are
   * run inputs): per neuron the K largest values over the batch's valid tokens with their token
   * positions (TopK in the graph), and count(hook_act ≥ edge) for each edge. Only these small
   * tensors leave the session, never the [tokens × neurons] activations (lape examples).
   */
  probeLayers?: number[];
}

/** Canonical, order-independent key of a plan (the session cache key). */
export function planKey(plan: HookPlan): string {
  return JSON.stringify({
    s: !!plan.ffnStats,
    r: !!plan.residMean,
    t: !!plan.tokenLogprobs,
    l: plan.logits ?? null,
    f: [...(plan.fullHooks ?? [])].sort(),
    p: [...new Set(plan.patchLayers ?? [])].sort((a, b) => a - b),
    k: !!plan.kvCache,
    ...(plan.probeLayers?.length ? { n: [...new Set(plan.probeLayers)].sort((a, b) => a - b) } : {}),
    ...(plan.sequencePatches ? { q: true } : {}),
  });
}

/** The plan in a few words, for progress lines and messages. */
export function describePlan(plan: HookPlan): string {
  const parts = [
    plan.ffnStats && 'FFN statistics',
    plan.residMean && 'pooled residuals',
    plan.tokenLogprobs && 'log-likelihoods',
    plan.logits && `${plan.logits} logits`,
    plan.fullHooks?.length && `${plan.fullHooks.length} hooks`,
    plan.patchLayers?.length && `patches on ${plan.patchLayers.length} layers`,
    plan.sequencePatches && 'per-sequence patches on every layer',
    plan.kvCache && 'KV cache',
    plan.probeLayers?.length && `top-K probes on ${plan.probeLayers.length} layers`,
  ].filter(Boolean);
  return parts.length ? parts.join(' + ') : 'a bare forward pass';
}

/** True when the plan needs nothing after the last layer's FFN (no final norm, no LM head). */
export function planNeedsHead(plan: HookPlan): boolean {
  return !!plan.tokenLogprobs || plan.logits !== undefined;
}

const HOOK_RE = /^(?:blocks\.(\d+)\.(mlp\.hook_pre|mlp\.hook_act|mlp\.hook_post|hook_resid_pre|hook_resid_post)|hook_embed)$/;

/** Parses a hook name; returns null if it is not one lape knows. */
export function parseHookName(name: string): { layer: number | null; point: string } | null {
  const m = HOOK_RE.exec(name);
  if (!m) return null;
  return m[1] === undefined ? { layer: null, point: 'hook_embed' } : { layer: Number(m[1]), point: m[2]! };
}
