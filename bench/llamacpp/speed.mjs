// llama.cpp (through node-llama-cpp's prebuilt builds) prefill and decode speed on a GGUF, in
// the shape `vkllm bench --json` prints, so bench/side_by_side.py can take ratios.
//   node speed.mjs <node_modules prefix> <model.gguf> <cpu|vulkan> <prompt tokens> <gen tokens>
//                  <repeats> <threads>
// Prefill evaluates a prompt of random token ids in one batch; decode then generates greedily,
// one token per step. The first round warms up and is not counted; medians are reported.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, modelPath, backend, pArg, nArg, rArg, tArg] = process.argv.slice(2);
const [p, n, reps, threads] = [pArg, nArg, rArg, tArg].map(Number);
const { getLlama } = await import(
  pathToFileURL(path.join(prefix, "node_modules", "node-llama-cpp", "dist", "index.js")).href
);
const llama = await getLlama({
  gpu: backend === "vulkan" ? "vulkan" : false,
  logLevel: "error",
  build: "never",
});
const device = backend === "vulkan" ? (await llama.getGpuDeviceNames()).join(", ") : "cpu";
const model = await llama.loadModel({ modelPath, gpuLayers: backend === "vulkan" ? "max" : 0 });
const context = await model.createContext({
  contextSize: p + n + 8,
  batchSize: p,
  threads,
  flashAttention: false,
});
const seq = context.getSequence();

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const nVocab = Number(model.fileInfo.metadata.llama?.vocab_size ?? 0) ||
  model.fileInfo.metadata.tokenizer.ggml.tokens.length;
// Ordinary tokens (skip the first few, which are control tokens in most vocabularies).
const prompt = Array.from({ length: p }, () => 3 + Math.floor(rand() * (nVocab - 3)));

const now = () => Number(process.hrtime.bigint()) / 1e9;
const prefill = [], decode = [];
for (let rep = 0; rep <= reps; ++rep) {
  await seq.clearHistory();
  const a = now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt);
  const b = now();
  let count = 0;
  if (n > 0) {
    // evaluate() yields each sampled token; feeding it back is done by the iterator itself.
    const last = prompt[prompt.length - 1];
    await seq.eraseContextTokenRanges([{ start: p - 1, end: p }]);
    const c0 = now();
    for await (const tok of seq.evaluate([last], { temperature: 0 })) {
      if (++count >= n) break;
    }
    const c = now();
    if (rep > 0) decode.push(count / (c - c0));
  }
  if (rep > 0) prefill.push(p / (b - a));
}
const median = (v) => {
  if (v.length === 0) return 0;
  const s = [...v].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
process.stdout.write(
  JSON.stringify({
    engine: "llama.cpp",
    backend,
    device,
    threads,
    prompt_tokens: p,
    gen_tokens: n,
    repeats: reps,
    prefill_tps: median(prefill),
    prefill_tps_min: Math.min(...prefill),
    prefill_tps_max: Math.max(...prefill),
    decode_tps: median(decode),
    decode_tps_min: decode.length ? Math.min(...decode) : 0,
    decode_tps_max: decode.length ? Math.max(...decode) : 0,
  }) + "\n",
);
await context.dispose();
await model.dispose();
await llama.dispose();
