"""The request a provider gets: instructions, the evidence pack as JSON, the answer's schema.

The prompt's hash (`llm_prompt_hash` on every recommendation) covers the system message, the
prompt and the schema, so the same evidence under the same template hashes the same.
"""

import hashlib
import json

from arc.database.core.jsonb import json_dumps
from arc.database.recommendations.evidence import EvidencePack
from arc.database.recommendations.providers.base import LLMRequest
from arc.database.recommendations.suggestions import ANSWER_SCHEMA

PROMPT_TEMPLATE_VERSION = "arc-recommendations-v4"
SYSTEM = """You improve the configuration of an AI agent that is evaluated on test scenarios.
You receive evidence gathered from its evaluations and answer only through the schema given.
Rules:
- Every recommendation cites the ids of the evidence items it stands on ("E1"...), and every
  change it makes must be one that a cited item lists under "supports". Changes an item lists
  under "contradicts" are refused. An item marked "joint" (another configuration's settings)
  backs its changes only together: cite it for all of them except those another item
  contradicts.
- A number's "value" in a support is how far that item backs the move (move no further); in a
  contradiction it is where harm was seen (moving to it or beyond is refused, a smaller step
  is not). No value: any level.
- Prefer one change per recommendation, so its effect can be measured on its own.
- A change is an operation on a dotted key of the configuration: "set" (value_json: the new
  value as JSON), "add_item" / "remove_item" on a list such as tools (value_json: the item as
  JSON), or "delete" (value_json: "").
- The configuration must stay valid: model a non-empty string, temperature 0..2, max_tokens
  1..1000000, timeout_ms 1..86400000, retries 0..20, tools a list of names.
- Rank the recommendations by how likely they are to improve the target metric without
  raising cost, most likely first. Return at most 3."""


def build_request(pack: EvidencePack, *, model: str, temperature: float) -> LLMRequest:
    evidence = json.loads(json_dumps(pack.as_dict()))
    prompt = (
        f"Target metric: {pack.target_metric} of configuration {pack.config_name!r} "
        f"(version {pack.version_number}), over {pack.outcomes} runs.\n"
        "Current configuration:\n"
        f"{json.dumps(pack.config, sort_keys=True, indent=1)}\n"
        "Evidence:\n"
        f"{json.dumps(evidence['items'], sort_keys=True, indent=1)}\n"
        "Recommend changes that the evidence supports."
    )
    return LLMRequest(
        system=SYSTEM,
        prompt=prompt,
        schema=ANSWER_SCHEMA,
        evidence=evidence,
        model=model,
        temperature=temperature,
    )


def prompt_hash(request: LLMRequest) -> str:
    material = json.dumps([request.system, request.prompt, request.schema], sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()
