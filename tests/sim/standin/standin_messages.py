"""vLLM's Anthropic Messages API (/v1/messages) in the stand-in: text and tool_use blocks, whole or streamed.

Shaped like vLLM's own handler, which converts the request to a chat completion and the answer back: the same
stop reasons (end_turn, max_tokens, tool_use), the same SSE events (message_start without type and role,
content blocks opened lazily, no ping), errors as {"type": "error", "error": {...}}. Tools need
--enable-auto-tool-choice and --tool-call-parser, as in vLLM; vLLM before 0.11.1 has no such route. The
simulated model calls a tool when tools are offered and the last user turn is not a tool result; it answers in
text otherwise, ending its turn after a short reply unless max_tokens cuts it first.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import standin_generation as gen
from standin_flags import version_tuple

# vllm.entrypoints.anthropic first ships in 0.11.1 (its API docs start there): older images answer 404.
FIRST_VERSION = (0, 11, 1)
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
SCHEMA_VALUES = {"string": "spark", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}


@dataclass
class ToolCall:
    """The tool the simulated model decided to call, with its arguments as JSON."""

    id: str
    name: str
    arguments: str


def served(vllm_version: str) -> bool:
    """Whether this image's vLLM has the Messages API."""
    return version_tuple(vllm_version) >= FIRST_VERSION


def handle(handler: Any) -> None:
    """Answer POST /v1/messages (or its count_tokens) on the stand-in's request handler."""
    from standin_api import ApiError, count_tokens

    try:
        handler.check_api_key()
        body = handler.read_json()
        handler.record_hit("/v1/messages")
        if handler.path.split("?", 1)[0].endswith("/count_tokens"):
            handler.send_json(200, {"input_tokens": count_tokens(gen.message_text(chat_messages(body)))})
            return
        answer(handler, body)
    except ApiError as error:
        if error.status == 401:
            handler.send_error_json(error)
        else:
            handler.send_json(error.status, {"type": "error", "error": {"type": error.kind, "message": error.message}})
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


def chat_messages(body: dict) -> list[dict]:
    """The request as chat messages (system first; text, tool uses and tool results as text)."""
    system = body.get("system")
    texts = [system] if isinstance(system, str) else [b.get("text", "") for b in system or [] if isinstance(b, dict)]
    messages = [{"role": "system", "content": "".join(texts)}] if any(texts) else []
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise gen.bad_request("messages: Field required (a non-empty list)")
    for turn in turns:
        content = turn.get("content") if isinstance(turn, dict) else None
        if isinstance(content, list):
            content = "\n".join(block_text(b) for b in content if isinstance(b, dict))
        messages.append({"role": turn.get("role", "user"), "content": content if isinstance(content, str) else ""})
    return messages


def block_text(block: dict) -> str:
    """The text a content block adds to the prompt."""
    if block.get("type") == "tool_result":
        inner = block.get("content")
        return inner if isinstance(inner, str) else json.dumps(inner)
    if block.get("type") == "tool_use":
        return json.dumps(block.get("input") or {})
    return str(block.get("text") or "")


def wants_tool(body: dict) -> dict | None:
    """The tool the simulated model calls, or None for a text answer."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice.get("type") == "none":
        return None
    last = (body.get("messages") or [{}])[-1]
    content = last.get("content") if isinstance(last, dict) else None
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        return None
    named = [t for t in tools if t.get("name") == choice.get("name")] if choice.get("type") == "tool" else []
    return (named or tools)[0]


def tool_arguments(tool: dict) -> str:
    """Arguments that satisfy the tool's input schema: a plain value for every required property."""
    schema = tool.get("input_schema") or {}
    properties = schema.get("properties") or {}
    required = schema.get("required") or list(properties)
    return json.dumps({name: SCHEMA_VALUES.get((properties.get(name) or {}).get("type"), "spark") for name in required})


def plan(handler: Any, body: dict) -> tuple[gen.CompletionPlan, ToolCall | None]:
    """Validate like vLLM and decide the answer: its token counts and the tool call, if any."""
    from standin_api import ApiError, count_tokens

    limit = body.get("max_tokens")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise gen.bad_request("max_tokens: Field required (a positive integer)")
    tools = body.get("tools") or []
    if tools and (body.get("tool_choice") or {}).get("type", "auto") == "auto" and not handler.state.auto_tools:
        raise ApiError(400, "BadRequestError",
                       '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set')
    request = {"model": body.get("model"), "messages": chat_messages(body), "max_tokens": limit}
    completion = gen.plan_completion(handler.state, request, True, count_tokens)
    completion.request_id = f"chatcmpl-{uuid.uuid4().hex}"
    # Anthropic clients always send max_tokens (Claude Code: tens of thousands); the model ends its turn first.
    if completion.finish_reason == "length" and completion.completion_tokens > gen.DEFAULT_REPLY_TOKENS:
        completion.completion_tokens, completion.finish_reason = gen.DEFAULT_REPLY_TOKENS, "stop"
    tool = wants_tool(body)
    if tool is None:
        return completion, None
    call = ToolCall(f"chatcmpl-tool-{uuid.uuid4().hex[:24]}", tool.get("name", ""), tool_arguments(tool))
    completion.completion_tokens = min(limit, max(1, count_tokens(call.arguments) + 2))
    completion.finish_reason = "tool_calls" if completion.completion_tokens < limit else "length"
    return completion, call


def answer(handler: Any, body: dict) -> None:
    """Run the request on the simulated engine and answer whole or as server-sent events."""
    completion, call = plan(handler, body)
    state = handler.state
    with handler.admit(completion.prompt_tokens, completion.completion_tokens):
        time.sleep(completion.prompt_tokens / state.prefill_tps)
        if body.get("stream"):
            stream(handler, completion, call)
            return
        time.sleep(max(completion.completion_tokens - 1, 0) / state.decode_tps)
        handler.send_json(200, whole(completion, call))


def blocks(completion: gen.CompletionPlan, call: ToolCall | None) -> list[dict]:
    """The answer's content blocks."""
    if call is not None:
        return [{"type": "tool_use", "id": call.id, "name": call.name, "input": json.loads(call.arguments)}]
    text = "".join(gen.reply_tokens(completion.completion_tokens, completion.answer))
    return [{"type": "text", "text": text}] if text else []


def whole(completion: gen.CompletionPlan, call: ToolCall | None) -> dict:
    """A complete, non-streamed message, as vLLM dumps it (None fields left out)."""
    return {"id": completion.request_id, "type": "message", "role": "assistant", "content": blocks(completion, call),
            "model": completion.model, "stop_reason": STOP_REASONS[completion.finish_reason],
            "usage": {"input_tokens": completion.prompt_tokens, "output_tokens": completion.completion_tokens}}


def stream(handler: Any, completion: gen.CompletionPlan, call: ToolCall | None) -> None:
    """message_start, one content block (text deltas paced by decode, or the tool call), message_delta, stop."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    usage = {"input_tokens": completion.prompt_tokens, "output_tokens": 0}
    send(handler, "message_start", {"type": "message_start", "message": {
        "id": completion.request_id, "content": [], "model": completion.model, "stop_reason": None,
        "stop_sequence": None, "usage": usage}})
    step, next_at = 1.0 / handler.state.decode_tps, time.monotonic()
    if call is not None:
        time.sleep(max(completion.completion_tokens - 1, 0) * step)
        start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        send(handler, "content_block_start", {"type": "content_block_start", "index": 0, "content_block": start})
        delta = {"type": "input_json_delta", "partial_json": call.arguments}
        send(handler, "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    tokens = [] if call is not None else gen.reply_tokens(completion.completion_tokens, completion.answer)
    for index, token in enumerate(tokens):
        if index == 0:
            start = {"type": "text", "text": ""}
            send(handler, "content_block_start", {"type": "content_block_start", "index": 0, "content_block": start})
        else:
            next_at += step
            time.sleep(max(0.0, next_at - time.monotonic()))
        delta = {"type": "text_delta", "text": token}
        send(handler, "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    if call is not None or tokens:
        send(handler, "content_block_stop", {"type": "content_block_stop", "index": 0})
    usage = {"input_tokens": completion.prompt_tokens, "output_tokens": completion.completion_tokens}
    send(handler, "message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": STOP_REASONS[completion.finish_reason]}, "usage": usage})
    send(handler, "message_stop", {"type": "message_stop"})
    handler.send_chunk(b"")


def send(handler: Any, event: str, data: dict) -> None:
    """One server-sent event, named as vLLM names it."""
    handler.send_chunk(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
