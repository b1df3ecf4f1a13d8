// Client set-up: the snippet for each client, for this server's address and a key typed here.
import { el, toast } from "./format.js";

const SNIPPETS = [
  ["Claude Code", "Shell, before running claude", (b, k) => `export ANTHROPIC_BASE_URL=${b}
export ANTHROPIC_API_KEY=${k}
export ANTHROPIC_DEFAULT_OPUS_MODEL=gpt-5.5
export ANTHROPIC_DEFAULT_SONNET_MODEL=gpt-5.4
export ANTHROPIC_DEFAULT_HAIKU_MODEL=gpt-5.4-mini
export CLAUDE_CODE_MAX_CONTEXT_TOKENS=272000
claude`],
  ["Codex CLI", "~/.codex/config.toml, then run: CLIPROXY_KEY=<key> codex", (b) => `model = "gpt-5.5"
model_provider = "cliproxy"

[model_providers.cliproxy]
name = "cliproxy"
base_url = "${b}/v1"
wire_api = "responses"
env_key = "CLIPROXY_KEY"
supports_websockets = true`],
  ["Cursor", "Settings → Models (Cursor calls from its own servers: use a public tunnel address, not 127.0.0.1)",
    (b, k) => `OpenAI API Key:            ${k}
Override OpenAI Base URL:  ${b.replace(/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?/, "https://<your-tunnel-host>")}/v1
Model:                     gpt-5.4`],
  ["Amp", "~/.config/amp/settings.json (classic Amp CLI); model calls are served here or forwarded to ampcode.com", (b, k) => `{
  "amp.url": "${b}"
}
# and: export AMP_API_KEY=${k}`],
  ["OpenAI SDK (Python)", "pip install openai", (b, k) => `from openai import OpenAI
client = OpenAI(base_url="${b}/v1", api_key="${k}")
print(client.responses.create(model="gpt-5.4", input="hi").output_text)`],
  ["Anthropic SDK (Python)", "pip install anthropic", (b, k) => `import anthropic
client = anthropic.Anthropic(base_url="${b}", api_key="${k}")
client.messages.create(model="gpt-5.4", max_tokens=1024, messages=[{"role": "user", "content": "hi"}])`],
  ["Gemini SDK (Python)", "pip install google-genai", (b, k) => `from google import genai
from google.genai import types
client = genai.Client(api_key="${k}", http_options=types.HttpOptions(base_url="${b}", api_version="v1beta"))
print(client.models.generate_content(model="gpt-5.4", contents="hi").text)`],
];

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", {}, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast("Copied");
}

export function renderSetup() {
  const base = location.origin;
  const key = document.getElementById("setup-key").value.trim() || "YOUR_KEY";
  document.getElementById("setup-base").textContent = `This server: ${base}`;
  document.getElementById("setup-snippets").replaceChildren(...SNIPPETS.map(([name, where, make], i) => {
    const code = make(base, key);
    return el("section", { class: "card snippet", "aria-labelledby": `snippet-${i}` },
      el("header", {}, el("h2", { id: `snippet-${i}` }, name),
        el("button", { type: "button", class: "small secondary", "aria-label": `Copy the ${name} snippet`,
          onclick: () => copy(code) }, "Copy")),
      el("p", { class: "muted" }, where), el("pre", {}, el("code", {}, code)));
  }));
}
