import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { baseUrl, apiKey, chatModel, embedModel, words, norm } from '../config.mjs';

const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey, maxRetries: 0, timeout: 30_000 });
const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name three colours.' },
];

test('openai: chat completion without streaming honours max_tokens and reports usage', async () => {
  const completion = await client.chat.completions.create({ model: chatModel, messages, max_tokens: 5, seed: 7 });

  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.choices.length, 1);
  const [choice] = completion.choices;
  assert.equal(choice.message.role, 'assistant');
  assert.equal(choice.finish_reason, 'length');
  assert.equal(words(choice.message.content).length, 5);
  assert.equal(completion.usage.completion_tokens, 5);
  assert.ok(completion.usage.prompt_tokens > 0);
  assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
});

test('openai: streamed chat with include_usage yields the same text and a final usage chunk', async () => {
  const whole = await client.chat.completions.create({ model: chatModel, messages, max_tokens: 6, seed: 3 });
  const stream = await client.chat.completions.create({
    model: chatModel, messages, max_tokens: 6, seed: 3, stream: true, stream_options: { include_usage: true },
  });

  let text = '';
  let finishReason = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const choice of chunk.choices) {
      text += choice.delta?.content ?? '';
      finishReason = choice.finish_reason ?? finishReason;
    }
    if (chunk.usage) {
      assert.equal(chunk.choices.length, 0);
      usage = chunk.usage;
    }
  }

  assert.ok(chunks >= 6, `expected one chunk per token, got ${chunks}`);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finishReason, 'length');
  assert.ok(usage, 'no usage chunk');
  assert.equal(usage.completion_tokens, 6);
  assert.equal(usage.total_tokens, usage.prompt_tokens + 6);
});

test('openai: chat without a limit ends with finish_reason stop', async () => {
  const completion = await client.chat.completions.create({ model: chatModel, messages, max_completion_tokens: 4096 });

  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.ok(completion.choices[0].message.content.length > 0);
  assert.equal(completion.usage.completion_tokens, words(completion.choices[0].message.content).length);
});

test('openai: legacy completions', async () => {
  const completion = await client.completions.create({ model: chatModel, prompt: 'Once upon a time', max_tokens: 4 });

  assert.equal(completion.object, 'text_completion');
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(words(completion.choices[0].text).length, 4);
  assert.equal(completion.usage.completion_tokens, 4);
  assert.ok(completion.usage.prompt_tokens > 0);
});

test('openai: embeddings (the client asks for base64 and decodes it)', async () => {
  const result = await client.embeddings.create({ model: embedModel, input: ['alpha', 'beta'] });

  assert.equal(result.data.length, 2);
  for (const [i, item] of result.data.entries()) {
    assert.equal(item.index, i);
    assert.ok(Array.isArray(item.embedding) && item.embedding.length > 0);
    assert.ok(Math.abs(norm(item.embedding) - 1) < 1e-3, 'not a unit vector');
  }
  assert.notDeepEqual(result.data[0].embedding, result.data[1].embedding);
  assert.ok(result.usage.prompt_tokens > 0);

  const floats = await client.embeddings.create({ model: embedModel, input: 'alpha', encoding_format: 'float' });
  assert.deepEqual(floats.data[0].embedding.map((v) => Math.fround(v)), result.data[0].embedding.map((v) => Math.fround(v)));
});

test('openai: models list includes the chat model', async () => {
  const ids = [];
  for await (const model of client.models.list()) {
    assert.equal(model.object, 'model');
    ids.push(model.id);
  }
  assert.ok(ids.some((id) => id === chatModel || id === `${chatModel}:latest`), `models: ${ids.join(', ')}`);
});

test('openai: an unknown model is an API error, not a crash', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model:1b', messages }),
    (err) => err instanceof OpenAI.APIError && err.status >= 400 && err.status < 500 && typeof err.message === 'string',
  );
});
