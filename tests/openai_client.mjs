// Drives `vkllm serve` with OpenAI's official npm client (installed at test time, not vendored):
// models, chat (plain, streamed with usage, with an image as a data: URL), completions, the
// Responses API (plain, streamed events, an input_image), structured output and tool calls, and
// the errors the client raises. Prints "ok" and exits 0 when every check holds.
//   node tests/openai_client.mjs NODE_MODULES_DIR BASE_URL API_KEY IMAGE_FILE
import { createRequire } from "node:module";
import fs from "node:fs";
import assert from "node:assert/strict";

const [modulesDir, baseURL, apiKey, imageFile] = process.argv.slice(2);
const require = createRequire(modulesDir + "/");
const OpenAI = require("openai").default ?? require("openai");
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

const models = await client.models.list();
const ids = models.data.map((m) => m.id);
assert.deepEqual(ids, ["tiny-kjv", "llava_next"]);

const chat = await client.chat.completions.create({
  model: "tiny-kjv",
  messages: [{ role: "user", content: "And God said" }],
  max_tokens: 8,
  temperature: 0,
});
assert.equal(chat.object, "chat.completion");
assert.equal(chat.choices[0].message.role, "assistant");
assert.ok(chat.choices[0].message.content.length > 0);
assert.equal(chat.usage.completion_tokens, 8);

const stream = await client.chat.completions.create({
  model: "tiny-kjv",
  messages: [{ role: "user", content: "And God said" }],
  max_tokens: 8,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let usage = null;
let finish = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta?.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(text, chat.choices[0].message.content);
assert.equal(finish, chat.choices[0].finish_reason);
assert.equal(usage.completion_tokens, 8);

const png = fs.readFileSync(imageFile).toString("base64");
const seen = await client.chat.completions.create({
  model: "llava_next",
  messages: [{
    role: "user",
    content: [
      { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } },
      { type: "text", text: "What is it?" },
    ],
  }],
  max_tokens: 4,
  temperature: 0,
});
assert.ok(seen.usage.prompt_tokens > 64, JSON.stringify(seen.usage));

const completion = await client.completions.create({
  model: "tiny-kjv", prompt: "In the beginning", max_tokens: 5, temperature: 0,
});
assert.equal(completion.object, "text_completion");
assert.equal(completion.usage.completion_tokens, 5);

// The Responses API: text, instructions, streamed typed events, an input_image part.
const resp = await client.responses.create({
  model: "tiny-kjv", input: "And God said", instructions: "Answer briefly.",
  max_output_tokens: 8, temperature: 0,
});
assert.equal(resp.object, "response");
assert.equal(resp.status, "incomplete");  // stopped by max_output_tokens
assert.equal(resp.incomplete_details.reason, "max_output_tokens");
assert.ok(resp.output_text.length > 0);
assert.equal(resp.usage.output_tokens, 8);
const rstream = await client.responses.create({
  model: "tiny-kjv", input: [{ role: "user", content: [{ type: "input_text", text: "And God said" }] }],
  instructions: "Answer briefly.", max_output_tokens: 8, temperature: 0, stream: true,
});
let deltas = "";
const types = [];
let last = null;
for await (const ev of rstream) {
  types.push(ev.type);
  if (ev.type === "response.output_text.delta") deltas += ev.delta;
  last = ev;
}
assert.equal(types[0], "response.created");
assert.ok(types.includes("response.output_item.added") && types.includes("response.output_text.done"));
assert.equal(last.type, "response.incomplete");
assert.equal(deltas, resp.output_text);
assert.equal(last.response.output[0].content[0].text, resp.output_text);
const rimg = await client.responses.create({
  model: "llava_next",
  input: [{ role: "user", content: [
    { type: "input_image", image_url: `data:image/png;base64,${png}` },
    { type: "input_text", text: "What is it?" }] }],
  max_output_tokens: 4, temperature: 0,
});
assert.ok(rimg.usage.input_tokens > 64, JSON.stringify(rimg.usage));

// Structured output (json_schema, properties in the schema's order) and forced tool calls, plain
// and streamed through the client's own accumulator (ChatCompletionStream).
const schema = { type: "object", properties: { speaker: { type: "string", maxLength: 12 },
  chapter: { type: "integer", minimum: 1, maximum: 50 } }, required: ["speaker", "chapter"],
  additionalProperties: false };
const structured = await client.chat.completions.create({
  model: "tiny-kjv", messages: [{ role: "user", content: "And God said" }], max_tokens: 60,
  temperature: 0, response_format: { type: "json_schema", json_schema: { name: "v", strict: true, schema } },
});
const value = JSON.parse(structured.choices[0].message.content);
assert.deepEqual(Object.keys(value), ["speaker", "chapter"]);
assert.ok(Number.isInteger(value.chapter) && value.chapter >= 1 && value.chapter <= 50);
const tools = [{ type: "function", function: { name: "find_verse", description: "Finds a verse",
  parameters: schema } }];
const toolRequest = { model: "tiny-kjv", messages: [{ role: "user", content: "Where is it written?" }],
  max_tokens: 80, temperature: 0, tools, tool_choice: "required" };
const called = await client.chat.completions.create(toolRequest);
assert.equal(called.choices[0].finish_reason, "tool_calls");
const call = called.choices[0].message.tool_calls[0];
assert.equal(call.type, "function");
assert.equal(call.function.name, "find_verse");
assert.ok(Number.isInteger(JSON.parse(call.function.arguments).chapter));
const runner = client.chat.completions.stream(toolRequest);
const final = await runner.finalChatCompletion();
assert.equal(final.choices[0].finish_reason, "tool_calls");
assert.deepEqual(final.choices[0].message.tool_calls[0].function, call.function);
assert.equal(final.choices[0].message.tool_calls[0].id.slice(0, 5), "call_");

// The Responses API: flat tools, a forced call as a function_call output item.
const rcall = await client.responses.create({
  model: "tiny-kjv", input: "Where is it written?", max_output_tokens: 80, temperature: 0,
  tools: [{ type: "function", name: "find_verse", parameters: schema, strict: true }],
  tool_choice: "required",
});
const fc = rcall.output.find((o) => o.type === "function_call");
assert.ok(fc, JSON.stringify(rcall.output));
assert.equal(fc.name, "find_verse");
assert.equal(fc.call_id.slice(0, 5), "call_");
assert.ok(Number.isInteger(JSON.parse(fc.arguments).chapter));

await assert.rejects(
  client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }),
  (e) => e.status === 404 && /nope/.test(e.message));
await assert.rejects(
  client.chat.completions.create({ model: "tiny-kjv", messages: [{ role: "user", content: "x" }],
                                   temperature: 7 }),
  (e) => e.status === 400 && e.param === "temperature");
const wrongKey = new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 });
await assert.rejects(wrongKey.models.list(), (e) => e.status === 401);
console.log("ok");
