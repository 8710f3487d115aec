import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { ollamaHost, apiKey, chatModel, embedModel, words, norm } from '../config.mjs';

const ollama = new Ollama({ host: ollamaHost, headers: { Authorization: `Bearer ${apiKey}` } });
const messages = [{ role: 'user', content: 'Why is the sky blue?' }];

test('ollama: list shows models with sha256 digests and details', async () => {
  const { models } = await ollama.list();

  const chat = models.find((m) => m.name === chatModel || m.name === `${chatModel}:latest`);
  assert.ok(chat, `models: ${models.map((m) => m.name).join(', ')}`);
  assert.match(chat.digest, /^[0-9a-f]{64}$/);
  assert.ok(chat.size > 0);
  assert.equal(typeof chat.details.family, 'string');
  assert.equal(typeof chat.details.quantization_level, 'string');
});

test('ollama: chat without streaming honours num_predict and reports counts', async () => {
  const response = await ollama.chat({ model: chatModel, messages, options: { num_predict: 5, seed: 1 } });

  assert.equal(response.done, true);
  assert.equal(response.done_reason, 'length');
  assert.equal(response.message.role, 'assistant');
  assert.equal(words(response.message.content).length, 5);
  assert.equal(response.eval_count, 5);
  assert.ok(response.prompt_eval_count > 0);
  assert.ok(response.total_duration > 0);
});

test('ollama: streamed chat yields one part per token and the same text', async () => {
  const whole = await ollama.chat({ model: chatModel, messages, options: { num_predict: 6, seed: 2 } });
  const stream = await ollama.chat({ model: chatModel, messages, options: { num_predict: 6, seed: 2 }, stream: true });

  let text = '';
  let last = null;
  let parts = 0;
  for await (const part of stream) {
    parts++;
    text += part.message.content;
    last = part;
  }

  assert.equal(parts, 7);
  assert.equal(text, whole.message.content);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, 'length');
  assert.equal(last.eval_count, 6);
});

test('ollama: generate, streamed and not', async () => {
  const whole = await ollama.generate({ model: chatModel, prompt: 'Write a haiku.', options: { num_predict: 4 } });
  let streamed = '';
  let final = null;
  for await (const part of await ollama.generate({ model: chatModel, prompt: 'Write a haiku.', options: { num_predict: 4 }, stream: true })) {
    streamed += part.response;
    final = part;
  }

  assert.equal(whole.done_reason, 'length');
  assert.equal(words(whole.response).length, 4);
  assert.equal(streamed, whole.response);
  assert.equal(final.eval_count, 4);

  const unlimited = await ollama.generate({ model: chatModel, prompt: 'Write a haiku.' });
  assert.equal(unlimited.done_reason, 'stop');
  assert.equal(unlimited.eval_count, words(unlimited.response).length);
});

test('ollama: embed returns one unit vector per input', async () => {
  const result = await ollama.embed({ model: embedModel, input: ['first', 'second'] });

  assert.equal(result.embeddings.length, 2);
  for (const vector of result.embeddings) {
    assert.ok(vector.length > 0);
    assert.ok(Math.abs(norm(vector) - 1) < 1e-3);
  }
  assert.ok(result.prompt_eval_count > 0);
});

test('ollama: show and version', async () => {
  const show = await ollama.show({ model: chatModel });
  const { version } = await ollama.version();

  assert.equal(typeof show.details.family, 'string');
  assert.ok(Array.isArray(show.capabilities) && show.capabilities.includes('completion'));
  assert.match(version, /^\d+\.\d+\.\d+/);
});

test('ollama: an unknown model is a ResponseError', async () => {
  await assert.rejects(
    ollama.chat({ model: 'no-such-model:1b', messages }),
    (err) => err.name === 'ResponseError' && err.status_code >= 400 && err.status_code < 500,
  );
});
