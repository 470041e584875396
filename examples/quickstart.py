"""routed-llm quickstart: route real calls with the embedded defaults (no keys, no Ollama needed).

Run it with ``uv run --no-dev --group demo python examples/quickstart.py``: the ``demo`` dependency
group installs only what this script needs (the core, the ``local`` extra and the LangChain adapter).

The defaults have three tiers: ``local`` (Ollama's llama3.2:3b if an Ollama server
answers, else SmolLM2-135M-Instruct running in this process), ``fast`` (Groq) and
``premium`` (Claude Sonnet / GPT-4o). Without cloud keys the cloud tiers fail fast
and every call falls back to the private local tier; the routing metadata says so.
SmolLM2-135M is tiny: its answers are short and often shallow, but it follows
instructions, and its tool calls are grammar-constrained, so they always parse.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from langchain_core.tools import tool  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from langchain_routed_llm import ChatRoutedLLM  # noqa: E402

console = Console()
llm = ChatRoutedLLM(max_tokens=48)  # embedded defaults: see routed_llm.defaults
router = llm.routed

PROMPTS = [
    "Classify the sentiment of this review: 'the battery died after two days'.",
    "What is the capital of France?",
    "Please check why card 4111 1111 1111 1111 was declined for jane.doe@example.com.",
    "Design a multi-region rate limiter. Analyze the trade-offs and failure modes step by step, "
    "then prove the algorithm never admits more than the limit.",
    "Summarize the meeting notes below in three bullet points.\n" + "We discussed the launch plan. " * 30,
]

table = Table(title="1. Where each prompt would go (routed-llm explain; no model is called)")
for column in ("prompt", "tier", "fallbacks", "why"):
    table.add_column(column, overflow="fold")
for prompt in PROMPTS:
    decision = router.route(prompt)
    table.add_row(
        prompt[:60] + ("…" if len(prompt) > 60 else ""),
        decision.tier,
        ", ".join(decision.fallbacks) or "-",
        decision.reason,
    )
console.print(table)

console.rule("2. Real calls through ChatRoutedLLM")
for prompt in (PROMPTS[0], PROMPTS[2], PROMPTS[3]):
    console.print(f"[bold]> {prompt[:80]}[/bold]")
    text, last = "", None
    for chunk in llm.stream(prompt):
        text += str(chunk.content)
        last = chunk
    routing = last.response_metadata["routing"] if last is not None else {}
    console.print(f"  answer   : {text.strip()[:100]!r}")
    console.print(f"  served by: tier={routing.get('tier')} model={routing.get('model')}")
    for attempt in routing.get("attempts", []):
        console.print(f"  fell back: {attempt['tier']} failed ({attempt['error'][:90]})")
    usage = last.usage_metadata if last is not None else None
    console.print(f"  usage    : {usage}  cost: ${routing.get('cost_usd', 0):.6f}")

console.rule("3. A tool call on the embedded tier")


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"sunny in {city}"


# Forced here to show the call itself: with tool_choice="auto" the model also decides whether to
# call at all, and a 135M model decides that unreliably. Either way the arguments are generated
# under a grammar built from the tool's schema, so they always parse and validate.
msg = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("What is the weather in Paris?")
console.print(f"tool calls: {msg.tool_calls}  (tier {msg.response_metadata['routing']['tier']})")

console.rule("4. Per-call hints")
msg = llm.invoke("Tell me about our Q3 numbers.", sensitivity="confidential", max_tokens=8)
console.print(
    f"sensitivity=confidential -> tier {msg.response_metadata['routing']['tier']} "
    f"({msg.response_metadata['routing']['reason']})"
)
try:
    llm.invoke("Tell me about our Q3 numbers.", sensitivity="confidential", tier="premium")
except Exception as e:  # the router refuses to send confidential data to a non-private tier
    console.print(f"tier=premium + confidential -> refused: {type(e).__name__}: {str(e).splitlines()[0]}")
