// Where the clients point. The same tests run against the simulator and, later, against the gateway:
//   LLM_BASE_URL     server root, e.g. http://127.0.0.1:11434 (the OpenAI client uses $LLM_BASE_URL/v1)
//   OLLAMA_HOST      overrides the Ollama client's host (defaults to LLM_BASE_URL)
//   LLM_API_KEY      sent as "Authorization: Bearer ..." by both clients (default: a dummy the simulator ignores)
//   LLM_CHAT_MODEL   default llama3.2:1b;  LLM_EMBED_MODEL  default nomic-embed-text
//   LLM_EXPECT_MANAGEMENT  allowed (default: simulator, bare Ollama) | refused (the gateway)
export const baseUrl = (process.env.LLM_BASE_URL ?? 'http://127.0.0.1:11434').replace(/\/+$/, '');
export const ollamaHost = process.env.OLLAMA_HOST ?? baseUrl;
export const apiKey = process.env.LLM_API_KEY ?? 'sk-llmsecops-dummy';
export const chatModel = process.env.LLM_CHAT_MODEL ?? 'llama3.2:1b';
export const embedModel = process.env.LLM_EMBED_MODEL ?? 'nomic-embed-text';

export const words = (text) => text.trim().split(/\s+/).filter(Boolean);

export const norm = (vector) => Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));

// Whether Ollama's model-management routes (pull, push, create, copy, delete, ps) should work: "allowed" against
// the simulator or a bare Ollama, "refused" against the gateway (which must never let them through).
export const management = process.env.LLM_EXPECT_MANAGEMENT ?? 'allowed';
