// llama.cpp (node-llama-cpp's prebuilt CPU build) as a reference tokenizer for GGUF files: the
// vocabulary alone is loaded; each line of the input file is a JSON string, and for each one
// line is printed: the token ids llama.cpp gives it (no BOS, special tokens matched in text).
//   node tokenize.mjs <node_modules prefix> <model.gguf> <inputs.jsonl>
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, modelPath, inputs] = process.argv.slice(2);
const { getLlama } = await import(
  pathToFileURL(path.join(prefix, "node_modules", "node-llama-cpp", "dist", "index.js")).href);
const llama = await getLlama({ gpu: false, logLevel: "error", build: "never" });
const model = await llama.loadModel({ modelPath, vocabOnly: true });
for (const line of fs.readFileSync(inputs, "utf8").split("\n")) {
  if (line.trim() === "") continue;
  console.log(JSON.stringify(Array.from(model.tokenize(JSON.parse(line), true))));
}
