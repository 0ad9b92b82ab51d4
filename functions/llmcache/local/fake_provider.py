"""An offline OpenAI-compatible provider: canned answers in OpenAI's exact wire format.

`make run` starts it when no upstream is configured; the tests use it as THE upstream. Standard
library only, threaded, never imported by the Lambda handler.

Routes: `POST /v1/chat/completions` (plain, `stream`, `n`, tools), `POST /v1/completions`,
`POST /v1/embeddings` (deterministic unit vectors, `dimensions`, `encoding_format`), `GET /v1/models`,
`POST /v1/responses` (plain, `stream`, function tools, reasoning summaries) and `GET /v1/responses/{id}` (what it
answered, unless `store: false`), Anthropic's `POST /v1/messages`
(plain, `stream`, tools, thinking; `x-api-key`, Anthropic's error envelope) and `/v1/messages/count_tokens`,
`POST /v1/moderations`, `POST /v1/files` (multipart). The answers of the last four live in fake_apis.py.
Answers are deterministic ("offline answer to: <first 80 chars of the last user message>") but every
call gets a fresh random `id`, so a test can tell a cached body from a new one.

Faults, chosen by the request's `model`:

| model | behaviour |
|---|---|
| `fake-error-<status>` (e.g. 500, 429, 400) | that status with OpenAI's error envelope |
| `fake-garbage` | 200 with a body that is not JSON |
| `fake-no-choices` | 200 with `choices: []` |
| `fake-slow-<ms>` | waits, then answers normally |
| `fake-slowstream-<ms>` | streams with that pause between chunks |
| `fake-broken-stream` | drops the connection half-way through the answer (stream or not) |
| `fake-stream-no-finish` | a stream that ends with `[DONE]` but no `finish_reason` |
| `fake-drop` | closes the connection without answering |
| `fake-incomplete` | Responses: `status: incomplete`; Messages: no `stop_reason` |

A fault can also be forced for the next N requests whatever their model: `handle.set_fault(
"error-500", times=1)` or `POST /_fake/fault {"fault": "error-500", "times": 1}`.
Introspection: `GET /_fake/stats` (counts per route, the last requests with the Authorization
header redacted to its last 4 characters), `POST /_fake/reset`.

Every stream can also be slowed as a whole, one pause between events (a model writing tokens):
`start_fake_provider(token_delay=0.1)` or `--token-delay-ms 100` (the time-to-first-token benchmark).
`GET /_fake/stats` lists when each stream sent its `[DONE]` (`stream_ends`, epoch seconds).

Run alone: `python -m llmcache.local.fake_provider --port 9000`.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import math
import re
import secrets
import socket
import string
import struct
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmcache.local import fake_apis, fake_bedrock

OFFLINE_NOTICE = "offline provider: answers are canned, not from a model"
ANSWER_PREFIX = fake_apis.ANSWER_PREFIX
SYSTEM_FINGERPRINT = "fp_offline0001"
MAX_RECORDED_REQUESTS = 50
MAX_STORED_RESPONSES = 1000
INVALID_KEY_PREFIX = "sk-invalid"
MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
)
_EMBEDDING_DIMENSIONS = {"text-embedding-3-large": 3072}
_DEFAULT_EMBEDDING_DIMENSIONS = 1536
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


# --------------------------------------------------------------------------------------------- wire


def _rand_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_STATUS_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request (injected by the fake provider).", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests (injected by the fake provider).", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def status_error(status: int) -> dict[str, Any]:
    message, type_, code = _STATUS_ERRORS.get(
        status,
        (
            f"Error {status} injected by the fake provider.",
            "server_error" if status >= 500 else "invalid_request_error",
            None,
        ),
    )
    return error_body(message, type_, code)


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: words and punctuation marks."""
    return len(_WORD.findall(text))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _prompt_tokens(messages: list[Any]) -> int:
    total = 3
    for message in messages:
        if isinstance(message, dict):
            total += 4 + count_tokens(_text_of(message.get("content")))
    return total


def _answer_text(question: str, index: int) -> str:
    text = ANSWER_PREFIX + question[:80]
    return text if index == 0 else f"{text} (choice {index})"


def _limit(text: str, max_tokens: int | None) -> tuple[str, str]:
    """Cut `text` to `max_tokens` tokens; returns (text, finish_reason)."""
    if max_tokens is None or count_tokens(text) <= max_tokens:
        return text, "stop"
    kept = [m.group(0) for m in list(_WORD.finditer(text))[: max(0, max_tokens)]]
    return " ".join(kept), "length"


def _pieces(text: str) -> list[str]:
    """Split an answer into stream deltas that join back to exactly `text`."""
    parts = re.findall(r"\s*\S+", text)
    return parts or ([text] if text else [])


def _usage(prompt: int, completion: int, chat: bool) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if chat:
        usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
    return usage


def _wanted_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function tool to call, when tools are given and the request asks for a call."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if not tools:
        return None
    choice = body.get("tool_choice")
    if choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t["function"] for t in tools if t["function"].get("name") == name), tools[0]["function"])
    if choice == "required":
        return tools[0]["function"]
    question = _last_user_text(body.get("messages") or []).lower()
    for tool in tools:
        if str(tool["function"].get("name", "")).lower() in question:
            return tool["function"]
    if any(word in question for word in ("use a tool", "use the tool", "call a tool", "call the tool")):
        return tools[0]["function"]
    return None


def _tool_arguments(function: dict[str, Any], question: str) -> str:
    props = ((function.get("parameters") or {}).get("properties") or {}) if isinstance(function, dict) else {}
    args: dict[str, Any] = {}
    for name, spec in props.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind in ("integer", "number"):
            args[name] = 1
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = question[:40] or name
    return json.dumps(args)


# ------------------------------------------------------------------------------------- chat answers


class ChatAnswer:
    """The deterministic answer to a chat request, rendered plain or as stream chunks."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.model = str(body.get("model"))
        self.id = _rand_id("chatcmpl-")
        self.created = int(time.time())
        messages = body.get("messages") or []
        self.question = _last_user_text(messages)
        self.prompt_tokens = _prompt_tokens(messages)
        n = body.get("n")
        self.n = n if isinstance(n, int) and 1 <= n <= 128 else 1
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        self.max_tokens = max_tokens if isinstance(max_tokens, int) else None
        self.tool = _wanted_tool(body)
        self.choices: list[dict[str, Any]] = []
        for index in range(self.n):
            if self.tool is not None:
                call = {
                    "id": _rand_id("call_"),
                    "type": "function",
                    "function": {
                        "name": self.tool.get("name"),
                        "arguments": _tool_arguments(self.tool, self.question),
                    },
                }
                self.choices.append({"index": index, "tool_calls": [call], "content": None, "finish": "tool_calls"})
            else:
                text, finish = _limit(_answer_text(self.question, index), self.max_tokens)
                self.choices.append({"index": index, "tool_calls": None, "content": text, "finish": finish})

    def completion_tokens(self) -> int:
        total = 0
        for c in self.choices:
            if c["tool_calls"]:
                total += sum(count_tokens(t["function"]["arguments"]) + 3 for t in c["tool_calls"])
            else:
                total += count_tokens(c["content"])
        return total

    def usage(self) -> dict[str, Any]:
        return _usage(self.prompt_tokens, self.completion_tokens(), chat=True)

    def plain(self) -> dict[str, Any]:
        choices = []
        for c in self.choices:
            message: dict[str, Any] = {"role": "assistant", "content": c["content"], "refusal": None, "annotations": []}
            if c["tool_calls"]:
                message["tool_calls"] = c["tool_calls"]
            choices.append({"index": c["index"], "message": message, "logprobs": None, "finish_reason": c["finish"]})
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": self.usage(),
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def _chunk(self, choices: list[dict[str, Any]], include_usage: bool) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if include_usage:
            chunk["usage"] = None
        return chunk

    def chunks(self, include_usage: bool, with_finish: bool = True) -> Iterator[dict[str, Any]]:
        for c in self.choices:
            i = c["index"]

            def choice(delta: dict[str, Any], finish: str | None = None, index: int = i) -> dict[str, Any]:
                return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

            if c["tool_calls"]:
                first: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "tool_calls": []}
                for t_index, call in enumerate(c["tool_calls"]):
                    first["tool_calls"].append(
                        {
                            "index": t_index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    )
                yield self._chunk([choice(first)], include_usage)
                for t_index, call in enumerate(c["tool_calls"]):
                    args = call["function"]["arguments"]
                    step = max(1, math.ceil(len(args) / 4))
                    for start in range(0, len(args), step):
                        delta = {
                            "tool_calls": [{"index": t_index, "function": {"arguments": args[start : start + step]}}]
                        }
                        yield self._chunk([choice(delta)], include_usage)
            else:
                yield self._chunk([choice({"role": "assistant", "content": "", "refusal": None})], include_usage)
                for piece in _pieces(c["content"]):
                    yield self._chunk([choice({"content": piece})], include_usage)
            if with_finish:
                yield self._chunk([choice({}, c["finish"])], include_usage)
        if include_usage:
            final = self._chunk([], include_usage)
            final["usage"] = self.usage()
            yield final


# ------------------------------------------------------------------------------- completion answers


class CompletionAnswer:
    def __init__(self, body: dict[str, Any]) -> None:
        self.model = str(body.get("model"))
        self.id = _rand_id("cmpl-")
        self.created = int(time.time())
        prompt = body.get("prompt", "")
        if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
            prompts = list(prompt)
        elif isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
            prompts = [" ".join(str(p) for p in prompt)]
        elif isinstance(prompt, list) and prompt and all(isinstance(p, list) for p in prompt):
            prompts = [" ".join(str(t) for t in p) for p in prompt]
        else:
            prompts = [str(prompt)]
        n = body.get("n")
        n = n if isinstance(n, int) and 1 <= n <= 128 else 1
        max_tokens = body.get("max_tokens")
        max_tokens = max_tokens if isinstance(max_tokens, int) else None
        echo = bool(body.get("echo"))
        self.prompt_tokens = sum(count_tokens(p) for p in prompts)
        self.choices: list[dict[str, Any]] = []
        for p_index, text in enumerate(prompts):
            for k in range(n):
                answer, finish = _limit(_answer_text(text, k), max_tokens)
                answer = " " + answer
                if echo:
                    answer = text + answer
                self.choices.append({"index": p_index * n + k, "text": answer, "finish": finish})

    def usage(self) -> dict[str, Any]:
        completion = sum(count_tokens(c["text"]) for c in self.choices)
        return _usage(self.prompt_tokens, completion, chat=False)

    def plain(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"text": c["text"], "index": c["index"], "logprobs": None, "finish_reason": c["finish"]}
                for c in self.choices
            ],
            "usage": self.usage(),
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def chunks(self, include_usage: bool, with_finish: bool = True) -> Iterator[dict[str, Any]]:
        def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": self.id,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": choices,
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
            if include_usage:
                out["usage"] = None
            return out

        for c in self.choices:
            for piece in _pieces(c["text"]):
                yield chunk([{"text": piece, "index": c["index"], "logprobs": None, "finish_reason": None}])
            if with_finish:
                yield chunk([{"text": "", "index": c["index"], "logprobs": None, "finish_reason": c["finish"]}])
        if include_usage:
            final = chunk([])
            final["usage"] = self.usage()
            yield final


# -------------------------------------------------------------------------------------- embeddings


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text`: signed feature hashing of its words and trigrams.

    Equal inputs get equal vectors; inputs that share words get a high cosine similarity, so a
    semantic matcher sees paraphrases as near and unrelated texts as far.
    """
    vector = [0.0] * dimensions
    words = [w.lower() for w in re.findall(r"\w+", text)]
    features = [("w", w, 1.0) for w in words]
    for w in words:
        padded = f"#{w}#"
        features.extend(("t", padded[i : i + 3], 0.35) for i in range(max(1, len(padded) - 2)))
    if not features:
        features = [("raw", text, 1.0)]
    for kind, feature, weight in features:
        digest = hashlib.sha256(f"{kind}:{feature}".encode()).digest()
        slot = int.from_bytes(digest[:4], "big") % dimensions
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[slot] += sign * weight
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def embeddings_answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    model = str(body.get("model"))
    raw = body.get("input")
    if isinstance(raw, str):
        inputs: list[str] = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [" ".join(str(x) for x in raw)]
    elif isinstance(raw, list) and raw and all(isinstance(x, list) and x for x in raw):
        inputs = [" ".join(str(t) for t in x) for x in raw]
    else:
        return 400, error_body("'$.input' is invalid. Please check the API reference.", "invalid_request_error")
    if any(x == "" for x in inputs):
        return 400, error_body("'$.input' is invalid: empty strings are not allowed.", "invalid_request_error")
    dimensions = body.get("dimensions")
    if dimensions is None:
        dimensions = _EMBEDDING_DIMENSIONS.get(model, _DEFAULT_EMBEDDING_DIMENSIONS)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= 3072:
        return 400, error_body("'dimensions' must be an integer between 1 and 3072.", "invalid_request_error")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return 400, error_body("'encoding_format' must be 'float' or 'base64'.", "invalid_request_error")
    data = []
    for index, text in enumerate(inputs):
        vector = embedding_vector(text, dimensions)
        encoded: Any = vector
        if encoding == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(count_tokens(t) for t in inputs)
    return 200, {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# ----------------------------------------------------------------------------------------- server


def _redact(value: str) -> str:
    return "***" + value[-4:] if len(value) > 4 else "***"


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDED_REQUESTS)
        self.forced: deque[str] = deque()
        self.stream_ends: deque[float] = deque(maxlen=MAX_RECORDED_REQUESTS)  # time.time() of each [DONE] sent
        # Responses kept for `GET /v1/responses/{id}` (as OpenAI keeps them unless `store: false`), newest last.
        self.responses: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def keep_response(self, response: dict[str, Any]) -> None:
        with self.lock:
            self.responses[str(response["id"])] = response
            while len(self.responses) > MAX_STORED_RESPONSES:
                self.responses.popitem(last=False)

    def stored_response(self, response_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.responses.get(response_id)

    def record(self, method: str, path: str, headers: dict[str, str], body: Any, query: str = "") -> None:
        route = f"{method} {path}"
        # Names lowercased (HTTP names are case-insensitive); credentials cut to their last 4 characters.
        safe = {
            k.lower(): (_redact(v) if k.lower() in ("authorization", "api-key", "x-api-key") else v)
            for k, v in headers.items()
        }
        with self.lock:
            self.counts[route] += 1
            self.requests.append({"route": route, "headers": safe, "body": body, "query": query, "time": time.time()})

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "counts": dict(self.counts),
                "total": sum(self.counts.values()),
                "requests": copy.deepcopy(list(self.requests)),
                "stream_ends": list(self.stream_ends),
            }

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.requests.clear()
            self.forced.clear()
            self.stream_ends.clear()
            self.responses.clear()

    def force(self, fault: str, times: int) -> None:
        with self.lock:
            self.forced.extend([fault] * times)

    def next_forced(self) -> str | None:
        with self.lock:
            return self.forced.popleft() if self.forced else None


# Sent by the real APIs beside an answer: the account's organization, its rate limits, the CDN's cookie.
OPENAI_ACCOUNT_HEADERS = {
    "openai-organization": "user-fakeorganization",
    "openai-version": "2020-10-01",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "set-cookie": "__cf_bm=fakecookie; path=/; domain=.api.openai.com; HttpOnly; Secure; SameSite=None",
}
ANTHROPIC_ACCOUNT_HEADERS = {
    "request-id": "req_fake01",
    "anthropic-organization-id": "00000000-0000-0000-0000-000000000000",
    "anthropic-ratelimit-requests-remaining": "49",
}
# What a proxy or CDN in front of a provider may add.
PROXY_HEADERS = {
    "x-cache": "HIT",
    "location": "https://internal.example/elsewhere",
    "access-control-allow-origin": "*",
    "connection": "keep-alive, x-request-id",
}


class FakeProviderServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], quiet: bool = True, token_delay: float = 0.0) -> None:
        super().__init__(address, _FakeHandler)
        self.state = _State()
        self.quiet = quiet
        self.token_delay = token_delay  # seconds between the events of every stream (a model writing tokens)


class _Drop(Exception):
    """Close the connection without (finishing) the answer."""


class _FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two sends: else a kept-alive client waits ~40 ms
    server_version = "llmcache-fake-provider"
    sys_version = ""
    server: FakeProviderServer

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    # ------------------------------------------------------------------ plumbing
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", _rand_id("req_", 32))
        self.send_header("openai-processing-ms", "1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stream(self, events: Iterator[dict[str, Any]], pause: float = 0.0, break_after: int | None = None) -> None:
        """OpenAI's chat and completions streams: `data:` events, then `data: [DONE]`."""
        frames = (f"data: {json.dumps(event)}\n\n".encode() for event in events)
        self._write_stream(frames, b"data: [DONE]\n\n", pause, break_after)

    def _write_stream(self, frames: Iterator[bytes], last: bytes, pause: float, break_after: int | None) -> None:
        """An SSE answer, one chunk per event, `pause` between them; dropped after `break_after` events."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", _rand_id("req_", 32))
        self.end_headers()
        for count, frame in enumerate(frames):
            if break_after is not None and count >= break_after:
                raise _Drop
            if pause and count:
                time.sleep(pause)
            self._chunk(frame)
        if last:  # an empty chunk would end the chunked body
            self._chunk(last)
        with self.server.state.lock:
            self.server.state.stream_ends.append(time.time())
        self._chunk(b"")

    def _read_json(self) -> tuple[Any, bytes]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw), raw
        except ValueError:
            return None, raw

    # ------------------------------------------------------------------ routes
    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        try:
            self._route(method)
        except _Drop:
            self._drop()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if fake_bedrock.serves(path):  # Amazon Bedrock Runtime: its own wire format and credentials
            return fake_bedrock.route(self, method, path)
        state = self.server.state
        if path == "/_fake/stats" and method == "GET":
            return self._send_json(200, state.snapshot())
        if path == "/_fake/reset" and method == "POST":
            self._read_json()
            state.reset()
            return self._send_json(200, {"reset": True})
        if path == "/_fake/fault" and method == "POST":
            order, _ = self._read_json()
            if not isinstance(order, dict) or not isinstance(order.get("fault"), str):
                return self._send_json(
                    400, error_body('expected {"fault": str, "times": int}', "invalid_request_error")
                )
            state.force(order["fault"], int(order.get("times", 1)))
            return self._send_json(200, {"forced": order["fault"]})
        if path == "/health":
            return self._send_json(200, {"status": "ok", "notice": OFFLINE_NOTICE})

        body: Any = None
        raw = b""
        if method == "POST":
            body, raw = self._read_json()
            recorded: Any = body if body is not None else raw.decode("utf-8", "replace")
        else:
            recorded = None
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        headers = dict(self.headers.items())
        # Bedrock's OpenAI- and Anthropic-shaped endpoints take a SigV4 signature where the APIs take a key.
        signed = self.headers.get("Authorization", "").startswith(fake_bedrock.SIGV4_PREFIX)
        if signed:
            auth_record, refusal = fake_bedrock.sigv4_check(self, method, raw, "bedrock")
            headers[fake_bedrock.AUTH_RECORD_HEADER] = json.dumps(auth_record)
        state.record(method, path, headers, recorded, query)
        if signed and refusal is not None:
            return self._send_json(403, error_body(refusal, "invalid_request_error"))
        if path.startswith("/v1/messages") or self.headers.get("anthropic-version"):
            return self._anthropic(method, path, body, signed)

        auth = self.headers.get("Authorization", "")
        if not signed and (not auth.startswith("Bearer ") or not auth[7:].strip()):
            return self._send_json(
                401,
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                ),
            )
        if not signed and auth[7:].strip().startswith(INVALID_KEY_PREFIX):
            return self._send_json(
                401,
                error_body(
                    f"Incorrect API key provided: {_redact(auth[7:].strip())}.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )

        routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/completions"): self._completions,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("POST", "/v1/responses"): self._responses,
        }
        if method == "GET" and path == "/v1/models":
            now = int(time.time())
            models = [{"id": m, "object": "model", "created": now, "owned_by": "system"} for m in MODELS]
            return self._send_json(200, {"object": "list", "data": models}, self._account_headers())
        if method == "GET" and path.startswith("/v1/models/"):
            return self._send_json(
                200,
                {"id": path.rsplit("/", 1)[1], "object": "model", "created": int(time.time()), "owned_by": "system"},
            )
        if method == "GET" and path.startswith("/v1/responses/") and path.count("/") == 3:
            return self._stored_response(path.rsplit("/", 1)[1])
        if method == "POST" and path in ("/v1/files", "/v1/moderations"):
            return self._passed_on_route(path, body, raw)
        handler = routes.get((method, path))
        if handler is None:
            return self._send_json(
                404, error_body(f"Invalid URL ({method} {path})", "invalid_request_error", "unknown_url")
            )
        if not isinstance(body, dict):
            return self._send_json(
                400,
                error_body(
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                    "HTTP library correctly. The OpenAI API expects a JSON payload.)",
                    "invalid_request_error",
                ),
            )
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._send_json(400, error_body("you must provide a model parameter", "invalid_request_error"))
        fault = state.next_forced() or _fault_of(body["model"])
        if fault and self._apply_fault(fault, body):
            return None
        handler(body, fault)
        return None

    def _apply_fault(self, fault: str, body: dict[str, Any]) -> bool:
        """Answer for a fault that replaces the normal answer; True when answered."""
        if fault.startswith("error-"):
            status = int(fault[6:]) if fault[6:].isdigit() else 500
            headers = {"retry-after": "1"} if status == 429 else None
            self._send_json(status, status_error(status), headers)
            return True
        if fault == "garbage":
            self._send_bytes(200, b"<html><body>502 Bad Gateway (not JSON)</body></html>", "text/html")
            return True
        if fault == "drop":
            raise _Drop
        if fault.startswith("slow-"):
            time.sleep(_millis(fault) / 1000)
        return False

    def _plain_or_broken(self, payload: dict[str, Any], fault: str | None) -> None:
        if fault == "no-choices":
            payload["choices"] = []
        if fault == "broken-stream":
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            raise _Drop
        self._send_json(200, payload)

    def _stream_answer(self, answer: ChatAnswer | CompletionAnswer, body: dict[str, Any], fault: str | None) -> None:
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        events = list(answer.chunks(include_usage, with_finish=fault != "stream-no-finish"))
        if fault == "no-choices":
            events = [e for e in events if not e["choices"]]
        pause = _millis(fault) / 1000 if fault and fault.startswith("slowstream-") else self.server.token_delay
        break_after = max(1, len(events) // 2) if fault == "broken-stream" else None
        self._stream(iter(events), pause=pause, break_after=break_after)

    def _chat(self, body: dict[str, Any], fault: str | None) -> None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._send_json(
                400, error_body("'messages' is a required property", "invalid_request_error", param="messages")
            )
            return
        answer = ChatAnswer(body)
        if body.get("stream"):
            self._stream_answer(answer, body, fault)
        else:
            self._plain_or_broken(answer.plain(), fault)

    def _completions(self, body: dict[str, Any], fault: str | None) -> None:
        if "prompt" not in body:
            self._send_json(400, error_body("'prompt' is a required property", "invalid_request_error", param="prompt"))
            return
        answer = CompletionAnswer(body)
        if body.get("stream"):
            self._stream_answer(answer, body, fault)
        else:
            self._plain_or_broken(answer.plain(), fault)

    def _embeddings(self, body: dict[str, Any], fault: str | None) -> None:
        status, payload = embeddings_answer(body)
        if status == 200 and fault == "no-choices":
            payload["data"] = []
        if status == 200:
            self._plain_or_broken(payload, fault if fault == "broken-stream" else None)
        else:
            self._send_json(status, payload)

    # ------------------------------------------------------------------ Responses, Messages and the rest
    def _stream_or_plain(self, body: dict[str, Any], fault: str | None, answer: Any, plain: dict[str, Any]) -> None:
        """`answer.events()` when the request streams (with the stream faults), else `plain`. The Responses and
        Messages APIs send named events (`event:` and `data:` lines) and no [DONE]."""
        if not body.get("stream"):
            return self._plain_or_broken(plain, fault if fault == "broken-stream" else None)
        events = list(answer.events(finish=fault not in ("stream-no-finish", "incomplete")))
        pause = _millis(fault) / 1000 if fault and fault.startswith("slowstream-") else self.server.token_delay
        break_after = max(1, len(events) // 2) if fault == "broken-stream" else None
        frames = (f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode() for name, payload in events)
        return self._write_stream(frames, b"", pause, break_after)

    def _responses(self, body: dict[str, Any], fault: str | None) -> None:
        answer = fake_apis.ResponsesAnswer(body)
        plain = answer.plain(status="incomplete" if fault == "incomplete" else None)
        if body.get("store") is not False:
            self.server.state.keep_response(plain)
        self._stream_or_plain(body, fault, answer, plain)

    def _stored_response(self, response_id: str) -> None:
        """`GET /v1/responses/{id}`: a response this provider gave (and stored), as OpenAI returns it."""
        stored = self.server.state.stored_response(response_id)
        if stored is None:
            message = f"Response with id '{response_id[:80]}' not found."
            return self._send_json(404, error_body(message, "invalid_request_error"))
        return self._send_json(200, stored)

    def _account_headers(self) -> dict[str, str]:
        """What OpenAI's API sends beside an answer (its account's organization and rate limits, its CDN's cookie),
        and with the forced fault `proxy-headers` what a proxy in front of it could add."""
        headers = dict(OPENAI_ACCOUNT_HEADERS)
        if self.server.state.next_forced() == "proxy-headers":
            headers.update(PROXY_HEADERS)
        return headers

    def _anthropic(self, method: str, path: str, body: Any, signed: bool = False) -> None:
        """Anthropic's API: `x-api-key` (or a bearer token, or on Bedrock a SigV4 signature), `anthropic-version`,
        its own error envelope."""
        key = self.headers.get("x-api-key") or self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if signed:
            key = "signed"
        if not key:
            return self._send_json(401, fake_apis.anthropic_error(401, "x-api-key header is required"))
        if key.startswith(INVALID_KEY_PREFIX):
            return self._send_json(401, fake_apis.anthropic_error(401))
        if not self.headers.get("anthropic-version"):
            return self._send_json(400, fake_apis.anthropic_error(400, "anthropic-version: header is required"))
        if method == "GET" and path == "/v1/models":
            return self._send_json(200, fake_apis.anthropic_models(), ANTHROPIC_ACCOUNT_HEADERS)
        if not isinstance(body, dict):
            return self._send_json(400, fake_apis.anthropic_error(400, "There was an issue with the request body."))
        if path == "/v1/messages/count_tokens":
            return self._send_json(200, fake_apis.count_message_tokens(body))
        if path != "/v1/messages":
            return self._send_json(404, fake_apis.anthropic_error(404, f"Not found: {path}"))
        for name in ("model", "max_tokens", "messages"):
            if body.get(name) is None:
                return self._send_json(400, fake_apis.anthropic_error(400, f"{name}: Field required"))
        fault = self.server.state.next_forced() or _fault_of(str(body["model"]))
        if fault and fault.startswith("error-"):
            status = int(fault[6:]) if fault[6:].isdigit() else 500
            headers = {"retry-after": "1"} if status in (429, 529) else None
            return self._send_json(status, fake_apis.anthropic_error(status), headers)
        if fault and self._apply_fault(fault, body):
            return None
        answer = fake_apis.MessagesAnswer(body)
        plain = answer.plain()
        if fault == "incomplete":
            plain["stop_reason"] = None
        return self._stream_or_plain(body, fault, answer, plain)

    def _passed_on_route(self, path: str, body: Any, raw: bytes) -> None:
        """Routes a gateway passes on uncached: moderations (JSON) and file uploads (multipart)."""
        if path == "/v1/moderations":
            if not isinstance(body, dict) or body.get("input") is None:
                return self._send_json(400, error_body("'input' is a required property", "invalid_request_error"))
            return self._send_json(200, fake_apis.moderation(body))
        uploaded = fake_apis.uploaded_file(self.headers.get("Content-Type", ""), raw)
        if uploaded is None:
            return self._send_json(
                400, error_body("Expected a multipart form with 'file' and 'purpose'.", "invalid_request_error")
            )
        return self._send_json(200, uploaded)


def _fault_of(model: str) -> str | None:
    return model[5:] if model.startswith("fake-") else None


def _millis(fault: str) -> int:
    tail = fault.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1000


# ----------------------------------------------------------------------------------------- handle


class FakeProvider:
    """A running fake provider: `.base_url` (ends in /v1), `.stats()`, `.reset()`, `.stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, quiet: bool = True, token_delay: float = 0.0) -> None:
        self.server = FakeProviderServer((host, port), quiet=quiet, token_delay=token_delay)
        self.host = host
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="fake-provider", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        return self.server.state.snapshot()

    def count(self, route: str = "POST /v1/chat/completions") -> int:
        return int(self.server.state.snapshot()["counts"].get(route, 0))

    def requests(self, route: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.server.state.snapshot()["requests"] if route is None or r["route"] == route]

    def reset(self) -> None:
        self.server.state.reset()

    def set_fault(self, fault: str, times: int = 1) -> None:
        """Make the next `times` model requests behave as `fake-<fault>`, whatever their model."""
        self.server.state.force(fault, times)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fake_provider(
    port: int = 0, host: str = "127.0.0.1", quiet: bool = True, token_delay: float = 0.0
) -> FakeProvider:
    """`token_delay`: seconds between the events of every stream, as a model writing tokens (0: at once)."""
    return FakeProvider(host=host, port=port, quiet=quiet, token_delay=token_delay)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m llmcache.local.fake_provider", description="An offline OpenAI-compatible provider."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--token-delay-ms", type=float, default=0.0, help="pause between stream events")
    args = parser.parse_args(argv)
    provider = start_fake_provider(
        port=args.port, host=args.host, quiet=not args.verbose, token_delay=args.token_delay_ms / 1000
    )
    print(f"fake OpenAI provider on {provider.base_url} ({OFFLINE_NOTICE})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
