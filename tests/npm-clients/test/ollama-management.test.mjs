import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { ollamaHost, apiKey, chatModel, management } from '../config.mjs';

const ollama = new Ollama({ host: ollamaHost, headers: { Authorization: `Bearer ${apiKey}` } });
const names = async () => (await ollama.list()).models.map((m) => m.name);
const refused = (err) => err.name === 'ResponseError' && err.status_code >= 400 && err.status_code < 500;

if (management === 'allowed') {
  test('ollama management: pull streams progress and adds the model, delete removes it', async () => {
    const statuses = [];
    for await (const progress of await ollama.pull({ model: 'smollm:135m', stream: true })) {
      statuses.push(progress.status);
      if (progress.digest) {
        assert.match(progress.digest, /^sha256:[0-9a-f]{64}$/);
        assert.ok(progress.completed <= progress.total);
      }
    }
    assert.equal(statuses[0], 'pulling manifest');
    assert.equal(statuses.at(-1), 'success');
    assert.ok((await names()).includes('smollm:135m'));

    await ollama.delete({ model: 'smollm:135m' });
    assert.ok(!(await names()).includes('smollm:135m'));
    await assert.rejects(ollama.delete({ model: 'smollm:135m' }), (err) => err.status_code === 404);
  });

  test('ollama management: copy and create make new models; ps lists a model just used', async () => {
    await ollama.copy({ source: chatModel, destination: 'copied-model' });
    const created = await ollama.create({ model: 'created-model', from: chatModel, system: 'Be brief.' });
    await ollama.generate({ model: chatModel, prompt: 'hi', options: { num_predict: 1 } });
    const { models: running } = await ollama.ps();

    const all = await names();
    assert.ok(all.includes('copied-model:latest'), all.join(', '));
    assert.ok(all.includes('created-model:latest'), all.join(', '));
    assert.equal(created.status, 'success');
    assert.ok(running.some((m) => m.name === chatModel || m.name === `${chatModel}:latest`));
    assert.ok(running.every((m) => typeof m.expires_at === 'string' && m.size_vram >= 0));
  });
} else {
  test('ollama management: every model-management call is refused', async () => {
    const before = await names();

    await assert.rejects(ollama.pull({ model: 'smollm:135m' }), refused);
    await assert.rejects(ollama.delete({ model: chatModel }), refused);
    await assert.rejects(ollama.copy({ source: chatModel, destination: 'copied-model' }), refused);
    await assert.rejects(ollama.create({ model: 'created-model', from: chatModel }), refused);
    await assert.rejects(ollama.push({ model: chatModel }), refused);
    await assert.rejects(ollama.ps(), refused);

    assert.deepEqual(await names(), before);
  });
}
