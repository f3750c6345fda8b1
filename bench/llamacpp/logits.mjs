// llama.cpp (through node-llama-cpp's prebuilt CPU build) as a reference: prints the logits of
// every position of a token-id prompt as JSON, for comparison with vkllm on the same GGUF.
//   node logits.mjs <node_modules prefix> <model.gguf> <comma-separated ids>
import path from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, modelPath, idsArg] = process.argv.slice(2);
const { getLlama } = await import(pathToFileURL(path.join(prefix, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const llama = await getLlama({ gpu: false, logLevel: "error", build: "never" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 256, threads: 2 });
const seq = context.getSequence();
const ids = idsArg.split(",").map(Number);
const out = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { logits: true } }]));
const vocab = model.tokens.trimmed ? undefined : undefined;
const rows = out.map((o) => {
  const m = o.next.logits;
  const row = new Array(m.size);
  for (const [tok, v] of m) row[tok] = v;
  return row;
});
process.stdout.write(JSON.stringify(rows) + "\n");
await context.dispose();
await model.dispose();
