"""What the stand-in answers: request validation, token plans and OpenAI-shaped response bodies."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from standin_flags import VLLM_VERSION

__all__ = ["VLLM_VERSION", "CompletionPlan", "plan_completion", "stream_events", "whole_body", "models_body"]

REPLY_WORDS = ("the", "simulated", "spark", "cluster", "answers", "with", "steady", "tokens")
# Short factual questions clients ask before benchmarking, answered like a real model (one token per word).
# llama-benchy 0.4.0's coherence check: "What is the capital of France? Please reply with one word only",
# non-streamed, max_tokens 100; it passes when "paris" is in the reply's content (or reasoning).
KNOWN_ANSWERS = ((re.compile(r"\bcapital of france\b", re.IGNORECASE), ("Paris",)),)
KNOWN_QUESTION_MAX_CHARS = 200
DEFAULT_REPLY_TOKENS = 16
COMPLETIONS_DEFAULT_MAX_TOKENS = 16


@dataclass
class CompletionPlan:
    """One request's shape: what to answer and how many tokens it costs."""

    chat: bool
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    include_usage: bool
    request_id: str
    created: int
    answer: tuple[str, ...] = ()


@dataclass
class StreamEvent:
    """One SSE payload and whether a decode step must pass before it is sent."""

    payload: str
    decode_step: bool


def bad_request(message: str) -> Exception:
    """Build the 400 error the handler answers."""
    from standin_api import ApiError

    return ApiError(400, "BadRequestError", message)


def message_text(messages: Any) -> str:
    """Join the text of chat messages, whether content is a string or a list of parts."""
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list")
    texts = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(texts)


def known_answer(request: dict, chat: bool) -> tuple[str, ...]:
    """The reply's tokens when the request is a short question the simulated model knows; else ()."""
    if chat:
        messages = request.get("messages") or []
        last = messages[-1] if isinstance(messages, list) and messages and isinstance(messages[-1], dict) else {}
        text = message_text([last]) if last.get("role") == "user" else ""
    else:
        text = request.get("prompt") if isinstance(request.get("prompt"), str) else ""
    if len(text) > KNOWN_QUESTION_MAX_CHARS:
        return ()
    for pattern, answer in KNOWN_ANSWERS:
        if pattern.search(text):
            return answer
    return ()


def prompt_token_count(request: dict, chat: bool, count_tokens: Callable[[str], int]) -> int:
    """Count prompt tokens of a chat or a text completion (a string, one-string list or token IDs)."""
    if chat:
        return count_tokens(message_text(request.get("messages")))
    prompt = request.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return count_tokens(prompt)
    if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
        return len(prompt)
    raise bad_request("prompt must be a string, a list with one string, or a list of token IDs")


def requested_max_tokens(request: dict, chat: bool) -> int | None:
    """The request's token limit, with vLLM's defaults for each endpoint."""
    limit = request.get("max_completion_tokens") if chat else None
    limit = limit if limit is not None else request.get("max_tokens")
    if limit is None:
        return None if chat else COMPLETIONS_DEFAULT_MAX_TOKENS
    if not isinstance(limit, int) or limit < 1:
        raise bad_request(f"max_tokens must be at least 1, got {limit}.")
    return limit


def plan_completion(state: Any, request: dict, chat: bool, count_tokens: Callable[[str], int]) -> CompletionPlan:
    """Validate a request against the served model and decide its token counts."""
    from standin_api import ApiError

    model = request.get("model") or state.served_names[0]
    if model not in state.served_names:
        raise ApiError(404, "NotFoundError", f"The model `{model}` does not exist.")
    prompt_tokens = prompt_token_count(request, chat, count_tokens)
    limit = requested_max_tokens(request, chat)
    room = state.max_model_len - prompt_tokens
    if limit is not None and limit > room:
        raise bad_request(
            f"This model's maximum context length is {state.max_model_len} tokens. However, you requested "
            f"{prompt_tokens + limit} tokens ({prompt_tokens} in the messages, {limit} in the completion). "
            "Please reduce the length of the messages or completion."
        )
    # Without a limit the simulated model stops by itself after a short reply, like an EOS.
    completion, finish = (limit, "length") if limit is not None else (min(DEFAULT_REPLY_TOKENS, room), "stop")
    answer = known_answer(request, chat)
    if answer and len(answer) <= completion:  # a known answer ends with EOS before the limit
        completion, finish = len(answer), "stop"
    options = request.get("stream_options") or {}
    return CompletionPlan(
        chat,
        model,
        prompt_tokens,
        max(completion, 0),
        finish,
        bool(options.get("include_usage")),
        f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
        int(time.time()),
        answer[:completion],
    )


def reply_tokens(count: int, answer: tuple[str, ...] = ()) -> list[str]:
    """The reply's tokens: words that each count as exactly one token (a known answer's words first)."""
    words = [*answer, *(REPLY_WORDS[i % len(REPLY_WORDS)] for i in range(count - len(answer)))]
    return [("" if i == 0 else " ") + word for i, word in enumerate(words[:count])]


def usage(plan: CompletionPlan) -> dict:
    """The usage block of a response."""
    return {
        "prompt_tokens": plan.prompt_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        "completion_tokens": plan.completion_tokens,
        "prompt_tokens_details": None,
    }


def envelope(plan: CompletionPlan, chunk: bool) -> dict:
    """The fields every response or chunk carries."""
    kind = ("chat.completion" if plan.chat else "text_completion") + (".chunk" if chunk and plan.chat else "")
    return {"id": plan.request_id, "object": kind, "created": plan.created, "model": plan.model}


def choice(plan: CompletionPlan, text: str | None, finish: str | None, role: bool = False) -> dict:
    """One streamed choice for chat (a delta) or text completion."""
    if not plan.chat:
        return {
            "index": 0,
            "text": text or "",
            "logprobs": None,
            "finish_reason": finish,
            "stop_reason": None,
        }
    delta: dict = {"role": "assistant", "content": ""} if role else {}
    if text is not None:
        delta["content"] = text
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, "stop_reason": None}


def stream_events(plan: CompletionPlan) -> Iterator[StreamEvent]:
    """The SSE payloads in order; all but the first token wait one decode step."""

    def event(choices: list[dict], decode_step: bool = False, **extra: object) -> StreamEvent:
        return StreamEvent(json.dumps({**envelope(plan, True), "choices": choices, **extra}), decode_step)

    if plan.chat:
        yield event([choice(plan, None, None, role=True)])
    tokens = reply_tokens(plan.completion_tokens, plan.answer)
    for index, token in enumerate(tokens):
        finish = plan.finish_reason if index == len(tokens) - 1 else None
        yield event([choice(plan, token, finish)], decode_step=index > 0)
    if not tokens:
        yield event([choice(plan, "", plan.finish_reason)])
    if plan.include_usage:
        yield event([], usage=usage(plan))


def whole_body(plan: CompletionPlan) -> dict:
    """A complete, non-streamed response."""
    text = "".join(reply_tokens(plan.completion_tokens, plan.answer))
    if plan.chat:
        result = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "reasoning_content": None, "tool_calls": []},
            "logprobs": None,
            "finish_reason": plan.finish_reason,
            "stop_reason": None,
        }
    else:
        result = {
            "index": 0,
            "text": text,
            "logprobs": None,
            "finish_reason": plan.finish_reason,
            "stop_reason": None,
            "prompt_logprobs": None,
        }
    return {**envelope(plan, False), "choices": [result], "usage": usage(plan), "prompt_logprobs": None}


def models_body(state: Any) -> dict:
    """The /v1/models listing: every served name, with the context length."""
    created = int(state.started or time.time())
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": state.model,
                "parent": None,
                "max_model_len": state.max_model_len,
                "permission": [],
            }
            for name in state.served_names
        ],
    }
