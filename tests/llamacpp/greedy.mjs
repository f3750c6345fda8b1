// llama.cpp (node-llama-cpp's prebuilt CPU build) as a reference for exported GGUF files: the
// logits of every position of a token-id prompt and the greedy continuation of n tokens, as one
// JSON object {"logits": [[...], ...], "greedy": [...]}.
//   node greedy.mjs <node_modules prefix> <model.gguf> <comma-separated ids> <n>
import path from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, modelPath, idsArg, nArg] = process.argv.slice(2);
const { getLlama } = await import(
  pathToFileURL(path.join(prefix, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const llama = await getLlama({ gpu: false, logLevel: "error", build: "never" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 256, threads: 2 });
const seq = context.getSequence();
const row = (m) => {
  const r = new Array(m.size);
  for (const [tok, v] of m) r[tok] = v;
  return r;
};
const argmax = (r) => r.reduce((best, v, i) => (v > r[best] ? i : best), 0);
const ids = idsArg.split(",").map(Number);
const out = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { logits: true } }]));
const logits = out.map((o) => row(o.next.logits));
const greedy = [];
let next = argmax(logits[logits.length - 1]);
for (let i = 0; i < Number(nArg); ++i) {
  greedy.push(next);
  if (i + 1 === Number(nArg)) break;
  const step = await seq.controlledEvaluate([[next, { generateNext: { logits: true } }]]);
  next = argmax(row(step[0].next.logits));
}
process.stdout.write(JSON.stringify({ logits, greedy }) + "\n");
await context.dispose();
await model.dispose();
