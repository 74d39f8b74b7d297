// Maps checkpoint tensor names (Hugging Face transformers, original DINOv2 / timm) to the canonical names
// that buildVit reads. Tensors of other parts of a checkpoint (text tower, heads) are left out.
import { Tensor } from '../graph/tensor.js';

/** Prefixes that wrap the encoder in task models or training code. */
const PREFIXES = ['dinov2_with_registers.', 'dinov2.', 'ijepa.', 'vision_model.', 'model.', 'module.', 'backbone.'];

type Rule = [RegExp, string];

// Per layer: the part after the layer index.
const LAYER_RULES: Rule[] = [
  // transformers DINOv2 / I-JEPA / ViT
  [/^norm1\.(weight|bias)$/, 'norm1.$1'],
  [/^norm2\.(weight|bias)$/, 'norm2.$1'],
  [/^layernorm_before\.(weight|bias)$/, 'norm1.$1'],
  [/^layernorm_after\.(weight|bias)$/, 'norm2.$1'],
  [/^attention\.attention\.query\.(weight|bias)$/, 'q.$1'],
  [/^attention\.attention\.key\.(weight|bias)$/, 'k.$1'],
  [/^attention\.attention\.value\.(weight|bias)$/, 'v.$1'],
  [/^attention\.output\.dense\.(weight|bias)$/, 'proj.$1'],
  [/^layer_scale1\.lambda1$/, 'ls1'],
  [/^layer_scale2\.lambda1$/, 'ls2'],
  [/^mlp\.fc1\.(weight|bias)$/, 'fc1.$1'],
  [/^mlp\.fc2\.(weight|bias)$/, 'fc2.$1'],
  [/^mlp\.weights_in\.(weight|bias)$/, 'w12.$1'],
  [/^mlp\.weights_out\.(weight|bias)$/, 'w3.$1'],
  [/^intermediate\.dense\.(weight|bias)$/, 'fc1.$1'],
  [/^output\.dense\.(weight|bias)$/, 'fc2.$1'],
  // transformers CLIP
  [/^layer_norm1\.(weight|bias)$/, 'norm1.$1'],
  [/^layer_norm2\.(weight|bias)$/, 'norm2.$1'],
  [/^self_attn\.q_proj\.(weight|bias)$/, 'q.$1'],
  [/^self_attn\.k_proj\.(weight|bias)$/, 'k.$1'],
  [/^self_attn\.v_proj\.(weight|bias)$/, 'v.$1'],
  [/^self_attn\.out_proj\.(weight|bias)$/, 'proj.$1'],
  // original DINOv2 / timm
  [/^attn\.qkv\.(weight|bias)$/, 'qkv.$1'],
  [/^attn\.proj\.(weight|bias)$/, 'proj.$1'],
  [/^ls1\.(gamma|lambda1|weight)$/, 'ls1'],
  [/^ls2\.(gamma|lambda1|weight)$/, 'ls2'],
  [/^mlp\.w12\.(weight|bias)$/, 'w12.$1'],
  [/^mlp\.w3\.(weight|bias)$/, 'w3.$1'],
];

const LAYER_PREFIX = /^(?:encoder\.layers?|blocks(?:\.\d+)?)\.(\d+)\.(.+)$/;

const GLOBAL_RULES: Rule[] = [
  [/^embeddings\.cls_token$/, 'cls'],
  [/^embeddings\.class_embedding$/, 'cls'],
  [/^embeddings\.position_embeddings$/, 'pos'],
  [/^embeddings\.position_embedding\.weight$/, 'pos'],
  [/^embeddings\.register_tokens$/, 'reg'],
  [/^embeddings\.patch_embeddings\.projection\.(weight|bias)$/, 'patch.$1'],
  [/^embeddings\.patch_embedding\.(weight|bias)$/, 'patch.$1'],
  [/^pre_layrnorm\.(weight|bias)$/, 'pre_norm.$1'],
  [/^layernorm\.(weight|bias)$/, 'norm.$1'],
  [/^post_layernorm\.(weight|bias)$/, 'norm.$1'],
  [/^visual_projection\.weight$/, 'proj'],
  [/^cls_token$/, 'cls'],
  [/^pos_embed$/, 'pos'],
  [/^(?:register_tokens|reg_token)$/, 'reg'],
  [/^patch_embed\.proj\.(weight|bias)$/, 'patch.$1'],
  [/^norm_pre\.(weight|bias)$/, 'pre_norm.$1'],
  [/^norm\.(weight|bias)$/, 'norm.$1'],
];

/** Canonical name of one checkpoint name, or undefined when buildVit does not use it. */
export function canonicalName(name: string): string | undefined {
  let n = name;
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of PREFIXES) {
      if (n.startsWith(p)) {
        n = n.slice(p.length);
        changed = true;
      }
    }
  }
  const lm = LAYER_PREFIX.exec(n);
  if (lm) {
    for (const [re, to] of LAYER_RULES) if (re.test(lm[2])) return `layers.${Number(lm[1])}.${lm[2].replace(re, to)}`;
    return undefined;
  }
  for (const [re, to] of GLOBAL_RULES) if (re.test(n)) return n.replace(re, to);
  return undefined;
}

export interface CanonicalWeights {
  weights: Map<string, Tensor>;
  /** canonical name -> the checkpoint's own name */
  origin: Map<string, string>;
  /** the largest layer index seen, -1 when none */
  maxLayer: number;
}

function reshaped(t: Tensor, dims: number[]): Tensor {
  return new Tensor(t.dtype, dims, t.data);
}

/**
 * Renames a checkpoint's tensors to canonical names, squeezes leading 1-dims off cls/pos/reg tokens and
 * splits fused qkv projections. `source` names the file in errors.
 */
export function canonicalWeights(raw: Map<string, Tensor>, source: string): CanonicalWeights {
  const weights = new Map<string, Tensor>();
  const origin = new Map<string, string>();
  let maxLayer = -1;
  const put = (canon: string, t: Tensor, from: string) => {
    const prev = origin.get(canon);
    if (prev !== undefined) throw new Error(`${source}: tensors '${prev}' and '${from}' both hold ${canon}`);
    weights.set(canon, t);
    origin.set(canon, from);
  };
  for (const [name, t] of raw) {
    const canon = canonicalName(name);
    if (!canon) continue;
    const lm = /^layers\.(\d+)\./.exec(canon);
    if (lm) maxLayer = Math.max(maxLayer, Number(lm[1]));
    if (canon === 'cls' || canon === 'pos' || canon === 'reg') {
      // [1,1,C] / [1,N,C] / [C] -> [C] / [N,C]
      const dims = t.dims.slice();
      while (dims.length > (canon === 'cls' ? 1 : 2) && dims[0] === 1) dims.shift();
      if (canon !== 'cls' && dims.length === 1) dims.unshift(1);
      put(canon, reshaped(t, dims), name);
      continue;
    }
    const qkv = /^(layers\.\d+)\.qkv\.(weight|bias)$/.exec(canon);
    if (qkv) {
      const rows = t.dims[0];
      if (rows % 3 !== 0) throw new Error(`${source}: tensor '${name}' has shape [${t.dims.join(',')}]; a fused qkv needs a first dimension divisible by 3`);
      const per = t.size / 3;
      const dims = [rows / 3, ...t.dims.slice(1)];
      ['q', 'k', 'v'].forEach((part, i) => {
        const data = t.data.slice(i * per, (i + 1) * per) as Float32Array;
        put(`${qkv[1]}.${part}.${qkv[2]}`, new Tensor(t.dtype, dims, data), name);
      });
      continue;
    }
    put(canon, t, name);
  }
  return { weights, origin, maxLayer };
}
